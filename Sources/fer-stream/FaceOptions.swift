import ArgumentParser
import FaceCrop
import Pipeline

/// The options that find faces, shared by the stream and image commands.
struct FaceOptions: ParsableArguments {
    @Option(name: .customLong("min-face"), help: "Smallest face to detect, in pixels of the frame.")
    var minFace: Int = 40

    @Option(help: "OpenCV Haar cascade XML for face detection.")
    var cascade: String = HaarCascade.defaultFrontalFacePath

    @Option(help: "Face detector: haar, or full-frame (the whole frame is one face).")
    var detector: String = "haar"

    func validate() throws {
        guard minFace >= 8 else { throw ValidationError("--min-face must be ≥ 8 pixels, not \(minFace)") }
        guard ["haar", "full-frame"].contains(detector) else { throw ValidationError("--detector must be haar or full-frame, not '\(detector)'") }
    }

    var isFullFrame: Bool { detector == "full-frame" }

    /// The detector; `detectionWidth` nil keeps FaceDetector's default (320 px, for video).
    func makeDetector(detectionWidth: Int? = nil) throws(PipelineError) -> Detector {
        if isFullFrame { return .fullFrame }
        do {
            var options = FaceDetector.Options()
            options.minFaceSize = minFace
            if let detectionWidth { options.detectionWidth = detectionWidth }
            return .haar(FaceDetector(cascade: try HaarCascade(contentsOfFile: cascade), options: options))
        } catch {
            throw PipelineError(error)
        }
    }
}
