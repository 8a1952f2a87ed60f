import FERCore

/// Per track: how long it was on screen and the share of its analysed frames spent in each
/// (smoothed) class of the run's `LabelSet`. Fed by the writer stage, one frame result at a time.
public struct TrackSummary: Sendable {
    public struct Track: Sendable, Equatable {
        public let track: Int
        public var firstSeen: Double
        public var lastSeen: Double
        public var frames = 0
        /// Analysed frames per label, in the order of the run's classes.
        public var labelFrames: [Int]

        public init(track: Int, firstSeen: Double, lastSeen: Double, classes: Int = Emotion.count) {
            self.track = track; self.firstSeen = firstSeen; self.lastSeen = lastSeen
            labelFrames = [Int](repeating: 0, count: classes)
        }

        /// Share of the track's frames per label.
        public var shares: [Double] { labelFrames.map { frames > 0 ? Double($0) / Double(frames) : 0 } }
        /// The index of the class with the most frames (the first of equals).
        public var dominant: Int { labelFrames.indices.max { labelFrames[$0] < labelFrames[$1] } ?? 0 }
    }

    /// The run's classes: the names in `text` and `json`.
    public let labels: LabelSet
    private var tracks: [Int: Track] = [:]
    /// Smoothed probabilities over time per track, kept only when `keepsSeries` (for a timeline).
    public private(set) var series: [Int: (times: [Double], values: [[Float]])] = [:]
    public var keepsSeries = false
    private var lastTime = 0.0
    private var previousTime: Double?
    /// Median-free estimate of one analysed frame's duration: the smallest positive step seen.
    private var step = Double.infinity

    public init(labels: LabelSet = .fer2013) {
        self.labels = labels
    }

    public mutating func add(_ result: FrameResult) {
        if let p = previousTime, result.time > p { step = min(step, result.time - p) }
        previousTime = result.time
        lastTime = max(lastTime, result.time)
        for face in result.faces {
            var t = tracks[face.track] ?? Track(track: face.track, firstSeen: result.time, lastSeen: result.time, classes: labels.count)
            t.lastSeen = result.time
            t.frames += 1
            if t.labelFrames.indices.contains(face.label) { t.labelFrames[face.label] += 1 }
            tracks[face.track] = t
            if keepsSeries {
                series[face.track, default: ([], [])].times.append(result.time)
                series[face.track, default: ([], [])].values.append(face.probs)
            }
        }
    }

    public var all: [Track] { tracks.values.sorted { $0.track < $1.track } }

    /// Seconds a track was on screen: its analysed frames × one frame's duration.
    public func seconds(_ t: Track) -> Double { step.isFinite ? Double(t.frames) * step : 0 }
}
