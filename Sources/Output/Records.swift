import FERCore
import Pipeline

// The JSON the command line writes, as Codable values: what a program reading fer-stream's
// output (or the FERStream library's results) decodes. Stats and summary are written through
// these types (`JSONRecord.json`). The per-frame NDJSON and CSV writers stay hand-written: they
// keep the model's class order and the fixed-point numbers of every earlier release, which
// JSONEncoder cannot (it sorts keys and writes `1` for `1.0`), and NDJSON is ~5× faster than
// JSONEncoder on `FrameRecord` (benchmarks/record_writers.sh). RecordTests hold each NDJSON line
// and CSV row to its `FrameRecord`.

/// One NDJSON line: one analysed frame (`fer-stream`, `image`).
public struct FrameRecord: Codable, Sendable, Equatable {
    /// The input, in runs with several.
    public var source: String?
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

    public init(source: String? = nil, file: String? = nil, frame: Int, t: Double?, skipped: Int? = nil, faces: [Face]) {
        self.source = source; self.file = file; self.frame = frame; self.t = t; self.skipped = skipped; self.faces = faces
    }

    /// The record of `result` as the NDJSON writer prints it, with `labels` naming the classes.
    public init(_ result: FrameResult, labels: LabelSet) {
        func named(_ p: [Float]) -> [String: Double?] {
            Dictionary(uniqueKeysWithValues: labels.names.enumerated().map { k, name in
                (name, k < p.count ? roundedOrNil(Double(p[k]), 4) : nil)
            })
        }
        self.init(source: result.source, file: result.file, frame: result.frame, t: roundedOrNil(result.time, 6),
                  skipped: result.skipped > 0 ? result.skipped : nil,
                  faces: result.faces.map { f in
                      Face(track: f.track, box: [f.box.x, f.box.y, f.box.width, f.box.height],
                           confidence: f.confidence.flatMap { roundedOrNil($0, 4) },
                           landmarks: f.landmarks.isEmpty ? nil : f.landmarks.map { [roundedOrNil($0.x, 1), roundedOrNil($0.y, 1)] },
                           label: labels.name(at: f.label), score: roundedOrNil(Double(f.score), 4),
                           held: f.held.flatMap { roundedOrNil($0, 3) }, probs: named(f.probs), raw: named(f.raw))
                  })
    }
}

/// `--stats`: what a run did (`PipelineStats.json`).
public struct StatsRecord: JSONRecord, Codable, Sendable, Equatable {
    public var frames_decoded: Int
    public var frames_analysed: Int
    public var faces: Int
    public var crops: Int
    /// Crops each network scored, by name (e.g. `{"vgg19-ferplus": N, "student-ferplus": M}` in
    /// real time with the ladder); absent when nothing was scored.
    public var crops_by_network: [String: Int]?
    /// Mean test-time crops per face and analysed frame (see `CropsPerFace`).
    @Nullable public var crops_per_face: Double?
    public var network_calls: Int
    @Nullable public var wall_s: Double?
    @Nullable public var frames_per_s: Double?
    /// Busy seconds per stage, and (`warmup`) warming the networks up before the first frame in
    /// real time.
    public var busy_s: [String: Double?]
    public var skipped: Int
    /// Capture-to-output latency: p50, p95, max.
    public var latency_ms: [String: Double?]
    /// The input these stats are for (absent in the total of a run with several).
    public var source: String?
    /// In the total of a run with several inputs: how many.
    public var sources: Int?
    /// Frames or messages each sink that may drop lost (absent when no sink may drop).
    public var dropped: [String: Int]?

    public init(_ s: PipelineStats) {
        frames_decoded = s.framesDecoded; frames_analysed = s.framesAnalysed; faces = s.faces; crops = s.crops
        crops_by_network = s.cropsByNetwork.isEmpty ? nil : s.cropsByNetwork
        crops_per_face = roundedOrNil(s.meanCropsPerFace, 2)
        network_calls = s.networkCalls
        wall_s = roundedOrNil(s.wallSeconds, 3)
        frames_per_s = roundedOrNil(s.wallSeconds > 0 ? Double(s.framesDecoded) / s.wallSeconds : 0, 2)
        busy_s = ["decode": roundedOrNil(s.decodeSeconds, 3), "detect": roundedOrNil(s.detectSeconds, 3), "recognise": roundedOrNil(s.recogniseSeconds, 3),
                  "write": roundedOrNil(s.writeSeconds, 3), "annotate": roundedOrNil(s.annotateSeconds, 3), "warmup": roundedOrNil(s.warmUpSeconds, 3)]
        skipped = s.framesSkipped
        latency_ms = ["p50": roundedOrNil(s.latencyPercentile(50), 1), "p95": roundedOrNil(s.latencyPercentile(95), 1),
                      "max": roundedOrNil(s.recentLatenciesMs.max() ?? 0, 1)]
        source = s.source
        sources = s.sourceCount
        let lossy = s.sinks.filter(\.mayDrop)
        dropped = lossy.isEmpty ? nil : Dictionary(lossy.map { ($0.name, $0.dropped) }, uniquingKeysWith: +)
    }
}

/// `--summary-json`: per face track, time on screen and the share of time in each class.
public struct SummaryRecord: JSONRecord, Codable, Sendable, Equatable {
    public struct Track: Codable, Sendable, Equatable {
        public var track: Int
        @Nullable public var seconds: Double?
        @Nullable public var first: Double?
        @Nullable public var last: Double?
        public var frames: Int
        public var dominant: String
        public var shares: [String: Double?]
    }
    public var tracks: [Track]

    public init(_ s: TrackSummary) {
        tracks = s.all.map { t in
            Track(track: t.track, seconds: roundedOrNil(s.seconds(t), 3), first: roundedOrNil(t.firstSeen, 3), last: roundedOrNil(t.lastSeen, 3),
                  frames: t.frames, dominant: s.labels.name(at: t.dominant),
                  // A name given twice (a hand-made LabelSet) keeps its first share rather than trapping.
                  shares: Dictionary(t.shares.indices.map { (s.labels.name(at: $0), roundedOrNil(t.shares[$0], 4)) }, uniquingKeysWith: { a, _ in a }))
        }
    }
}
