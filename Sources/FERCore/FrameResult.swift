/// One face's outcome in one frame.
public struct FaceResult: Sendable, Equatable {
    public let track: Int
    public let box: Box
    /// Smoothed probabilities, in the order of the run's classes (the model's `LabelSet`).
    public let probs: [Float]
    /// This frame's own probabilities.
    public let raw: [Float]

    /// The detector's confidence (YuNet, 0–1); nil for detectors without one.
    public let confidence: Double?
    /// Five landmarks in frame pixels (YuNet): the eye on the image's left, the other eye, the
    /// nose tip, the mouth corner on the image's left, the other corner; empty otherwise.
    public let landmarks: [Point]

    /// The reported label: the smoothed probabilities' argmax, changed only as the label rule
    /// allows (see `LabelRule`): an index into the run's `LabelSet`.
    public let label: Int
    /// Seconds since the label last changed; nil where there is no history (still images).
    public let held: Double?

    /// `label` nil: the argmax of `probs`.
    public init(track: Int, box: Box, probs: [Float], raw: [Float], confidence: Double? = nil, landmarks: [Point] = [],
                label: Int? = nil, held: Double? = nil) {
        self.track = track; self.box = box; self.probs = probs; self.raw = raw
        self.confidence = confidence; self.landmarks = landmarks
        self.label = label ?? {
            var best = 0
            for k in probs.indices where probs[k] > probs[best] { best = k }
            return best
        }()
        self.held = held
    }

    /// The label's probability (NaN for a label outside `probs`).
    public var score: Float { probs.indices.contains(label) ? probs[label] : .nan }
}

/// One analysed frame: what the writers turn into a line.
public struct FrameResult: Sendable, Equatable {
    public let frame: Int
    public let time: Double
    public let faces: [FaceResult]
    /// The still image this result is for (`fer-stream image`); nil for video.
    public let file: String?
    /// Frames decoded since the previous line but not analysed because the recognizer was busy
    /// (real-time mode only; `--every` skips are not counted).
    public let skipped: Int
    /// The input it comes from, as given, when a run has several (nil with one input).
    public let source: String?

    public init(frame: Int, time: Double, faces: [FaceResult], file: String? = nil, skipped: Int = 0, source: String? = nil) {
        self.frame = frame; self.time = time; self.faces = faces; self.file = file; self.skipped = skipped; self.source = source
    }
}
