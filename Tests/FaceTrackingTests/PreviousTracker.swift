import FaceDetection
import FERCore

// The tracker fer-stream had before the Kalman/two-pass/id-reuse one (commit 35d9332), kept
// here only as the baseline of TrackerScenarioTests' comparison table.
/// Gives detections stable track ids across frames.
///
/// Each frame, detections are matched one-to-one to live tracks greedily by IoU (best pair
/// first, IoU ≥ `iouThreshold`); left-over pairs whose centres are close relative to the face
/// size and whose sizes are similar are then matched greedily by centre distance (fast motion).
/// Unmatched detections open new tracks; a track unmatched for more than `maxMisses`
/// consecutive frames is dropped and its id is never handed out again.
///
/// With `minHits` > 1 a new track is tentative until it has been detected in `minHits`
/// consecutive frames: it is not reported, gets no id, and is dropped at its first miss. This is
/// what keeps a detector's flickering false positives (a patch of background that fires now and
/// then) out of the output; real faces are detected frame after frame and pass at once.
/// With `minBirthStrength` > 0, only a detection at least that strong (see `Detection.strength`)
/// opens a track; weaker ones can only continue a track that exists.
struct PreviousTracker: Sendable {
    struct Options: Sendable, Equatable {
        var iouThreshold: Double
        /// Frames a track survives without a matching detection.
        var maxMisses: Int
        /// Fallback match: centre distance at most this fraction of the larger box side…
        var maxCentreDistance: Double
        /// …and sides within this ratio of each other.
        var maxSizeRatio: Double
        /// 0: report the detector's box unchanged. α in (0, 1): report α·previous + (1−α)·detected.
        var smoothing: Double
        /// Consecutive detections before a new track is reported (1: at once).
        var minHits: Int
        /// Weakest detection that may open a track (0: any).
        var minBirthStrength: Double

        init(iouThreshold: Double = 0.3, maxMisses: Int = 10, maxCentreDistance: Double = 0.6,
                    maxSizeRatio: Double = 1.5, smoothing: Double = 0, minHits: Int = 1, minBirthStrength: Double = 0) {
            self.minHits = max(1, minHits)
            self.minBirthStrength = minBirthStrength
            self.iouThreshold = iouThreshold
            self.maxMisses = maxMisses
            self.maxCentreDistance = maxCentreDistance
            self.maxSizeRatio = maxSizeRatio
            self.smoothing = smoothing
        }
    }

    struct Track: Sendable, Equatable {
        /// 0 while tentative.
        var id: Int
        var box: Box
        var misses: Int
        var hits: Int
    }

    var options: Options
    private(set) var tracks: [Track] = []
    private var nextID = 1

    init(options: Options = Options()) {
        self.options = options
    }


    /// Live tracks (seen within the last `maxMisses` frames), including ones missed this frame.
    var liveTrackCount: Int { tracks.count }

    /// Where the live tracks (tentative ones too) were last seen: where to look for them next.
    var liveBoxes: [Box] { tracks.map(\.box) }

    /// Forgets all tracks. Ids keep counting up, so none is reused.
    mutating func reset() { tracks.removeAll() }

    /// Feeds one frame's boxes (each as strong as can be); returns the faces seen in this frame,
    /// ordered by track id.
    mutating func update(with boxes: [Box]) -> [TrackedFace] {
        update(detections: boxes.map { Detection(box: $0, strength: .infinity) })
    }

    /// Feeds one frame's detections; returns the faces seen in this frame, ordered by track id.
    mutating func update(detections: [Detection]) -> [TrackedFace] {
        let boxes = detections.map(\.box)
        var trackFor = [Int?](repeating: nil, count: boxes.count)   // box index → track index
        var taken = [Bool](repeating: false, count: tracks.count)

        // 1. Greedy IoU matching.
        var pairs: [(iou: Double, t: Int, b: Int)] = []
        for (ti, t) in tracks.enumerated() {
            for (bi, b) in boxes.enumerated() {
                let v = t.box.iou(b)
                if v >= options.iouThreshold && v > 0 { pairs.append((v, ti, bi)) }
            }
        }
        pairs.sort { ($0.iou, -$0.t, -$0.b) > ($1.iou, -$1.t, -$1.b) }
        for p in pairs where !taken[p.t] && trackFor[p.b] == nil {
            taken[p.t] = true
            trackFor[p.b] = p.t
        }

        // 2. Centre-distance fallback for what is left.
        var near: [(d: Double, t: Int, b: Int)] = []
        for (ti, t) in tracks.enumerated() where !taken[ti] {
            for (bi, b) in boxes.enumerated() where trackFor[bi] == nil {
                let st = Double(max(t.box.width, t.box.height)), sb = Double(max(b.width, b.height))
                guard st > 0, sb > 0, max(st, sb) / min(st, sb) <= options.maxSizeRatio else { continue }
                let dx = (Double(t.box.x) + Double(t.box.width) / 2) - (Double(b.x) + Double(b.width) / 2)
                let dy = (Double(t.box.y) + Double(t.box.height) / 2) - (Double(b.y) + Double(b.height) / 2)
                let d = (dx * dx + dy * dy).squareRoot()
                if d <= options.maxCentreDistance * max(st, sb) { near.append((d, ti, bi)) }
            }
        }
        near.sort { ($0.d, $0.t, $0.b) < ($1.d, $1.t, $1.b) }
        for p in near where !taken[p.t] && trackFor[p.b] == nil {
            taken[p.t] = true
            trackFor[p.b] = p.t
        }

        // 3. Update matched tracks, age the others, open new ones.
        var seen: [TrackedFace] = []
        for (bi, b) in boxes.enumerated() {
            if let ti = trackFor[bi] {
                let reported = smooth(previous: tracks[ti].box, detected: b)
                tracks[ti].box = reported
                tracks[ti].misses = 0
                tracks[ti].hits += 1
                if tracks[ti].id == 0 && tracks[ti].hits >= options.minHits { tracks[ti].id = takeID() }
                if tracks[ti].id > 0 { seen.append(TrackedFace(track: tracks[ti].id, box: reported)) }
            }
        }
        for ti in tracks.indices where !taken[ti] { tracks[ti].misses += 1 }
        tracks.removeAll { $0.misses > ($0.id == 0 ? 0 : options.maxMisses) }
        for (bi, b) in boxes.enumerated() where trackFor[bi] == nil && detections[bi].strength >= options.minBirthStrength {
            var t = Track(id: 0, box: b, misses: 0, hits: 1)
            if options.minHits <= 1 { t.id = takeID() }
            tracks.append(t)
            if t.id > 0 { seen.append(TrackedFace(track: t.id, box: b)) }
        }
        return seen.sorted { $0.track < $1.track }
    }

    private mutating func takeID() -> Int {
        defer { nextID += 1 }
        return nextID
    }

    private func smooth(previous p: Box, detected d: Box) -> Box {
        let a = options.smoothing
        guard a > 0 && a < 1 else { return d }
        func mix(_ u: Int, _ v: Int) -> Int { Int((a * Double(u) + (1 - a) * Double(v)).rounded()) }
        return Box(x: mix(p.x, d.x), y: mix(p.y, d.y), width: mix(p.width, d.width), height: mix(p.height, d.height))
    }
}
