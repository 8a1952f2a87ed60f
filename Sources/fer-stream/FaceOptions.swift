import ArgumentParser
import FaceCrop
import FaceDetectorDNNL
import Pipeline

/// The options that find faces, shared by the stream and image commands.
struct FaceOptions: ParsableArguments {
    @Option(name: .customLong("min-face"), help: "Smallest face to detect, in pixels of the frame (yunet: down to about 24).")
    var minFace: Int = 40

    @Option(help: "Face detector: yunet (a CNN with landmarks), haar (Viola–Jones), or full-frame (the whole frame is one face).")
    var detector: String = "yunet"

    @Option(name: .customLong("detector-model"), help: "YuNet weights. Default: the bundled Models/yunet.safetensors (or $FER_STREAM_DETECTOR).")
    var detectorModel: String?

    @Option(help: ArgumentHelp("Framing of the face crop when the detector gives landmarks: SCALE,CENTRE (the side in eye–mouth distances, the centre's place from the eyes to the mouth; default 3,0.4), or box (the box's square, as without landmarks).", valueName: "framing"))
    var framing: String?

    @Option(help: "OpenCV Haar cascade XML for --detector haar.")
    var cascade: String = HaarCascade.defaultFrontalFacePath

    func validate() throws {
        guard minFace >= 8 else { throw ValidationError("--min-face must be ≥ 8 pixels, not \(minFace)") }
        guard ["yunet", "haar", "full-frame"].contains(detector) else {
            throw ValidationError("--detector must be yunet, haar or full-frame, not '\(detector)'")
        }
        if let framing, Self.parseFraming(framing) == nil {
            throw ValidationError("--framing must be SCALE,CENTRE (e.g. 3,0.4) or box, not '\(framing)'")
        }
    }

    var isFullFrame: Bool { detector == "full-frame" }

    /// nil: invalid; .some(nil): box-based crops.
    static func parseFraming(_ text: String) -> FaceCropper.Alignment?? {
        if text == "box" { return .some(nil) }
        let parts = text.split(separator: ",").compactMap { Double($0) }
        guard parts.count == 2, parts[0] > 0, parts[0] < 10, parts[1] > -1, parts[1] < 2 else { return nil }
        return .some(FaceCropper.Alignment(scale: parts[0], centre: parts[1]))
    }

    /// The face cropper `--framing` asks for.
    var cropper: FaceCropper {
        var c = FaceCropper()
        if let framing, let alignment = Self.parseFraming(framing) { c.alignment = alignment }
        return c
    }

    /// The detector; `detectionWidth` sets Haar's working width (nil: FaceDetector's default,
    /// 320 px, for video).
    func makeDetector(detectionWidth: Int? = nil) throws(PipelineError) -> Detector {
        switch detector {
        case "full-frame":
            return .fullFrame
        case "haar":
            do {
                var options = FaceDetector.Options()
                options.minFaceSize = minFace
                if let detectionWidth { options.detectionWidth = detectionWidth }
                return .haar(FaceDetector(cascade: try HaarCascade(contentsOfFile: cascade), options: options))
            } catch {
                throw PipelineError(error)
            }
        default:
            var path = detectorModel ?? ""
            if detectorModel == nil {
                do throws(Resources.NotFound) { path = try Resources.defaultDetectorPath() } catch { throw .resource(error) }
            }
            do {
                let network = try YuNetNetwork(path: path)
                return .yunet(YuNetDetector(runner: network, options: .init(minFaceSize: minFace)))
            } catch {
                throw .recognizer(error)
            }
        }
    }
}
