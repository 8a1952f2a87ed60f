/// Test-time augmentation spread over time: a tracked face's crops (e.g. the 10 of `10crop`) are
/// scored a few per frame in a fixed rotation, and each crop's latest score is kept, so that the
/// face's probabilities in every frame are the mean over the whole set. A still face scored 2
/// crops a frame thus equals exact 10-crop after 5 frames, at a fifth of the cost per frame.
///
/// A track with no fresh score (a new face, or one back after a gap) gets the whole set in its
/// first frame, so its first label is as good as 10-crop. A score counts for `maxAge` seconds of
/// media time: older ones are left out of the mean, so a face's probabilities never rest on crops
/// of a face that has since changed. Tracks unseen for a while are forgotten (memory stays flat).
///
/// A value type owned by the one stage that classifies a stream's faces, in frame order.
public struct TemporalEnsemble: Sendable {
    /// Crops in the full set (`Recognizer.cropsPerFace`).
    public let cropCount: Int
    /// Seconds a crop's score stays in the mean.
    public let maxAge: Double
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

        init(cropCount: Int, time: Double) {
            slots = Array(repeating: nil, count: cropCount)
            planned = Array(repeating: nil, count: cropCount)
            lastTime = time
        }
    }
    private var tracks: [Int: Track] = [:]

    public init(specs: [CropSpec], maxAge: Double = 0.5) {
        cropCount = specs.count
        self.maxAge = maxAge
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

    /// Whether `track` has no score fresh at `time` (planned ones count): it then gets the full set.
    public func needsFullSet(track: Int, time: Double) -> Bool {
        guard let t = tracks[track] else { return true }
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
        for c in chosen { t.planned[c] = time }
        t.lastTime = max(t.lastTime, time)
        tracks[id] = t
        return chosen
    }

    /// Stores this frame's scores of `crops` for `track` and returns its probabilities: the mean
    /// of every crop's latest fresh score, summed in crop order (with the whole set scored in
    /// one frame, exactly `Recognizer.probabilities(for:)`).
    public mutating func record(track id: Int, time: Double, crops: [Int], probabilities: [[Float]]) -> [Float] {
        var t = tracks[id] ?? Track(cropCount: cropCount, time: time)
        for (c, p) in zip(crops, probabilities) where t.slots.indices.contains(c) {
            t.slots[c] = Slot(time: time, probabilities: p)
            if let when = t.planned[c], when <= time { t.planned[c] = nil }
        }
        t.lastTime = max(t.lastTime, time)
        tracks[id] = t
        let usable = t.slots.compactMap { slot -> [Float]? in
            guard let slot, fresh(slot.time, at: time) else { return nil }
            return slot.probabilities
        }
        return Recognizer.mean(usable)
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
