import FERCore

// The JSON the command line writes, as Codable values: what a program reading fer-stream's
// output (or the FERStream library's results) decodes. The writers stay hand-written for speed;
// tests hold each writer's text to these types (decoded, it equals the record made directly).

/// `10^digits`-rounded, as the writers print it (so a record equals its decoded line).
@inline(__always)
func rounded(_ x: Double, _ digits: Int) -> Double? {
    guard x.isFinite else { return nil }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    return (x * scale).rounded() / scale
}

/// One NDJSON line: one analysed frame (`fer-stream`, `image`).
public struct FrameRecord: Codable, Sendable, Equatable {
    public var file: String?
    public var frame: Int
    /// Seconds from the start of the input.
    public var t: Double?
    /// Frames dropped before this one in real-time mode (absent when none).
    public var skipped: Int?
    public var faces: [Face]

    public struct Face: Codable, Sendable, Equatable {
        public var track: Int
        /// x, y, width, height in frame pixels.
        public var box: [Int]
        public var confidence: Double?
        /// Five [x, y] points (YuNet): eyes, nose tip, mouth corners.
        public var landmarks: [[Double?]]?
        /// The class name (the model's).
        public var label: String
        /// The label's smoothed probability; nil where it is not a number.
        public var score: Double?
        /// Seconds since the label last changed.
        public var held: Double?
        /// Smoothed and this frame's probabilities by class name (nil: not a number).
        public var probs: [String: Double?]
        public var raw: [String: Double?]
    }

    public init(file: String? = nil, frame: Int, t: Double?, skipped: Int? = nil, faces: [Face]) {
        self.file = file; self.frame = frame; self.t = t; self.skipped = skipped; self.faces = faces
    }

    /// The record of `result` as the NDJSON writer prints it, with `labels` naming the classes.
    public init(_ result: FrameResult, labels: LabelSet) {
        func named(_ p: [Float]) -> [String: Double?] {
            Dictionary(uniqueKeysWithValues: labels.names.enumerated().map { k, name in
                (name, k < p.count ? rounded(Double(p[k]), 4) : nil)
            })
        }
        self.init(file: result.file, frame: result.frame, t: rounded(result.time, 6),
                  skipped: result.skipped > 0 ? result.skipped : nil,
                  faces: result.faces.map { f in
                      Face(track: f.track, box: [f.box.x, f.box.y, f.box.width, f.box.height],
                           confidence: f.confidence.flatMap { rounded($0, 4) },
                           landmarks: f.landmarks.isEmpty ? nil : f.landmarks.map { [rounded($0.x, 1), rounded($0.y, 1)] },
                           label: labels.name(at: f.label), score: rounded(Double(f.score), 4),
                           held: f.held.flatMap { rounded($0, 3) }, probs: named(f.probs), raw: named(f.raw))
                  })
    }
}

/// `--stats`: what a run did (`PipelineStats.json`).
public struct StatsRecord: Codable, Sendable, Equatable {
    public var frames_decoded: Int
    public var frames_analysed: Int
    public var faces: Int
    public var crops: Int
    public var network_calls: Int
    public var wall_s: Double?
    public var frames_per_s: Double?
    /// Busy seconds per stage.
    public var busy_s: [String: Double?]
    public var skipped: Int
    /// Capture-to-output latency: p50, p95, max.
    public var latency_ms: [String: Double?]

    public init(_ s: PipelineStats) {
        frames_decoded = s.framesDecoded; frames_analysed = s.framesAnalysed; faces = s.faces; crops = s.crops
        network_calls = s.networkCalls
        wall_s = rounded(s.wallSeconds, 3)
        frames_per_s = rounded(s.wallSeconds > 0 ? Double(s.framesDecoded) / s.wallSeconds : 0, 2)
        busy_s = ["decode": rounded(s.decodeSeconds, 3), "detect": rounded(s.detectSeconds, 3), "recognise": rounded(s.recogniseSeconds, 3),
                  "write": rounded(s.writeSeconds, 3), "annotate": rounded(s.annotateSeconds, 3)]
        skipped = s.framesSkipped
        latency_ms = ["p50": rounded(s.latencyPercentile(50), 1), "p95": rounded(s.latencyPercentile(95), 1),
                      "max": rounded(s.recentLatenciesMs.max() ?? 0, 1)]
    }
}

/// `--summary-json`: per face track, time on screen and the share of time in each class.
public struct SummaryRecord: Codable, Sendable, Equatable {
    public struct Track: Codable, Sendable, Equatable {
        public var track: Int
        public var seconds: Double?
        public var first: Double?
        public var last: Double?
        public var frames: Int
        public var dominant: String
        public var shares: [String: Double?]
    }
    public var tracks: [Track]

    public init(_ s: TrackSummary) {
        tracks = s.all.map { t in
            Track(track: t.track, seconds: rounded(s.seconds(t), 3), first: rounded(t.firstSeen, 3), last: rounded(t.lastSeen, 3),
                  frames: t.frames, dominant: s.labels.name(at: t.dominant),
                  shares: Dictionary(uniqueKeysWithValues: t.shares.indices.map { (s.labels.name(at: $0), rounded(t.shares[$0], 4)) }))
        }
    }
}
