import FaceDetection
import FERCore
import Foundation

/// Gives detections stable track ids across frames.
///
/// - **Motion**: each track predicts where its face will be with a constant-velocity Kalman
///   filter on the box centre and size, so faces moving fast or crossing each other are matched
///   where they are going, not where they were.
/// - **Association in two passes** (ByteTrack's idea): detections at least `minBirthStrength`
///   strong are matched first, to every live track, greedily by IoU with the prediction (best pair
///   first, IoU ≥ `iouThreshold`; tracks seen in the previous frame before missed ones), then by centre distance for what is left (fast motion: centres
///   within `maxCentreDistance` sides, sizes within `maxSizeRatio`). Weaker detections then only
///   continue the confirmed tracks left over, by IoU alone: a face that turns away or is partly
///   covered keeps its track without weak hits on background opening new ones.
/// - **Birth**: only a strong detection opens a track, and it is tentative (not reported, no id)
///   until it has been matched in `minHits` consecutive frames; a tentative track is dropped at
///   its first miss. One weak or one-off detection never becomes a face.
/// - **Loss and return**: a track unmatched for more than `maxMisses` frames is lost. When a new
///   track appears within `reuseWithin` seconds of a loss, near where the lost face was
///   (centre within `reuseDistance` sides, similar size), it takes the lost id back, at once
///   (no probation): the same person leaving the frame briefly or hidden for a moment keeps one id.
public struct FaceTracker: Sendable {
    public struct Options: Sendable, Equatable {
        public var iouThreshold: Double
        /// Frames a track survives without a matching detection.
        public var maxMisses: Int
        /// Fallback match: centre distance at most this fraction of the larger box side…
        public var maxCentreDistance: Double
        /// …and sides within this ratio of each other.
        public var maxSizeRatio: Double
        /// 0: report the detector's box unchanged. α in (0, 1): report α·previous + (1−α)·detected.
        public var smoothing: Double
        /// Consecutive detections before a new track is reported (1: at once).
        public var minHits: Int
        /// Weakest detection that may open a track and take part in the first pass (0: any).
        public var minBirthStrength: Double
        /// Seconds after its loss during which a track's id is handed back to a face that
        /// appears near where it was (0: never reuse ids).
        public var reuseWithin: Double
        /// How near: centre distance in sides of the lost face.
        public var reuseDistance: Double

        public init(iouThreshold: Double = 0.3, maxMisses: Int = 10, maxCentreDistance: Double = 0.6,
                    maxSizeRatio: Double = 1.5, smoothing: Double = 0, minHits: Int = 1, minBirthStrength: Double = 0,
                    reuseWithin: Double = 2, reuseDistance: Double = 1.5) {
            self.minHits = max(1, minHits)
            self.minBirthStrength = minBirthStrength
            self.iouThreshold = iouThreshold
            self.maxMisses = maxMisses
            self.maxCentreDistance = maxCentreDistance
            self.maxSizeRatio = maxSizeRatio
            self.smoothing = smoothing
            self.reuseWithin = reuseWithin
            self.reuseDistance = reuseDistance
        }
    }

    struct Track: Sendable, Equatable {
        /// 0 while tentative.
        var id: Int
        /// The last reported box.
        var box: Box
        var motion: BoxMotion
        var misses: Int
        var hits: Int

        /// Where the face should be this frame (motion extrapolated over at most 5 frames, so a
        /// face that stopped being detected is not chased off across the frame).
        var expected: Box { motion.predicted(after: min(misses + 1, 5)) }
    }

    /// A lost track: where and when its face was last seen.
    struct Lost: Sendable, Equatable {
        var id: Int
        var box: Box
        var time: Double
    }

    public var options: Options
    private(set) var tracks: [Track] = []
    private var lost: [Lost] = []
    private var nextID = 1
    /// Frames seen, for callers that give no times (then 30 frames = 1 s).
    private var frameCount = 0

    public init(options: Options = Options()) {
        self.options = options
    }

    public init(maxMisses: Int) {
        self.init(options: Options(maxMisses: maxMisses))
    }

    /// Live tracks (seen within the last `maxMisses` frames), including ones missed this frame.
    public var liveTrackCount: Int { tracks.count }

    /// Where the live tracks (tentative ones too) are expected in the next frame: where to look.
    public var liveBoxes: [Box] { tracks.map(\.expected) }

    /// Forgets all tracks (and lost ones). Ids keep counting up, so none is reused.
    public mutating func reset() {
        tracks.removeAll()
        lost.removeAll()
    }

    /// Feeds one frame's boxes (each as strong as can be); returns the faces seen in this frame,
    /// ordered by track id.
    public mutating func update(with boxes: [Box], time: Double? = nil) -> [TrackedFace] {
        update(detections: boxes.map { Detection(box: $0, strength: .infinity) }, time: time)
    }

    /// Feeds one frame's detections; `time` (seconds) dates losses for id reuse. Returns the
    /// faces seen in this frame, ordered by track id.
    public mutating func update(detections: [Detection], time: Double? = nil) -> [TrackedFace] {
        frameCount += 1
        let now = time ?? Double(frameCount) / 30
        let predicted = tracks.map(\.expected)
        var trackFor = [Int?](repeating: nil, count: detections.count)   // detection index → track index
        var taken = [Bool](repeating: false, count: tracks.count)
        let strong = detections.indices.filter { detections[$0].strength >= options.minBirthStrength }
        let weak = detections.indices.filter { detections[$0].strength < options.minBirthStrength }

        func matchByIoU(_ candidates: [Int], tracks allowed: (Int) -> Bool, minimum: Double) {
            let fresh = tracks.map { $0.misses == 0 ? 1 : 0 }
            var pairs: [(iou: Double, t: Int, d: Int)] = []
            for ti in predicted.indices where !taken[ti] && allowed(ti) {
                for di in candidates where trackFor[di] == nil {
                    let v = predicted[ti].iou(detections[di].box)
                    if v >= minimum && v > 0 { pairs.append((v, ti, di)) }
                }
            }
            // Tracks seen in the last frame choose first (DeepSORT's matching cascade): a face
            // hidden behind another must not take the visible one's detection.
            pairs.sort { (fresh[$0.t], $0.iou, -$0.t, -$0.d) > (fresh[$1.t], $1.iou, -$1.t, -$1.d) }
            for p in pairs where !taken[p.t] && trackFor[p.d] == nil {
                taken[p.t] = true
                trackFor[p.d] = p.t
            }
        }

        // 1. Strong detections against every track: IoU, then centre distance.
        matchByIoU(strong, tracks: { _ in true }, minimum: options.iouThreshold)
        var near: [(d: Double, t: Int, b: Int)] = []
        for ti in predicted.indices where !taken[ti] {
            let t = predicted[ti]
            for di in strong where trackFor[di] == nil {
                let b = detections[di].box
                let st = Double(max(t.width, t.height)), sb = Double(max(b.width, b.height))
                guard st > 0, sb > 0, max(st, sb) / min(st, sb) <= options.maxSizeRatio else { continue }
                let d = t.centreDistance(to: b)
                if d <= options.maxCentreDistance * max(st, sb) { near.append((d, ti, di)) }
            }
        }
        near.sort { (tracks[$0.t].misses == 0 ? 0 : 1, $0.d, $0.t, $0.b) < (tracks[$1.t].misses == 0 ? 0 : 1, $1.d, $1.t, $1.b) }
        for p in near where !taken[p.t] && trackFor[p.b] == nil {
            taken[p.t] = true
            trackFor[p.b] = p.t
        }
        let confirmed = tracks.map { $0.id > 0 }
        // 2. Weak detections only continue confirmed tracks, and only where they overlap well.
        matchByIoU(weak, tracks: { confirmed[$0] }, minimum: max(options.iouThreshold, 0.4))

        // 3. Update matched tracks, age the others, lose or drop what is gone, open new ones.
        var seen: [TrackedFace] = []
        for (di, d) in detections.enumerated() {
            guard let ti = trackFor[di] else { continue }
            let reported = smooth(previous: tracks[ti].box, detected: d.box)
            tracks[ti].box = reported
            tracks[ti].motion.correct(with: d.box, after: tracks[ti].misses + 1)
            tracks[ti].misses = 0
            tracks[ti].hits += 1
            if tracks[ti].id == 0 && tracks[ti].hits >= options.minHits { tracks[ti].id = reclaimOrTakeID(for: d.box, now: now) }
            if tracks[ti].id > 0 { seen.append(TrackedFace(track: tracks[ti].id, box: reported, confidence: d.confidence, landmarks: d.landmarks)) }
        }
        for ti in tracks.indices where !taken[ti] { tracks[ti].misses += 1 }
        for t in tracks where t.id > 0 && t.misses > options.maxMisses {
            lost.append(Lost(id: t.id, box: t.box, time: now))
        }
        tracks.removeAll { $0.misses > ($0.id == 0 ? 0 : options.maxMisses) }
        lost.removeAll { now - $0.time > options.reuseWithin }
        for di in strong where trackFor[di] == nil {
            let d = detections[di]
            var t = Track(id: 0, box: d.box, motion: BoxMotion(d.box), misses: 0, hits: 1)
            // A face coming back where one was just lost is that face: its id, without probation.
            if options.minHits <= 1 || reclaimable(for: d.box) != nil { t.id = reclaimOrTakeID(for: d.box, now: now) }
            tracks.append(t)
            if t.id > 0 { seen.append(TrackedFace(track: t.id, box: d.box, confidence: d.confidence, landmarks: d.landmarks)) }
        }
        return seen.sorted { $0.track < $1.track }
    }

    /// The nearest lost track that `box` may take the id of.
    private func reclaimable(for box: Box) -> Int? {
        guard options.reuseWithin > 0 else { return nil }
        var best: (Int, Double)?
        for (i, l) in lost.enumerated() {
            let sl = Double(max(l.box.width, l.box.height)), sb = Double(max(box.width, box.height))
            guard sl > 0, sb > 0, max(sl, sb) / min(sl, sb) <= options.maxSizeRatio else { continue }
            let d = l.box.centreDistance(to: box)
            if d <= options.reuseDistance * sl && d < (best?.1 ?? .infinity) { best = (i, d) }
        }
        return best?.0
    }

    private mutating func reclaimOrTakeID(for box: Box, now: Double) -> Int {
        if let i = reclaimable(for: box) { return lost.remove(at: i).id }
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

extension Box {
    func centreDistance(to b: Box) -> Double {
        let dx = (Double(x) + Double(width) / 2) - (Double(b.x) + Double(b.width) / 2)
        let dy = (Double(y) + Double(height) / 2) - (Double(b.y) + Double(b.height) / 2)
        return (dx * dx + dy * dy).squareRoot()
    }
}

/// A constant-velocity Kalman filter on a box's centre and size (four independent 1-D filters,
/// each of position and velocity), in units of frames. Noise scales with the face's size, so a
/// large face and a small one are followed alike.
struct BoxMotion: Sendable, Equatable {
    /// cx, cy, w, h.
    private var position: [Double]
    private var velocity = [0.0, 0.0, 0.0, 0.0]
    /// Per coordinate: [p_pp, p_pv, p_vv].
    private var covariance: [[Double]]

    init(_ box: Box) {
        position = [Double(box.x) + Double(box.width) / 2, Double(box.y) + Double(box.height) / 2, Double(box.width), Double(box.height)]
        let s = Double(max(box.width, box.height, 1))
        covariance = Array(repeating: [pow(0.1 * s, 2), 0, pow(0.2 * s, 2)], count: 4)
    }

    private var side: Double { max(position[2], position[3], 1) }

    /// The box expected `frames` frames after the last correction.
    func predicted(after frames: Int) -> Box {
        let k = Double(frames)
        let cx = position[0] + velocity[0] * k, cy = position[1] + velocity[1] * k
        let w = max(1, position[2] + velocity[2] * k), h = max(1, position[3] + velocity[3] * k)
        return Box(x: Int((cx - w / 2).rounded()), y: Int((cy - h / 2).rounded()), width: Int(w.rounded()), height: Int(h.rounded()))
    }

    /// Advances `frames` frames and folds in the measured `box`.
    mutating func correct(with box: Box, after frames: Int) {
        let dt = Double(max(1, frames))
        let z = [Double(box.x) + Double(box.width) / 2, Double(box.y) + Double(box.height) / 2, Double(box.width), Double(box.height)]
        // Measurement noise ~3% of the side (detector jitter), process noise ~5%/frame² (faces
        // speed up and slow down); sizes change more slowly than positions.
        let s = side
        for i in 0..<4 {
            let q = pow((i < 2 ? 0.05 : 0.02) * s, 2), r = pow(0.03 * s, 2)
            var (pp, pv, vv) = (covariance[i][0], covariance[i][1], covariance[i][2])
            // Predict: x += v·dt; P = F P Fᵀ + Q (white-acceleration Q).
            position[i] += velocity[i] * dt
            pp += 2 * dt * pv + dt * dt * vv + q * dt * dt * dt / 3
            pv += dt * vv + q * dt * dt / 2
            vv += q * dt
            // Correct with the measured position.
            let innovation = z[i] - position[i], gainDenominator = pp + r
            let kp = pp / gainDenominator, kv = pv / gainDenominator
            position[i] += kp * innovation
            velocity[i] += kv * innovation
            (pp, pv, vv) = ((1 - kp) * pp, (1 - kp) * pv, vv - kv * pv)
            covariance[i] = [pp, pv, vv]
        }
    }
}
