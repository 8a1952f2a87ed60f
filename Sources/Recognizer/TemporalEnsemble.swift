import Foundation

/// Test-time augmentation spread over time: a tracked face's crops (e.g. the 10 of `10crop`) are
/// scored a few per frame in a fixed rotation, and each crop's latest score is kept, so that the
/// face's probabilities in every frame are the mean over the whole set. A still face scored 2
/// crops a frame thus equals exact 10-crop after 5 frames (with the plain mean, `Onset.none`; the
/// pipeline's default weighs newer crops more, see below), at a fifth of the cost per frame.
///
/// A track with no fresh score (a new face, or one back after a gap) gets the whole set in its
/// first frame, so its first label is as good as 10-crop. A score counts for `maxAge` seconds of
/// media time: older ones are left out of the mean, so a face's probabilities never rest on crops
/// of a face that has since changed. Tracks unseen for a while are forgotten (memory stays flat).
///
/// At an expression's onset the older crops still show the face before it, so the plain mean
/// trails the whole set scored every frame (and the label smoothing downstream keeps whatever
/// led first). Two remedies (`Onset`): the newer a crop's score the more it weighs (a half-life in
/// seconds), and a track whose fresh crops lead with another class than the rest of its set (by
/// `margin`) gets its whole set re-scored in its next frame.
///
/// A value type owned by the one stage that classifies a stream's faces, in frame order.
public struct TemporalEnsemble: Sendable {
    /// How the mean follows a face whose expression changes.
    public struct Onset: Sendable, Equatable {
        /// Seconds in which a crop's weight in the mean halves, against the newest crop's; nil: all weigh the same.
        public var halfLife: Double?
        /// Re-score the whole set when the fresh crops' top class beats the rest's top class by
        /// this much of probability (in the fresh crops' mean); nil: never.
        public var margin: Double?
        public init(halfLife: Double? = nil, margin: Double? = nil) { self.halfLife = halfLife; self.margin = margin }
        /// Every crop weighs the same, nothing is re-scored: the mean of the set.
        public static let none = Onset()
        /// The default (`PipelineOptions.ensembleOnset`): see docs/performance.md for how it was chosen.
        public static let `default` = Onset(halfLife: 0.02)
    }

    /// Crops in the full set (`Recognizer.cropsPerFace`).
    public let cropCount: Int
    /// Seconds a crop's score stays in the mean.
    public let maxAge: Double
    public let onset: Onset
    /// The order crops are visited in: each unmirrored crop next to its mirror (when the set has
    /// mirrors), so two crops a frame are always a mirrored pair.
    public let rotation: [Int]

    private struct Slot: Sendable {
        var time: Double
        var probabilities: [Float]
    }
    private struct Track: Sendable {
        var next = 0
        /// Each crop's latest score.
        var slots: [Slot?]
        /// When each crop was last planned and not yet recorded. Kept apart from the scores, so
        /// that planning a later frame before recording an earlier one (both in one batch) leaves
        /// the earlier frame's mean as it would be with one frame per batch.
        var planned: [Double?]
        var lastTime: Double
        /// Its fresh crops disagreed with the rest of its set: the next frame scores the whole set.
        var rescore = false

        init(cropCount: Int, time: Double) {
            slots = Array(repeating: nil, count: cropCount)
            planned = Array(repeating: nil, count: cropCount)
            lastTime = time
        }
    }
    private var tracks: [Int: Track] = [:]

    public init(specs: [CropSpec], maxAge: Double = 0.5, onset: Onset = .none) {
        cropCount = specs.count
        self.maxAge = maxAge
        self.onset = onset
        var order: [Int] = []
        for (i, s) in specs.enumerated() where !s.mirrored {
            order.append(i)
            if let m = specs.firstIndex(where: { $0.mirrored && $0.x == s.x && $0.y == s.y }) { order.append(m) }
        }
        for i in specs.indices where !order.contains(i) { order.append(i) }
        rotation = order
    }

    /// Tracks with state.
    public var trackCount: Int { tracks.count }

    /// Whether `track` has no score fresh at `time` (planned ones count), or its fresh crops
    /// disagreed with the rest (`Onset.margin`): it then gets the full set.
    public func needsFullSet(track: Int, time: Double) -> Bool {
        guard let t = tracks[track] else { return true }
        if t.rescore { return true }
        return !t.slots.contains { $0.map { fresh($0.time, at: time) } ?? false }
            && !t.planned.contains { $0.map { fresh($0, at: time) } ?? false }
    }

    /// The crops (indices into the crop specs) to score for `track` in the frame at `time`: the
    /// full set for a track that needs it, else the next `count` (at least 1) in the rotation.
    /// Every crop returned must be `record`ed, in frame order, before the track's next `record`.
    public mutating func plan(track id: Int, time: Double, count: Int) -> [Int] {
        let full = needsFullSet(track: id, time: time) || count >= cropCount
        var t = tracks[id] ?? Track(cropCount: cropCount, time: time)
        let chosen: [Int]
        if full {
            chosen = Array(0..<cropCount)
        } else {
            chosen = (0..<max(1, count)).map { rotation[(t.next + $0) % cropCount] }
            t.next = (t.next + max(1, count)) % cropCount
        }
        if full { t.rescore = false }
        for c in chosen { t.planned[c] = time }
        t.lastTime = max(t.lastTime, time)
        tracks[id] = t
        return chosen
    }

    /// Stores this frame's scores of `crops` for `track` and returns its probabilities: the mean
    /// of every crop's latest fresh score, summed in crop order (with the whole set scored in
    /// one frame, exactly `Recognizer.probabilities(for:)`), weighted by age (`Onset.halfLife`).
    public mutating func record(track id: Int, time: Double, crops: [Int], probabilities: [[Float]]) -> [Float] {
        var t = tracks[id] ?? Track(cropCount: cropCount, time: time)
        for (c, p) in zip(crops, probabilities) where t.slots.indices.contains(c) {
            t.slots[c] = Slot(time: time, probabilities: p)
            if let when = t.planned[c], when <= time { t.planned[c] = nil }
        }
        t.lastTime = max(t.lastTime, time)
        let usable = t.slots.compactMap { slot -> Slot? in
            guard let slot, fresh(slot.time, at: time) else { return nil }
            return slot
        }
        if let margin = onset.margin, !t.rescore, disagrees(fresh: crops, in: t.slots, at: time, margin: margin) {
            t.rescore = true
        }
        tracks[id] = t
        return mean(usable)
    }

    /// Whether the scores of `crops` (just recorded at `time`) lead with another class than the
    /// mean of the track's other fresh crops, by at least `margin` in their own mean.
    private func disagrees(fresh crops: [Int], in slots: [Slot?], at time: Double, margin: Double) -> Bool {
        let mine = Set(crops)
        let new = mine.compactMap { slots.indices.contains($0) ? slots[$0]?.probabilities : nil }
        let rest = slots.indices.filter { !mine.contains($0) }.compactMap { i -> [Float]? in
            guard let slot = slots[i], fresh(slot.time, at: time), slot.time < time else { return nil }
            return slot.probabilities
        }
        guard !new.isEmpty, !rest.isEmpty else { return false }
        let a = Recognizer.mean(new), b = Recognizer.mean(rest)
        guard let top = a.indices.max(by: { a[$0] < a[$1] }), let old = b.indices.max(by: { b[$0] < b[$1] }),
              top != old, old < a.count else { return false }
        return Double(a[top] - a[old]) >= margin
    }

    /// The scores' mean; with a half-life, each weighted 2^(−age / half-life) against the newest
    /// (all of one frame weigh 1: the plain mean, to the bit).
    private func mean(_ slots: [Slot]) -> [Float] {
        guard let halfLife = onset.halfLife, halfLife > 0, let newest = slots.map(\.time).max(),
              slots.contains(where: { $0.time != newest }) else { return Recognizer.mean(slots.map(\.probabilities)) }
        guard var sum = slots.first.map({ $0.probabilities.map { _ in Float(0) } }) else { return [] }
        var total: Float = 0
        for s in slots {
            let w = Float(exp2(-(newest - s.time) / halfLife))
            for k in sum.indices where k < s.probabilities.count { sum[k] += w * s.probabilities[k] }
            total += w
        }
        return sum.map { $0 / total }
    }

    /// Forgets tracks not seen for `maxAge` seconds before `time`: nothing of theirs is fresh.
    public mutating func forget(before time: Double) {
        if tracks.values.contains(where: { time - $0.lastTime > maxAge }) {
            tracks = tracks.filter { time - $0.value.lastTime <= maxAge }
        }
    }

    private func fresh(_ scored: Double, at time: Double) -> Bool {
        // A frame may carry an earlier time than the last one (a stream restarting): then only
        // its own crops count, never a score from the future.
        scored <= time && time - scored <= maxAge
    }
}
