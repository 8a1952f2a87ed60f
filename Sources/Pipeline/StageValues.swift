import FERCore

// The values that travel between the pipeline's stages, in frame order (see `Pipeline`).

/// A decoded frame on its way to detection, with when it was read and how many frames were
/// dropped just before it (real-time mode). `analyse` is false for frames passed along only to
/// be annotated (`every` > 1). `period`: the input's recent seconds per decoded frame.
struct Captured: Sendable {
    let frame: Frame
    let capturedAt: UInt64
    var skippedBefore: Int
    var analyse = true
    var period: Double
}

/// What a frame carries unchanged from detection to writing: which frame, when it was read, how
/// many were dropped before it, whether it is analysed (`every` > 1 passes others along only to be
/// annotated), and its colour picture when annotating.
struct FrameInfo: Sendable {
    let index: Int
    let time: Double
    let capturedAt: UInt64
    let skippedBefore: Int
    let analysed: Bool
    let picture: ColourPicture?
}

/// A frame after detection: its grey picture is no longer needed, only the 48×48 crops (which
/// keeps queued memory small for large frames).
struct Detected: Sendable {
    let info: FrameInfo
    let faces: [TrackedFace]
    let crops: [GrayImage]
    /// The input's recent seconds per analysed frame.
    let period: Double
    /// Seconds detection took on this frame (it shares the cores with the network).
    let detectSeconds: Double
}

/// A frame after classification: each face's probabilities (the mean over its test-time crops'
/// latest scores, see `TemporalEnsemble`), before smoothing.
struct Recognised: Sendable {
    let info: FrameInfo
    let faces: [TrackedFace]
    let probabilities: [[Float]]
}
