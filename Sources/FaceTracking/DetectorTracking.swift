import FaceDetection
import FERCore

/// What the tracker needs to know of each detector; here, so that detection does not depend on tracking.
extension Detector {
    /// Tracker settings that suit this detector's false hits: Haar's strength is its window-hit
    /// density (real faces ≥ 4.5) and it fires now and then on texture, so a face must be seen 3
    /// times; YuNet's is its confidence, and a track opens from 0.6 after 2 sightings (weaker
    /// detections, from 0.3, only continue tracks); a full frame is always the face.
    public var trackerOptions: FaceTracker.Options {
        switch self {
        case .yunet: FaceTracker.Options(minHits: 2, minBirthStrength: 0.6)
        case .haar: FaceTracker.Options(minHits: 3, minBirthStrength: 4)
        case .fullFrame: FaceTracker.Options(minHits: 1)
        }
    }

    /// The detections of one still image (no tracker to confirm them): only those strong
    /// enough to open a track.
    public func confidentDetections(in image: GrayImage) throws -> [Detection] {
        let strongest = trackerOptions.minBirthStrength
        return try detections(in: image).filter { $0.strength >= strongest }
    }
}
