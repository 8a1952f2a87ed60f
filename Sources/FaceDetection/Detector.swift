import FERCore

/// The face detector the pipeline runs on every frame.
/// A detected face and how strongly the detector fired on it: for Viola–Jones, the raw window
/// hits merged into the box per cascade-window of box side. Real faces fire on many nearby
/// positions and scales, more the larger they are; background texture that passes the cascade
/// fires on few (measured on the default frontal cascade: faces 4.5–15, false hits 1–2.3).
///
/// A CNN detector (YuNet) also gives its confidence (0–1, also its `strength`) and five landmarks:
/// the eyes (the one on the image's left first), the nose tip, the mouth corners (left first).
public struct Detection: Sendable, Equatable {
    public var box: Box
    public var strength: Double
    public var confidence: Double?
    public var landmarks: [Point]

    public init(box: Box, strength: Double, confidence: Double? = nil, landmarks: [Point] = []) {
        self.box = box
        self.strength = strength
        self.confidence = confidence
        self.landmarks = landmarks
    }
}

public enum Detector: Sendable {
    /// YuNet, a CNN with landmarks (the default).
    case yunet(YuNetDetector)
    /// Viola–Jones with a Haar cascade.
    case haar(FaceDetector)
    /// No detection: the whole frame is one face (`--detector full-frame`, for inputs that are
    /// already face crops).
    case fullFrame

    public func detections(in image: GrayImage) throws -> [Detection] {
        switch self {
        case .yunet(let d):
            return try d.detections(in: image)
        case .haar(let d):
            return d.detections(in: image)
        case .fullFrame:
            return try detect(in: image).map { Detection(box: $0, strength: .infinity) }
        }
    }

    /// Faces near `boxes` only (see `FaceDetector.detections(in:near:)`); the whole frame for `fullFrame`.
    public func detections(in image: GrayImage, near boxes: [Box]) throws -> [Detection] {
        switch self {
        case .yunet(let d):
            return try d.detections(in: image, near: boxes)
        case .haar(let d):
            return d.detections(in: image, near: boxes)
        case .fullFrame:
            return try detections(in: image)
        }
    }

    public func detect(in image: GrayImage) throws -> [Box] {
        switch self {
        case .yunet(let d):
            return try d.detections(in: image).map(\.box)
        case .haar(let d):
            return d.detect(in: image)
        case .fullFrame:
            guard image.width > 0 && image.height > 0 else { return [] }
            return [Box(x: 0, y: 0, width: image.width, height: image.height)]
        }
    }
}
