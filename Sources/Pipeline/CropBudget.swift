/// How many test-time crops a tracked face gets per analysed frame.
public enum CropsPerFace: Sendable, Equatable, CustomStringConvertible {
    /// Files: 2 a frame (the whole set over 5 frames, see `TemporalEnsemble`). Real time: as
    /// many as the measured speed of the network allows, on a ladder (10 → 4 → 2 → 1), before
    /// any frame is skipped.
    case auto
    /// This many every frame (at most the set's size; the full set is 10-crop on every frame).
    case fixed(Int)

    /// `auto`'s number for files.
    public static let fileDefault = 2
    /// `auto`'s steps in real time, most first.
    public static let ladder = [10, 4, 2, 1]

    public var description: String {
        switch self {
        case .auto: "auto"
        case .fixed(let n): String(n)
        }
    }
}

/// The network's time for a call of n crops, t ≈ a + b·n, fitted by least squares over recent
/// calls (older ones weigh less), so that a batch size not yet run can be predicted.
struct CropCostModel: Sendable {
    private var weight = 0.0, sumN = 0.0, sumT = 0.0, sumNN = 0.0, sumNT = 0.0
    /// How much each earlier call still counts, per call.
    let decay = 0.8

    mutating func observe(crops: Int, seconds: Double) {
        guard crops > 0, seconds.isFinite, seconds >= 0 else { return }
        let n = Double(crops)
        weight = decay * weight + 1
        sumN = decay * sumN + n
        sumT = decay * sumT + seconds
        sumNN = decay * sumNN + n * n
        sumNT = decay * sumNT + n * seconds
    }

    var hasObservations: Bool { weight > 0 }

    /// Whether calls of more than one size were seen, so the overhead per call is known.
    var isFitted: Bool { weight > 0 && sumNN / weight - (sumN / weight) * (sumN / weight) > 0.25 }

    /// Predicted seconds for `crops` crops; nil before any call was seen.
    func seconds(for crops: Int) -> Double? {
        guard weight > 0 else { return nil }
        let n = Double(crops), meanN = sumN / weight, meanT = sumT / weight
        let variance = sumNN / weight - meanN * meanN
        // One batch size seen so far (or a fit that makes no sense): cost in proportion to crops,
        // which overestimates larger batches, so the ladder errs towards fewer crops.
        let proportional = meanT / meanN * n
        guard variance > 0.25 else { return proportional }
        let slope = (sumNT / weight - meanN * meanT) / variance
        guard slope > 0 else { return proportional }
        return max(0, meanT - slope * meanN) + slope * n
    }
}

/// Real time's crop budget: before each frame, the most crops per face on the ladder whose
/// predicted network time fits the time the frame may take; new tracks first (they get their
/// whole set), every other face at least one crop. Frames are skipped only once even one crop
/// per face does not fit. Steps up one rung at a time and only with room to spare, so it does
/// not flap between two rungs.
struct CropBudget: Sendable {
    let steps: [Int]
    private(set) var rung: Int
    /// Share of a frame's period the network may take (detection, decoding and writing share
    /// the same cores).
    let utilisation: Double
    /// Stepping up needs the higher rung to fit within this share of the target.
    let headroom: Double

    init(cropCount: Int, ladder: [Int] = CropsPerFace.ladder, utilisation: Double = 0.75, headroom: Double = 0.8) {
        var s = ladder.map { min($0, cropCount) }.filter { $0 >= 1 }
        s = s.enumerated().filter { i, n in !s[..<i].contains(n) }.map(\.element)
        steps = s.isEmpty ? [1] : s
        // Start on the rung files use: 2 (when the set has it), until calls are measured.
        rung = steps.firstIndex(of: min(CropsPerFace.fileDefault, cropCount)) ?? steps.count - 1
        self.utilisation = utilisation
        self.headroom = headroom
    }

    var perFace: Int { steps[rung] }

    /// Picks the crops per (not new) face for a frame with `faces` faces of which `newFaces`
    /// need their whole set (`fullSet` crops each): the frame's network time should fit
    /// `period` × `utilisation` (the time until the next frame arrives) less `busy` (what the
    /// other stages take of the same cores per frame), and `deadline` (what is left of the
    /// latency budget), as `cost` predicts it.
    mutating func choose(faces: Int, newFaces: Int, fullSet: Int, period: Double, busy: Double = 0, deadline: Double,
                         cost: CropCostModel) -> Int {
        guard cost.hasObservations, faces > newFaces else { return perFace }
        let target = min(period * utilisation - busy, deadline)
        func predicted(_ rung: Int) -> Double {
            cost.seconds(for: newFaces * fullSet + (faces - newFaces) * steps[rung]) ?? 0
        }
        while rung < steps.count - 1 && predicted(rung) > target { rung += 1 }
        // Up with room to spare; while only one batch size was seen, the proportional guess
        // already overestimates a larger batch, so trying it needs only to fit.
        if rung > 0 && predicted(rung - 1) <= target * (cost.isFitted ? headroom : 1) { rung -= 1 }
        return perFace
    }
}
