import FaceCrop
import FaceDetection
import FaceDetectorDNNL
import Foundation
import Pipeline
import Recognizer
import RecognizerDNNL

/// Which network classifies the faces, and how it runs.
public struct RecognizerOptions: Sendable {
    /// Model weights (.safetensors, a VGG19 or a ResNet18 export); nil: `$FER_STREAM_MODEL`, else
    /// the bundled `vgg19-ferplus.safetensors` (see `Resources`).
    public var model: String?
    public var engine: EngineKind = .auto
    public var precision: Precision = .auto
    /// Threads for decoding and the network (0: all cores).
    public var threads = 0
    /// Test-time augmentation: 10 crops (the default), the centre and its mirror, or the centre.
    public var tta: TestTimeAugmentation = .tenCrop
    /// The cheap network real time falls back to before skipping frames (`CropBudget`).
    public var fastModel = FastModel.auto

    /// Which cheap network real time uses when even one crop per face of the model does not fit.
    public enum FastModel: Sendable, Equatable {
        /// The bundled student (`$FER_STREAM_FAST_MODEL`, else `Resources.fastModelFileName`),
        /// only with the default model: a model named by `model` or `$FER_STREAM_MODEL` runs alone.
        case auto
        /// None: real time skips frames once one crop per face of the model does not fit.
        case none
        /// This file, with whatever model.
        case file(String)
    }

    public init() {}

    /// The cheap network's file for real time, or nil for none (see `FastModel`).
    public func fastModelPath(environment: [String: String] = ProcessInfo.processInfo.environment) throws(PipelineError) -> String? {
        switch fastModel {
        case .none: return nil
        case .file(let path): return path
        case .auto:
            guard model == nil, (environment["FER_STREAM_MODEL"] ?? "").isEmpty else { return nil }
            do { return try Resources.defaultFastModelPath(environment: environment) } catch {
                throw .unexpected(error.description(remedy: "name the cheap network (--fast-model FILE), turn it off (--fast-model none) or set FER_STREAM_FAST_MODEL"))
            }
        }
    }

    public var threadCount: Int { threads == 0 ? ProcessInfo.processInfo.activeProcessorCount : threads }

    /// The model to load: `model`, else the bundled one.
    public func modelPath() throws(PipelineError) -> String {
        if let model { return model }
        do { return try Resources.defaultModelPath() } catch { throw .resource(error) }
    }

    /// Loads the weights and builds the engine; failures are one line naming the model file.
    public func loadNetwork() throws(PipelineError) -> (NetworkWeights, any InferenceEngine) {
        try loadNetwork(path: try modelPath())
    }

    /// Loads the weights at `path` and builds the engine the options choose.
    public func loadNetwork(path: String) throws(PipelineError) -> (NetworkWeights, any InferenceEngine) {
        do {
            let weights = try NetworkWeights.load(path: path)
            let network = try Engines.make(weights: weights, kind: engine, precision: precision, threads: threadCount, modelPath: path)
            return (weights, network)
        } catch {
            throw .recognizer(error)
        }
    }

    /// The recognizer: weights, engine and test-time crops.
    public func makeRecognizer() throws(PipelineError) -> Recognizer {
        try makeRecognizer(path: try modelPath())
    }

    /// The recognizer of the model at `path` (e.g. the cheap network), named after its file.
    public func makeRecognizer(path: String) throws(PipelineError) -> Recognizer {
        let (weights, engine) = try loadNetwork(path: path)
        return Recognizer(weights: weights, engine: engine, tta: tta, name: Self.networkName(path: path))
    }

    /// A model file's name without its folder and `.safetensors`: what `--stats` calls the network.
    public static func networkName(path: String) -> String {
        let file = path.split(separator: "/").last.map(String.init) ?? path
        return file.hasSuffix(".safetensors") ? String(file.dropLast(".safetensors".count)) : file
    }
}

/// Which face detector runs, and how faces are cut out.
public struct DetectorOptions: Sendable {
    public enum Kind: String, CaseIterable, Sendable {
        /// YuNet, a CNN with five landmarks (the default).
        case yunet
        /// Viola–Jones with an OpenCV Haar cascade.
        case haar
        /// No detection: the whole frame is one face (pre-cropped input).
        case fullFrame = "full-frame"
    }

    public var kind: Kind = .yunet
    /// Smallest face to detect, in frame pixels.
    public var minFaceSize = 40
    /// YuNet weights; nil: `$FER_STREAM_DETECTOR`, else the bundled `yunet.safetensors`.
    public var model: String?
    /// The cascade for `.haar`.
    public var cascade = HaarCascade.defaultFrontalFacePath
    /// How a face with landmarks is framed (nil: the box's square).
    public var alignment: FaceCropper.Alignment? = FaceCropper().alignment

    public init() {}

    public var cropper: FaceCropper { FaceCropper(alignment: alignment) }

    /// The detector; `detectionWidth` sets Haar's working width (nil: its default, 320 px, for video).
    public func makeDetector(detectionWidth: Int? = nil) throws(PipelineError) -> Detector {
        switch kind {
        case .fullFrame:
            return .fullFrame
        case .haar:
            do {
                var options = FaceDetector.Options()
                options.minFaceSize = minFaceSize
                if let detectionWidth { options.detectionWidth = detectionWidth }
                return .haar(FaceDetector(cascade: try HaarCascade(contentsOfFile: cascade), options: options))
            } catch {
                throw PipelineError(error)
            }
        case .yunet:
            let path: String
            if let model { path = model } else {
                do throws(ResourceNotFound) { path = try Resources.defaultDetectorPath() } catch { throw .resource(error) }
            }
            do {
                let network = try YuNetNetwork(path: path)
                return .yunet(YuNetDetector(runner: network, options: .init(minFaceSize: minFaceSize)))
            } catch {
                throw .detector(error)
            }
        }
    }
}

/// Everything a run takes, as the command line has it.
public struct StreamOptions: Sendable {
    public enum RTSPTransport: String, CaseIterable, Sendable { case tcp, udp }

    public var recognizer = RecognizerOptions()
    public var faces = DetectorOptions()
    /// Frames, batching, crops, smoothing, label rule, the tracker, real time, stats. Its
    /// `tracker` and `realtime`, left nil, become the detector's and the input's own when the
    /// pipeline is made (`Pipeline.tracker`, `Pipeline.realtime`).
    public var pipeline = PipelineOptions()
    /// Live inputs: reconnect tries, with back-off, after the stream fails or ends (0: off).
    public var reconnect = 5
    /// Seconds before opening or reading a network input gives up; nil: 10 for network inputs.
    public var timeout: Double?
    public var rtspTransport = RTSPTransport.tcp
    /// Camera settings (v4l2): frame size ("640x480"), rate ("30"), pixel format ("mjpeg").
    public var videoSize: String?
    public var framerate: String?
    public var inputFormat: String?
    /// Keep each frame's colour picture (needed to annotate a video).
    public var keepsColour = false
    /// Where reconnect messages go (e.g. stderr); nowhere by default.
    public var log: @Sendable (String) -> Void = { _ in }

    public init() {}

    /// The source options for `input`: time-outs for network inputs, the RTSP transport, camera settings.
    public func sourceOptions(for input: String) -> SourceOptions {
        var o = SourceOptions()
        o.threads = recognizer.threads
        let timeout = self.timeout ?? (InputKind.isNetwork(input) ? 10 : nil)
        o.ioTimeout = timeout
        if let timeout {
            // Protocol-level read timeouts (µs): FFmpeg's UDP and RTSP reads wait on their own.
            let micros = String(Int(timeout * 1e6))
            o.formatOptions["rw_timeout"] = micros
            if let s = InputKind.scheme(of: input), InputKind.schemesWithTimeoutOption.contains(s) {
                o.formatOptions["timeout"] = micros
            }
        }
        if let s = InputKind.scheme(of: input), s == "rtsp" || s == "rtsps" { o.formatOptions["rtsp_transport"] = rtspTransport.rawValue }
        if let videoSize { o.formatOptions["video_size"] = videoSize }
        if let framerate { o.formatOptions["framerate"] = framerate }
        if let inputFormat { o.formatOptions["input_format"] = inputFormat }
        o.keepsColour = keepsColour
        return o
    }
}
