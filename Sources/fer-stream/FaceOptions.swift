import ArgumentParser
import FaceCrop
import FaceDetectorDNNL
import Pipeline

/// The options that find faces, shared by the stream and image commands.
struct FaceOptions: ParsableArguments {
    @Option(name: .customLong("min-face"), help: "Smallest face to detect, in pixels of the frame (yunet: down to about 20).")
    var minFace: Int = 40

    @Option(help: "Face detector: yunet (a CNN with landmarks), haar (Viola–Jones), or full-frame (the whole frame is one face).")
    var detector: String = "yunet"

    @Option(name: .customLong("detector-model"), help: "YuNet weights. Default: the bundled Models/yunet.safetensors (or $FER_STREAM_DETECTOR).")
    var detectorModel: String?

    @Option(help: "OpenCV Haar cascade XML for --detector haar.")
    var cascade: String = HaarCascade.defaultFrontalFacePath

    func validate() throws {
        guard minFace >= 8 else { throw ValidationError("--min-face must be ≥ 8 pixels, not \(minFace)") }
        guard ["yunet", "haar", "full-frame"].contains(detector) else {
            throw ValidationError("--detector must be yunet, haar or full-frame, not '\(detector)'")
        }
    }

    var isFullFrame: Bool { detector == "full-frame" }

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
            do {
                let network = try YuNetNetwork(path: detectorModel ?? Resources.defaultDetectorPath())
                return .yunet(YuNetDetector(runner: network, options: .init(minFaceSize: minFace)))
            } catch {
                throw .recognizer(error)
            }
        }
    }
}
