import FERCore

/// The face detector the pipeline runs on every frame.
public enum Detector: Sendable {
    /// Viola–Jones with a Haar cascade.
    case haar(FaceDetector)
    /// No detection: the whole frame is one face (`--detector full-frame`, for inputs that are
    /// already face crops).
    case fullFrame

    public func detect(in image: GrayImage) -> [Box] {
        switch self {
        case .haar(let d):
            return d.detect(in: image)
        case .fullFrame:
            guard image.width > 0 && image.height > 0 else { return [] }
            return [Box(x: 0, y: 0, width: image.width, height: image.height)]
        }
    }
}
