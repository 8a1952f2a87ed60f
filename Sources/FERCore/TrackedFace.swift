/// A face in one frame with the id of the track it belongs to.
public struct TrackedFace: Sendable, Equatable, CustomStringConvertible {
    /// Stable id from 1; reused only by the same face coming back (see `FaceTracker`).
    public var track: Int
    public var box: Box
    /// The detector's confidence (YuNet; nil for Haar and full-frame).
    public var confidence: Double?
    /// Five landmarks (YuNet): eyes, nose tip, mouth corners; empty otherwise.
    public var landmarks: [Point]

    public init(track: Int, box: Box, confidence: Double? = nil, landmarks: [Point] = []) {
        self.track = track
        self.box = box
        self.confidence = confidence
        self.landmarks = landmarks
    }

    public var description: String { "#\(track)\(box)" }
}
