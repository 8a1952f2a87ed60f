/// How many test-time crops a tracked face gets per analysed frame.
public enum CropsPerFace: Sendable, Equatable, CustomStringConvertible {
    /// Files: 2 a frame (the whole set over 5 frames, see `TemporalEnsemble`). Real time: as
    /// many as the measured speed of the network allows, on a ladder (10 → 4 → 2 → 1), then (given
    /// a cheap network) the cheap network's ladder, before any frame is skipped.
    case auto
    /// This many every frame (at most the set's size; the full set is 10-crop on every frame).
    case fixed(Int)

    /// `auto`'s number for files.
    public static let fileDefault = 2
    /// `auto`'s steps in real time, most first.
    public static let ladder = [10, 4, 2, 1]
    /// The distilled student's guessed cost per crop relative to the VGG19's (it scores ~6× the
    /// crops a second), until its own calls are measured.
    static let studentRelativeCost = 1.0 / 6

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

    /// Calls seen.
    private(set) var calls = 0

    mutating func observe(crops: Int, seconds: Double) {
        guard crops > 0, seconds.isFinite, seconds >= 0 else { return }
        calls += 1
        let n = Double(crops)
        weight = decay * weight + 1
        sumN = decay * sumN + n
        sumT = decay * sumT + seconds
        sumNN = decay * sumNN + n * n
        sumNT = decay * sumNT + n * seconds
    }

    var hasObservations: Bool { weight > 0 }

    /// The recent calls' typical size (weighted as the fit is).
    var typicalCrops: Int? { weight > 0 ? max(1, Int((sumN / weight).rounded())) : nil }

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

/// Real time's crop budget: before each frame, the network and the crops per face, from a ladder
/// of rungs (the VGG19's 10 → 4 → 2 → 1, then the student's 4 → 2 → 1), whose predicted network
/// time fits the time the frame may take; new tracks first (they get their whole set), every
/// other face at least one crop. With a second, cheaper network (the distilled student), faces are
/// scored by it once even one crop per face of the first does not fit; frames are skipped only
/// once the last rung does not fit either. Steps up one rung at a time and only with room to
/// spare, so it does not flap between two rungs (or two networks).
struct CropBudget: Sendable {
    /// One rung: which network (an index into the budget's networks) and how many crops a face.
    struct Rung: Sendable, Hashable {
        let network: Int
        let perFace: Int
    }
    let rungs: [Rung]
    private(set) var rung: Int
    /// Share of a frame's period the network may take (detection, decoding and writing share
    /// the same cores).
    let utilisation: Double
    /// Stepping up needs the higher rung to fit within this share of the target.
    let headroom: Double
    /// Share of a frame's period (less detection) the better network's last rung may take before
    /// faces go to the next network, and up to which, on the next network's rungs, the better one
    /// adds crops (`betterCrops`): more than `utilisation`, because the student's labels agree less
    /// with the VGG19's than fewer VGG19 crops do, so it takes over only when frames would otherwise
    /// be lost. Over 1 because detection and the network overlap on two cores (detection's
    /// per-frame time is not all taken from the network's): measured on six faces at 1080p, 25
    /// fps, AVX2 (docs/performance.md), the VGG19 at one crop a face kept 99–100% of the frames at
    /// 1.25–2.0, where 0.95 handed them to the student (agreement with 10-crop VGG19 95–96% against
    /// 92%).
    let switchUtilisation: Double
    /// Per network, its cost per crop relative to the first's: a guess used only until its own
    /// calls are measured (the student's ~1/6 of the VGG19's, `ClassifyStage`).
    let relativeCost: [Double]
    /// A network not running is not measured: its cost model is as it was when it was left. The
    /// machine's load since (a busy neighbour gone) shows in the running network's cost, so the
    /// others' predictions scale with it: this is the running network's cost of a reference call
    /// once it had settled (a few calls after the switch), at its typical call size then.
    private var anchor: (network: Int, crops: Int, seconds: Double)?
    /// The running network's calls when it started running (its model may be older than that).
    private var callsAtSwitch = 0
    static let settledCalls = 3

    /// `cropCount`: a face's full set (the same for every network); `relativeCost`: one per
    /// network, the first's 1.
    init(cropCount: Int, ladder: [Int] = CropsPerFace.ladder, relativeCost: [Double] = [1],
         utilisation: Double = 0.75, switchUtilisation: Double = 1.25, headroom: Double = 0.8) {
        var s = ladder.map { min($0, cropCount) }.filter { $0 >= 1 }
        s = s.enumerated().filter { i, n in !s[..<i].contains(n) }.map(\.element)
        if s.isEmpty { s = [1] }
        let relative = relativeCost.isEmpty ? [1] : relativeCost.map { $0 > 0 ? $0 : 1 }
        // A cheaper network's rungs start below the previous network's last one (the student's
        // 10 crops cost more than the VGG19's 1): each rung costs less than the one above, so
        // stepping up one rung from the cheap network's top leads back to the better network.
        var all: [Rung] = []
        for k in relative.indices {
            let below = all.last.map { Double($0.perFace) * relative[$0.network] } ?? .infinity
            all += s.filter { Double($0) * relative[k] < below }.map { Rung(network: k, perFace: $0) }
        }
        rungs = all
        // Start on the rung files use: 2 (when the set has it) of the first network, until calls are measured.
        rung = s.firstIndex(of: min(CropsPerFace.fileDefault, cropCount)) ?? s.count - 1
        self.relativeCost = relative
        self.utilisation = utilisation
        self.switchUtilisation = max(utilisation, switchUtilisation)
        self.headroom = headroom
    }

    /// The first network's crops per face on each rung, most first.
    var steps: [Int] { rungs.filter { $0.network == 0 }.map(\.perFace) }
    var perFace: Int { rungs[rung].perFace }
    /// The network the next frame's (known) faces are scored by.
    var network: Int { rungs[rung].network }

    /// One network's choice (`choose(…costs:)` with one cost model).
    mutating func choose(faces: Int, newFaces: Int, fullSet: Int, period: Double, busy: Double = 0, deadline: Double,
                         cost: CropCostModel) -> Int {
        choose(faces: faces, newFaces: newFaces, fullSet: fullSet, period: period, busy: busy, deadline: deadline, costs: [cost]).perFace
    }

    /// Picks the rung for a frame with `faces` faces of which `newFaces` need their whole set
    /// (`fullSet` crops each): the frame's network time should fit `period` × `utilisation` (the
    /// time until the next frame arrives) less `busy` (what the other stages take of the same
    /// cores per frame), and `deadline` (what is left of the latency budget), as `costs` (one per
    /// network) predict it.
    mutating func choose(faces: Int, newFaces: Int, fullSet: Int, period: Double, busy: Double = 0, deadline: Double,
                         costs: [CropCostModel]) -> Rung {
        // A frame of only new faces chooses too: their whole sets on the VGG19 are the biggest
        // burst there is (six faces: 60 crops, 0.3 s on AVX2), and the cheap network takes them.
        guard costs.contains(where: \.hasObservations), faces > 0 else { return rungs[rung] }
        let running = network
        if anchor?.network != running, running < costs.count, costs[running].calls - callsAtSwitch >= Self.settledCalls,
           let n = costs[running].typicalCrops, let t = costs[running].seconds(for: n), t > 0 {
            anchor = (running, n, t)
        }
        let target = min(period * utilisation - busy, deadline)
        let lastChance = min(period * switchUtilisation - busy, deadline)
        func predicted(_ r: Int) -> Double {
            seconds(crops: newFaces * fullSet + (faces - newFaces) * rungs[r].perFace, network: rungs[r].network,
                    running: running, costs: costs)
        }
        // A network's last rung is left for the next network only past `lastChance`.
        func fits(_ r: Int, within share: Double) -> Bool {
            let handsOver = r + 1 < rungs.count && rungs[r + 1].network != rungs[r].network
            return predicted(r) <= (handsOver ? lastChance : target) * share
        }
        while rung < rungs.count - 1 && !fits(rung, within: 1) { rung += 1 }
        // Up with room to spare; while only one batch size of that network was seen, the
        // proportional guess already overestimates a larger batch, so trying it needs only to fit.
        // Back to the better network always needs the room: a guess that just fits would flap.
        if rung > 0 {
            let up = rungs[rung - 1].network
            let roomy = (up < costs.count && costs[up].isFitted) || up != rungs[rung].network
            if fits(rung - 1, within: roomy ? headroom : 1) { rung -= 1 }
        }
        if network != running {
            anchor = nil
            callsAtSwitch = network < costs.count ? costs[network].calls : 0
        }
        return rungs[rung]
    }

    /// On a cheaper network's rung: how many known faces (at most `limit`) the best network can
    /// also give one crop each within what the frame has left, up to the same `switchUtilisation`
    /// share the best network's last rung may take, after the running network's crops. Its
    /// crops agree with 10-crop VGG19 far more than the student's do, whatever their number.
    func betterCrops(faces: Int, newFaces: Int, fullSet: Int, period: Double, busy: Double = 0, deadline: Double,
                     costs: [CropCostModel], limit: Int) -> Int {
        guard network > 0, limit > 0, costs.contains(where: \.hasObservations) else { return 0 }
        let lastChance = min(period * switchUtilisation - busy, deadline)
        let running = network
        let used = seconds(crops: newFaces * fullSet + (faces - newFaces) * perFace, network: running, running: running, costs: costs)
        var m = 0
        while m < limit, used + seconds(crops: m + 1, network: 0, running: running, costs: costs) <= lastChance { m += 1 }
        return m
    }

    /// A network's predicted time for `crops` crops: its own cost model (scaled, when it is not
    /// the `running` one, by how the running one's cost moved since it settled), else (not yet
    /// run) another network's scaled by their relative cost.
    private func seconds(crops: Int, network k: Int, running: Int, costs: [CropCostModel]) -> Double {
        if k < costs.count, let t = costs[k].seconds(for: crops) {
            guard k != running, let anchor, anchor.network == running,
                  let now = costs[running].seconds(for: anchor.crops) else { return t }
            return t * now / anchor.seconds
        }
        for (j, c) in costs.enumerated() where j != k && j < relativeCost.count {
            if let t = c.seconds(for: crops) { return t * cost(k) / cost(j) }
        }
        return 0
    }

    private func cost(_ k: Int) -> Double { k < relativeCost.count && relativeCost[k] > 0 ? relativeCost[k] : 1 }
}
