import Dispatch
import FERCore
import Recognizer

/// The classify stage: detected frames in, each face's probabilities out, in frame order.
///
/// Each face's test-time crops are spread over frames (`TemporalEnsemble`): a new track gets the
/// whole set at once, a known one `perFace` crops a frame in rotation. Frames are batched into
/// network calls: for files, by count (up to `PipelineOptions.batch` crops, for throughput); in
/// real time, by deadline: a waiting frame joins the batch only if the batch still ends within
/// the first frame's latency budget, and the crops per face (and, given a `fast` network, which
/// network scores them) follow the measured speed of each network (`CropBudget`) before any frame
/// has to be skipped.
struct ClassifyStage: Stage {
    /// What one batch did, for the run's stats.
    struct Report {
        var crops = 0
        var calls = 0
        var seconds = 0.0
        /// Crops per network (`FaceClassifier.networkName`).
        var byNetwork: [String: Int] = [:]
    }

    /// The networks, best first: the model, then in real time the cheap one, if any.
    let networks: [any FaceClassifier]
    var classifier: any FaceClassifier { networks[0] }
    let batchCrops: Int
    let realtime: Bool
    let latency: Double
    /// One ensemble for both networks: a crop's slot holds whichever network scored it last.
    /// Both are temperature-calibrated over the same classes and crop set, so their scores mix;
    /// at a switch a track's mean moves over to the other network crop by crop, instead of
    /// needing the other's whole set (a burst of crops just when time is short).
    private var ensemble: TemporalEnsemble
    private var budget: CropBudget?
    /// Each network's measured time per call, for the budget and the deadlines.
    private var costs: [CropCostModel]
    /// Per network, the call sizes it has run. An engine builds its network for a batch size on
    /// the first call of that size (oneDNN: primitives and reorders), many times a warm call's
    /// time: measured, it would make the network look slow for long, and a network left for the
    /// student is not measured again.
    private var sizesSeen: [Set<Int>]
    private let fixedPerFace: Int
    /// On the student's rungs, the VGG19's call sizes for faces given one crop of it: warmed up,
    /// since a cold size costs many frames. `betterTurn`: whose turn it is (an index among the
    /// frame's known faces).
    static let betterSizes = [1, 2, 3]
    private var betterTurn = 0
    /// Recent seconds of detection per frame: on shared cores, time the network cannot have.
    private var detectSeconds = 0.0

    let observer: any StageObserver

    /// `fast`: a cheaper network over the same classes and crop set (the student), used only in
    /// real time with `.auto` crops, when even one crop per face of `classifier` does not fit.
    init(classifier: any FaceClassifier, fast: (any FaceClassifier)? = nil, options: PipelineOptions, realtime: Bool,
         observer: any StageObserver) {
        self.observer = observer
        batchCrops = max(1, options.batch)
        self.realtime = realtime
        latency = options.latency
        let full = classifier.cropsPerFace
        ensemble = TemporalEnsemble(specs: classifier.cropSpecs, maxAge: options.ensembleMaxAge, onset: options.ensembleOnset)
        var networks: [any FaceClassifier] = [classifier]
        switch options.cropsPerFace {
        case .fixed(let n):
            fixedPerFace = min(max(1, n), full)
        case .auto:
            fixedPerFace = min(CropsPerFace.fileDefault, full)
            if realtime {
                if let fast, fast.cropsPerFace == full, fast.labels == classifier.labels { networks.append(fast) }
                budget = CropBudget(cropCount: full, relativeCost: Array([1, CropsPerFace.studentRelativeCost].prefix(networks.count)))
            }
        }
        self.networks = networks
        costs = networks.map { _ in CropCostModel() }
        sizesSeen = networks.map { _ in [] }
    }

    /// Real time, before the first frame is read: runs each network once cold (oneDNN builds its
    /// primitives and reorders its weights for a call size then: 0.1–0.4 s for the VGG19 on
    /// AVX2, many frames' time) and once warm, measured, so the crop budget knows both networks'
    /// costs from the first frame and a first frame of new faces need not go to the VGG19 blind.
    /// The sizes: a face's whole set, and for a cheaper network also a full batch (new faces go to
    /// it in bursts). Failures are left for the first real call to report. The seconds it took.
    mutating func warmUp() -> Double {
        guard realtime, budget != nil else { return 0 }
        let t0 = DispatchTime.now().uptimeNanoseconds
        let full = classifier.cropsPerFace
        let blank = GrayImage(width: 48, height: 48, fill: 128)
        for k in networks.indices {
            let sizes = k == 0 ? [full] + (networks.count > 1 ? Self.betterSizes : []) : [full, batchCrops]
            for size in Set(sizes).sorted() {
                // Faces of whole sets, the last one partial: `size` crops in one call.
                let faces = (0..<(size + full - 1) / full).map { i in Array(0..<min(full, size - i * full)) }
                let images = faces.map { _ in blank }
                guard (try? networks[k].cropProbabilities(for: images, crops: faces)) != nil else { continue }
                let t = DispatchTime.now().uptimeNanoseconds
                guard (try? networks[k].cropProbabilities(for: images, crops: faces)) != nil else { continue }
                costs[k].observe(crops: size, seconds: seconds(sinceNanos: t))
                sizesSeen[k].insert(size)
            }
        }
        return seconds(sinceNanos: t0)
    }

    /// Crops per known face the next frame gets (the ladder's rung in real time).
    var perFace: Int { budget?.perFace ?? fixedPerFace }
    /// The network the next frame's faces are scored by.
    var network: Int { budget?.network ?? 0 }

    /// Classifies `first` with the frames already waiting that fit its batch, emits them in order,
    /// and goes on with the next batch while frames are waiting, so that none waits for the next
    /// to arrive.
    mutating func take(_ first: Detected, more: () -> Detected?, emit: (Recognised) -> Bool) throws(PipelineError) {
        var next: Detected? = first
        while let start = next {
            let (batch, report, left) = try classify(from: start, more: more)
            observer.classified(crops: report.crops, calls: report.calls, seconds: report.seconds, byNetwork: report.byNetwork)
            for r in batch where !emit(r) { return }
            next = left
        }
    }

    /// One batch: `first` and the waiting frames that fit with it (in real time, within its
    /// latency budget), classified in order; and the frame that did not fit, if one was taken.
    private mutating func classify(from first: Detected, more input: () -> Detected?) throws(PipelineError) -> ([Recognised], Report, Detected?) {
        var pending: Detected?
        var frames = [first]
        var plans = [plan(first)]
        var crops = plans[0].crops.reduce(0) { $0 + $1.count }
        while let more = input() {
            let extra = estimate(more)
            if crops + extra > batchCrops || (realtime && !fits(crops + extra, within: first)) {
                pending = more
                break
            }
            frames.append(more)
            plans.append(plan(more))
            crops += plans.last!.crops.reduce(0) { $0 + $1.count }
        }

        // Per network, calls of at most `batchCrops` crops (a face's crops stay in one call).
        let faces = zip(frames, plans).flatMap { d, p in d.crops.indices.map { (image: d.crops[$0], crops: p.crops[$0], network: p.networks[$0]) } }
        var scores = [[[Float]]](repeating: [], count: faces.count)
        var report = Report()
        let t0 = DispatchTime.now().uptimeNanoseconds
        for k in networks.indices {
            let mine = faces.indices.filter { faces[$0].network == k }
            guard !mine.isEmpty else { continue }
            let (part, calls, crops, busy) = try score(mine.map { faces[$0] }, network: k)
            for (i, p) in zip(mine, part) { scores[i] = p }
            if crops > 0 { report.byNetwork[networks[k].networkName, default: 0] += crops }
            report.calls += calls
            report.crops += crops
            if calls == 1 && !sizesSeen[k].insert(crops).inserted { costs[k].observe(crops: crops, seconds: busy) }
        }
        report.seconds = seconds(sinceNanos: t0)

        var results: [Recognised] = []
        var k = 0
        for (d, p) in zip(frames, plans) {
            var probabilities: [[Float]] = []
            for (face, list) in zip(d.faces, p.crops) {
                probabilities.append(ensemble.record(track: face.track, time: d.info.time, crops: list, probabilities: scores[k]))
                k += 1
            }
            if d.info.analysed { ensemble.forget(before: d.info.time) }
            results.append(Recognised(info: d.info, faces: d.faces, probabilities: probabilities))
        }
        return (results, report, pending)
    }

    /// Scores `faces` with network `k` in calls of at most `batchCrops` crops: their scores, and
    /// the calls, crops and seconds it took.
    private func score(_ faces: [(image: GrayImage, crops: [Int], network: Int)], network k: Int) throws(PipelineError)
        -> ([[[Float]]], Int, Int, Double) {
        var scores: [[[Float]]] = []
        var calls = 0, crops = 0
        let t0 = DispatchTime.now().uptimeNanoseconds
        var i = 0
        while i < faces.count {
            var j = i, n = 0
            while j < faces.count && (j == i || n + faces[j].crops.count <= batchCrops) { n += faces[j].crops.count; j += 1 }
            let chunk = faces[i..<j]
            do { scores += try networks[k].cropProbabilities(for: chunk.map(\.image), crops: chunk.map(\.crops)) } catch { throw PipelineError(error) }
            if n > 0 { calls += 1 }
            crops += n
            i = j
        }
        return (scores, calls, crops, seconds(sinceNanos: t0))
    }

    /// Chooses (and commits to) the network and the crops each face of `d` gets.
    private mutating func plan(_ d: Detected) -> (networks: [Int], crops: [[Int]]) {
        let full = classifier.cropsPerFace
        let time = d.info.time
        var better = Set<Int>()
        if budget != nil && d.info.analysed {
            detectSeconds += 0.2 * (d.detectSeconds - detectSeconds)
            let isNew = d.faces.map { ensemble.needsFullSet(track: $0.track, time: time) }
            let new = isNew.filter { $0 }.count
            let left = latency - seconds(sinceNanos: d.info.capturedAt)
            _ = budget!.choose(faces: d.faces.count, newFaces: new, fullSet: full, period: d.period,
                               busy: detectSeconds, deadline: left, costs: costs)
            // On the student's rungs, the time left goes to VGG19 crops, one face each, in turn.
            let known = d.faces.indices.filter { !isNew[$0] }
            let m = budget!.betterCrops(faces: d.faces.count, newFaces: new, fullSet: full, period: d.period, busy: detectSeconds,
                                        deadline: left, costs: costs, limit: min(known.count, Self.betterSizes.last ?? 0))
            for j in 0..<m { better.insert(known[(betterTurn + j) % known.count]) }
            if m > 0 { betterTurn = (betterTurn + m) % known.count }  // m > 0: some face is known
        }
        let networks = d.faces.indices.map { better.contains($0) ? 0 : network }
        let crops = d.faces.indices.map { i in ensemble.plan(track: d.faces[i].track, time: time, count: better.contains(i) ? 1 : perFace) }
        return (networks, crops)
    }

    /// Crops `d` would take now (without committing to them).
    private func estimate(_ d: Detected) -> Int {
        d.faces.reduce(0) { $0 + (ensemble.needsFullSet(track: $1.track, time: d.info.time) ? classifier.cropsPerFace : perFace) }
    }

    /// Whether `crops` crops, run now, would finish within `first`'s latency budget.
    private func fits(_ crops: Int, within first: Detected) -> Bool {
        guard let t = costs[network].seconds(for: crops) else { return true }
        return seconds(sinceNanos: first.info.capturedAt) + t <= latency
    }
}

func seconds(sinceNanos t0: UInt64) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds &- t0) / 1e9
}
