import FaceCrop
import FaceDetection
import FaceTracking
import FERCore
import Foundation
import FrameSource
import Pipeline
import Output
import Recognizer
import Synchronization

/// Per-face emotion labels from one video input, in-process: the whole pipeline (decode, find and
/// track faces, classify, smooth) behind one value.
///
/// ```swift
/// let stream = try EmotionStream("clip.mp4")
/// for try await frame in stream.results() {
///     for face in frame.faces { print(frame.time, face.track, stream.labels.name(at: face.label)) }
/// }
/// ```
///
/// Opening loads the model and the detector and opens the input, so that a bad model or input
/// fails at once with a one-line `FERStreamError`. A stream runs once: either `run(writer:)`
/// (blocking, with the command line's writers) or `results()` (an `AsyncSequence`). `stop()`
/// ends it early from any thread; frames already read are finished first.
public final class EmotionStream: Sendable {
    /// The input as given (a path, `-`, a URL, `v4l2:/dev/videoN`), or the name given to frames.
    public let input: String
    /// The model's classes: `FaceResult.label` indexes them.
    public let labels: LabelSet
    /// Cameras and streaming protocols: frames come at their own pace.
    public let isLive: Bool
    public let frameRate: Double?
    /// Frames in the input, when the container says (files).
    public let estimatedFrameCount: Int?
    /// The pipeline's options as given (`StreamOptions.pipeline`); what the run settles on where
    /// they leave a choice to the detector or the input is `realtime` and the pipeline's `tracker`.
    public let pipelineOptions: PipelineOptions
    /// Whether the run keeps up with the source, skipping frames when busy: as chosen, else on
    /// for live inputs.
    public var realtime: Bool { pipelineOptions.realtime ?? isLive }

    /// The recognizer service (shared with other streams, or this stream's own), the detector and the cropper.
    public let models: SharedModels
    private let source: any FrameProducer
    private struct RunState {
        var started = false
        var pipeline: Pipeline?
    }
    private let state = Mutex(RunState())

    /// Opens `input`: a file, `-` (stdin), any URL FFmpeg reads, or `v4l2:/dev/videoN`. A live
    /// input is reconnected after failures (`options.reconnect`). `models`: the network and
    /// detector shared with other streams of the same process (loaded from `options` when nil).
    public convenience init(_ input: String, options: StreamOptions = .init(), models: SharedModels? = nil) throws(FERStreamError) {
        let models = try SharedModels.given(models, options: options)
        let sourceOptions = options.sourceOptions(for: input)
        let first: VideoSource
        do { first = try VideoSource(input, options: sourceOptions) } catch { throw FERStreamError(error) }
        var source: any FrameProducer = first
        if first.isLive && options.reconnect > 0 {
            let log = options.log
            // Only the wrapper holds the source, so a reconnect can close it (and free its port) first.
            source = ReconnectingSource(first: first, maxAttempts: options.reconnect, log: { log("\(input): \($0)") },
                                        open: { try VideoSource(input, options: sourceOptions) })
        }
        self.init(input: input, source: source, isLive: first.isLive, frameRate: first.frameRate,
                  estimatedFrameCount: first.estimatedFrameCount, models: models, options: options)
    }

    /// Frames the caller supplies (a camera API, generated pictures): `name` stands for the input in messages.
    public convenience init(frames: any FrameProducer, name: String = "frames", frameRate: Double? = nil,
                            options: StreamOptions = .init(), models: SharedModels? = nil) throws(FERStreamError) {
        let models = try SharedModels.given(models, options: options)
        self.init(input: name, source: frames, isLive: frames.isLive, frameRate: frameRate, estimatedFrameCount: nil,
                  models: models, options: options)
    }

    private init(input: String, source: any FrameProducer, isLive: Bool, frameRate: Double?, estimatedFrameCount: Int?,
                 models: SharedModels, options: StreamOptions) {
        self.input = input
        self.source = source
        self.isLive = isLive
        self.frameRate = frameRate
        self.estimatedFrameCount = estimatedFrameCount
        self.models = models
        labels = models.labels
        pipelineOptions = options.pipeline
    }

    /// Runs to the end of the input (or `stop()`), handing each analysed frame to `writer` in
    /// order, and each picture to `annotator` if given. Everything written before a failure stays
    /// written. Blocks: call it from a thread of your own, or use `results()`.
    /// `progress` and `periodicStats`, when given, replace the options' own.
    public func run(writer: any ResultWriter, annotator: (any FrameAnnotator)? = nil, progress: (any FrameProgress)? = nil,
                    periodicStats: (@Sendable (PipelineStats) -> Void)? = nil) throws(FERStreamError) -> PipelineStats {
        try run(sinks: [WriterSink(writer)] + (annotator.map { [AnnotatorSink($0)] } ?? []), progress: progress, periodicStats: periodicStats)
    }

    /// Runs to the end of the input (or `stop()`), handing each frame to every sink (see
    /// `FrameSink`: a writer, an annotated video, a publisher). Blocks, as `run(writer:)`.
    public func run(sinks: [any FrameSink], tagsSource: Bool = false, progress: (any FrameProgress)? = nil,
                    periodicStats: (@Sendable (PipelineStats) -> Void)? = nil) throws(FERStreamError) -> PipelineStats {
        var options = pipelineOptions
        options.tagsSource = tagsSource
        if let progress { options.progress = progress }
        if let periodicStats { options.periodicStats = periodicStats }
        let client = models.service.client()
        defer { client.close() }
        // The cheap network only where real time's budget may fall back to it.
        let fast = realtime && options.cropsPerFace == .auto ? try models.fastService()?.client() : nil
        defer { fast?.close() }
        let pipeline = Pipeline(source: source, name: SourceName(input), detector: models.detector, cropper: models.cropper,
                                classifier: client, fast: fast, sinks: sinks, options: options)
        let first = state.withLock { s in
            defer { s.started = true }
            if !s.started { s.pipeline = pipeline }
            return !s.started
        }
        guard first else { throw .unexpected("\(input): a stream runs once; open it again to read it again") }
        return try pipeline.run()
    }

    /// The analysed frames as they come, in order. The run starts on a thread of its own when
    /// iteration begins; a consumer that falls behind holds it back (at most `buffer` results wait),
    /// and ending the iteration early or cancelling its task stops the run.
    public func results(buffer: Int = 8) -> FrameResults {
        FrameResults(stream: self, capacity: max(1, buffer))
    }

    /// Stops reading; frames already read are finished. Safe from any thread, also a signal handler's queue.
    public func stop() {
        source.cancel()
    }

    /// What the run has done so far (nil before it starts): frames, skips, latencies, sinks (a live view's stats).
    public var statsSoFar: PipelineStats? {
        state.withLock { $0.pipeline }?.statsSoFar
    }

    /// Per track, time on screen and class shares of what was produced (complete after the run).
    public var summary: TrackSummary {
        state.withLock { $0.pipeline?.summary } ?? TrackSummary(labels: labels)
    }
}

/// The models a process loads once and shares among its streams: the network behind one
/// `RecognizerService` (one thread owns it; every stream's crops batch together), in real time
/// the cheap network behind a second one, the face detector (its network takes one caller at a
/// time) and the cropper.
public final class SharedModels: Sendable {
    public let service: RecognizerService
    private let options: RecognizerOptions
    private let batch: Int
    /// The cheap network: looked for and loaded by the first real-time stream (a file run never
    /// needs it, so a missing one must not fail it), then shared.
    private enum Fast { case notLoaded, loaded(RecognizerService?) }
    private let fast = Mutex(Fast.notLoaded)
    public let detector: Detector
    public let cropper: FaceCropper
    public var labels: LabelSet { service.labels }

    /// `models`, else loaded from `options`.
    static func given(_ models: SharedModels?, options: StreamOptions) throws(FERStreamError) -> SharedModels {
        if let models { return models }
        return try SharedModels(options: options)
    }

    /// Loads the model and the detector; a bad one fails here with one line naming its file.
    public init(options: StreamOptions) throws(FERStreamError) {
        let recognizer = try options.recognizer.makeRecognizer()
        detector = try options.faces.makeDetector()
        cropper = options.faces.cropper
        self.options = options.recognizer
        batch = max(1, options.pipeline.batch)
        service = RecognizerService(recognizer, options: Self.serviceOptions(batch: batch))
        // Asked for real time: a missing or bad cheap network fails here, before any output is touched.
        if options.pipeline.realtime == true { _ = try fastService() }
    }

    private static func serviceOptions(batch: Int) -> RecognizerService.Options {
        var o = RecognizerService.Options()
        o.maxCrops = batch
        return o
    }

    /// The cheap network's service (loaded on first use, then shared by every stream), or nil for
    /// none (`RecognizerOptions.FastModel`). Its classes and crop set must be the model's: their
    /// scores are mixed per face.
    public func fastService() throws(FERStreamError) -> RecognizerService? {
        try fast.withLock { (state: inout Fast) throws(FERStreamError) -> RecognizerService? in
            if case .loaded(let service) = state { return service }
            guard let path = try options.fastModelPath() else {
                state = .loaded(nil)
                return nil
            }
            let recognizer = try options.makeRecognizer(path: path)
            guard recognizer.labels == service.labels, recognizer.cropSpecs.count == service.cropSpecs.count else {
                throw .recognizer(.incompatibleModel(path: path, reason: "the cheap network's classes (\(recognizer.labels.names.joined(separator: ","))) must be the model's (\(service.labels.names.joined(separator: ",")))"))
            }
            let s = RecognizerService(recognizer, options: Self.serviceOptions(batch: batch))
            state = .loaded(s)
            return s
        }
    }
}
