import Foundation
import FERCore
import FrameSource
import FaceCrop
import FaceDetection
import FaceTracking
import Recognizer
import Synchronization

/// Receives every frame in colour with the faces to show on it, in frame order, on its own
/// stage (`--annotate` re-encodes them as a video). Frames that are not analysed (`every` > 1)
/// come with the latest analysed faces.
public protocol FrameAnnotator: AnyObject, Sendable {
    func annotate(_ picture: ColourPicture, time: Double, faces: [FaceResult]) throws(PipelineError)
    /// Called once at the end, also after a failure, so that what was annotated is kept.
    func finish() throws(PipelineError)
}

/// Told how far a run has got: `update` after each frame is written, `finish` once at the end.
public protocol FrameProgress: Sendable {
    func update(framesDone: Int)
    func finish()
}

public struct PipelineOptions: Sendable {
    /// Analyse every Nth decoded frame.
    public var every = 1
    /// Most crops per network call; frames are batched together up to this.
    public var batch = 40
    /// Test-time crops per tracked face and frame (see `CropsPerFace`, `TemporalEnsemble`).
    public var cropsPerFace = CropsPerFace.auto
    /// Real time: seconds from reading a frame to its line that batching and the crop budget
    /// aim for.
    public var latency = 0.1
    /// Seconds a face's crop score stays in its probabilities (`TemporalEnsemble.maxAge`).
    public var ensembleMaxAge = 0.5
    /// How a face's crop scores follow a change of expression (`TemporalEnsemble.Onset`).
    public var ensembleOnset = TemporalEnsemble.Onset.default
    /// Capacity of each queue between stages, in frames.
    public var queueDepth = 8
    public var smoothing = Smoothing.tau(seconds: 0.25)
    public var labelRule = LabelRule(hold: 0.3, margin: 0.1)
    /// How faces are followed from frame to frame; nil: the settings that suit the detector
    /// (`Detector.trackerOptions`), whose detections' strengths differ in scale (a YuNet
    /// confidence is 0–1, a Haar window count is ≥ 1), so no one value suits them all.
    public var tracker: FaceTracker.Options?
    /// Scan the whole frame for faces every this many analysed frames (and whenever no face is
    /// tracked); in between, look only around the tracked faces, which costs a fraction as much
    /// and leaves the CPU to the network. 1: the whole frame every time.
    public var detectEvery = 5
    /// Each result names its source (`FrameResult.source`): for runs with several inputs.
    public var tagsSource = false
    /// Keep each track's smoothed probabilities over time in `summary.series` (for a timeline).
    public var keepsTimeline = false
    /// Real time: never fall behind the source. The decoder hands frames over through a one-frame
    /// slot that keeps the newest frame when the stages behind are busy; each line reports how many
    /// frames were skipped before it (`skipped`). Files are read at their own pace (as if live).
    /// nil: on for live sources (`FrameProducer.isLive`: cameras, network streams), off for files.
    public var realtime: Bool?
    /// Called every `statsInterval` seconds with the stats so far (e.g. `--stats` on live input).
    public var periodicStats: (@Sendable (PipelineStats) -> Void)?
    public var statsInterval = 10.0
    /// Told of each frame done, if given (e.g. `ProgressLine`, a line on stderr).
    public var progress: (any FrameProgress)?

    public init() {}
}

/// What a run did, for `--stats` and benchmarks.
public struct PipelineStats: Sendable {
    public var framesDecoded = 0
    public var framesAnalysed = 0
    public var faces = 0
    public var crops = 0
    /// Crops each network scored, by its name (`FaceClassifier.networkName`): in real time with
    /// the ladder, the model's and the cheap network's.
    public var cropsByNetwork: [String: Int] = [:]
    public var networkCalls = 0
    /// Busy seconds per stage.
    public var decodeSeconds = 0.0
    public var detectSeconds = 0.0
    public var recogniseSeconds = 0.0
    public var writeSeconds = 0.0
    public var annotateSeconds = 0.0
    /// Real time: the networks' warm-up before the first frame was read (`ClassifyStage.warmUp`).
    public var warmUpSeconds = 0.0
    public var wallSeconds = 0.0
    /// Frames dropped in real-time mode because the stages behind were busy.
    public var framesSkipped = 0
    /// Capture-to-output latency of the most recent lines (at most 4096), in milliseconds.
    public var recentLatenciesMs: [Double] = []
    /// The input (as given) these stats are for; nil in a total.
    public var source: String?
    /// Per sink: frames delivered and dropped.
    public var sinks: [SinkStats] = []
    /// In a total (`PipelineStats.total`): the inputs it adds up.
    public var sourceCount: Int?

    /// Several runs' stats (one per input, run at the same time) as one: counts and busy seconds
    /// add up, latencies are pooled, sinks of the same name add up, the wall time is the run's.
    public static func total(_ runs: [PipelineStats], wallSeconds: Double) -> PipelineStats {
        var t = PipelineStats()
        for r in runs {
            t.framesDecoded += r.framesDecoded; t.framesAnalysed += r.framesAnalysed; t.faces += r.faces; t.crops += r.crops
            t.cropsByNetwork.merge(r.cropsByNetwork, uniquingKeysWith: +)
            t.networkCalls += r.networkCalls; t.decodeSeconds += r.decodeSeconds; t.detectSeconds += r.detectSeconds
            t.recogniseSeconds += r.recogniseSeconds; t.writeSeconds += r.writeSeconds; t.annotateSeconds += r.annotateSeconds
            t.warmUpSeconds += r.warmUpSeconds
            t.framesSkipped += r.framesSkipped
            t.recentLatenciesMs += r.recentLatenciesMs
            for s in r.sinks {
                if let i = t.sinks.firstIndex(where: { $0.name == s.name }) {
                    t.sinks[i].delivered += s.delivered; t.sinks[i].dropped += s.dropped; t.sinks[i].busySeconds += s.busySeconds
                } else {
                    t.sinks.append(s)
                }
            }
        }
        t.wallSeconds = wallSeconds
        t.sourceCount = runs.count
        return t
    }

    /// The p-th percentile (0…100) of `recentLatenciesMs`.
    public func latencyPercentile(_ p: Double) -> Double {
        guard !recentLatenciesMs.isEmpty else { return 0 }
        let sorted = recentLatenciesMs.sorted()
        return sorted[min(sorted.count - 1, Int((p / 100 * Double(sorted.count - 1)).rounded()))]
    }

    /// Mean test-time crops per face and analysed frame.
    public var meanCropsPerFace: Double { faces > 0 ? Double(crops) / Double(faces) : 0 }
}

/// Sources → detect, track and crop → classify (a shared `FaceClassifier`, batched) → smooth and
/// label → any number of sinks. Each stage is a type of its own (`DecodeStage`, `DetectStage`,
/// `ClassifyStage`, `LabelStage`, `SinkFanOut`) on its own thread, with a bounded queue before
/// the next; `Pipeline` only wires them. Output stays in frame order because every stage is a
/// single FIFO worker.
public final class Pipeline: Sendable {
    public let name: SourceName
    private let source: FrameProducer
    private let detector: Detector
    private let cropper: FaceCropper
    private let classifier: any FaceClassifier
    private let fast: (any FaceClassifier)?
    private let sinks: [any FrameSink]
    private let options: PipelineOptions
    /// What this run uses: the options' own, else the detector's and the source's defaults.
    public let tracker: FaceTracker.Options
    public let realtime: Bool
    private let board: RunBoard
    private let fanOut: Mutex<SinkFanOut?> = Mutex(nil)

    /// Per-track time on screen and class shares of what was labelled (complete after `run`).
    public var summary: TrackSummary { board.summary }

    /// `classifier`: a `Recognizer` (run on the classify stage's thread) or a client of a
    /// `RecognizerService` shared with other pipelines. `fast`: a cheaper network over the same
    /// classes (the distilled student) that real time falls back to before skipping frames
    /// (`CropBudget`); never used for files or fixed crops per face.
    public init(source: FrameProducer, name: SourceName = SourceName("input"), detector: Detector, cropper: FaceCropper,
                classifier: any FaceClassifier, fast: (any FaceClassifier)? = nil, sinks: [any FrameSink],
                options: PipelineOptions = .init()) {
        self.fast = fast
        self.name = name
        self.source = source
        self.detector = detector
        self.cropper = cropper
        self.classifier = classifier
        self.sinks = sinks
        self.options = options
        tracker = options.tracker ?? detector.trackerOptions
        realtime = options.realtime ?? source.isLive
        board = RunBoard(labels: classifier.labels)
    }

    /// The run's classes: the model's; labels are indices into them.
    public var labels: LabelSet { classifier.labels }

    /// Stops reading; frames already read are finished and written.
    public func stop() {
        source.cancel()
    }

    /// Runs to the end of the input. Everything written before a failure stays written.
    /// Composes the stages, each on its own thread (`StageRunner`) with a bounded queue before the
    /// next, and nothing else: what each stage does is in its own type, the books in `RunBook`.
    public func run() throws(PipelineError) -> PipelineStats {
        let start = DispatchTime.now().uptimeNanoseconds
        // In real time the queues are short, so that a busy network shows up as skipped frames
        // at once rather than as latency.
        let depth = realtime ? 1 : options.queueDepth
        let frames = BoundedQueue<Captured>(capacity: depth)
        let detected = BoundedQueue<Detected>(capacity: depth)
        let recognised = BoundedQueue<Recognised>(capacity: options.queueDepth)
        let fanOut = SinkFanOut(sinks, depth: options.queueDepth)
        self.fanOut.withLock { $0 = fanOut }
        let group = DispatchGroup()
        let abort: @Sendable (PipelineError) -> Void = { [self] error in
            board.fail(error)
            frames.abort(); detected.abort(); recognised.abort(); fanOut.abort()
            source.cancel()
        }
        let book = RunBook(board: board, options: options, start: start, stats: { [self] in currentStats() })
        let runner = StageRunner(group: group, fail: abort)
        let (options, realtime, tracker, name, labels) = (self.options, self.realtime, self.tracker, self.name, self.labels)
        let (detector, cropper, classifier, fast, sourceIsLive) = (self.detector, self.cropper, self.classifier, self.fast, source.isLive)
        let keepsPictures = fanOut.wantsEveryFrame

        // In real time the decoder's hand-over keeps only the newest frame, counting the ones it drops.
        let decoded: Outlet<Captured> = realtime ? .newest(frames) { new, dropped in
            new.skippedBefore += dropped.skippedBefore + 1
            book.skipped()
        } : .lossless(frames)
        // Real time: the first frame is read once the networks are warm (`ClassifyStage.warmUp`).
        let warm = DispatchSemaphore(value: 0)
        runner.start("decode", { () -> DecodeStage in
                         if realtime { warm.wait() }
                         return DecodeStage(every: options.every, realtime: realtime, sourceIsLive: sourceIsLive, passesEveryFrame: keepsPictures)
                     },
                     from: source.inlet(observer: book), to: decoded)
        runner.start("detect", { DetectStage(detector: detector, cropper: cropper, tracker: tracker, options: options,
                                            keepsPictures: keepsPictures, observer: book) },
                     from: .queue(frames), to: .lossless(detected))
        runner.start("classify", { () -> ClassifyStage in
                         defer { warm.signal() }
                         var stage = ClassifyStage(classifier: classifier, fast: fast, options: options, realtime: realtime, observer: book)
                         book.warmedUp(seconds: stage.warmUp())
                         return stage
                     },
                     from: .queue(detected), to: .lossless(recognised))
        fanOut.start(in: group, failed: abort)
        runner.start("label", { LabelStage(source: name, labels: labels, options: options, observer: book) },
                     from: .queue(recognised), to: Outlet(put: { fanOut.put($0) }, close: { fanOut.close() }),
                     ended: { [board] label in board.summary = label.summary })

        group.wait()
        options.progress?.finish()
        board.update { $0.wallSeconds = seconds(sinceNanos: start) }
        if let failure = board.failure { throw failure }
        return currentStats()
    }

    /// The stats so far, while it runs (complete after `run`); the wall time is left at 0 until the end.
    public var statsSoFar: PipelineStats { currentStats() }

    /// The board's stats with the sinks' own.
    private func currentStats() -> PipelineStats {
        var s = board.stats
        s.source = name.input
        if let sinks = fanOut.withLock({ $0?.report }) {
            s.sinks = sinks
            // Busy time of the sinks by kind, as the stats have always split it.
            s.writeSeconds += sinks.filter { !$0.takesPictures }.reduce(0) { $0 + $1.busySeconds }
            s.annotateSeconds += sinks.filter(\.takesPictures).reduce(0) { $0 + $1.busySeconds }
        }
        return s
    }
}

/// The books of one run, kept as the stages report (`StageObserver`): the stats on the board, the
/// progress display, and the periodic stats of a long run.
private final class RunBook: StageObserver {
    private let board: RunBoard
    private let progress: (any FrameProgress)?
    private let periodicStats: (@Sendable (PipelineStats) -> Void)?
    private let statsInterval: Double
    private let start: UInt64
    private let stats: @Sendable () -> PipelineStats
    private let lastReport: Mutex<UInt64>

    init(board: RunBoard, options: PipelineOptions, start: UInt64, stats: @escaping @Sendable () -> PipelineStats) {
        self.board = board
        progress = options.progress
        periodicStats = options.periodicStats
        statsInterval = options.statsInterval
        self.start = start
        self.stats = stats
        lastReport = Mutex(DispatchTime.now().uptimeNanoseconds)
    }

    func read(seconds busy: Double, gotFrame: Bool) {
        board.update { s in
            if gotFrame { s.framesDecoded += 1 }
            s.decodeSeconds += busy
        }
    }

    func sourceFailed(_ error: PipelineError) { board.fail(error) }

    func skipped() { board.update { $0.framesSkipped += 1 } }

    func detected(seconds busy: Double) { board.update { $0.detectSeconds += busy } }

    func warmedUp(seconds busy: Double) { board.update { $0.warmUpSeconds += busy } }

    func classified(crops: Int, calls: Int, seconds busy: Double, byNetwork: [String: Int]) {
        board.update { s in
            s.cropsByNetwork.merge(byNetwork, uniquingKeysWith: +)
            s.recogniseSeconds += busy
            s.networkCalls += calls
            s.crops += crops
        }
    }

    func labelled(_ frame: SinkFrame, index: Int, capturedAt: UInt64, busy: Double) {
        progress?.update(framesDone: index + 1)
        guard frame.analysed else { return }
        let latency = seconds(sinceNanos: capturedAt) * 1000
        board.update { s in
            s.recentLatenciesMs.append(latency)
            if s.recentLatenciesMs.count > 4096 { s.recentLatenciesMs.removeFirst(s.recentLatenciesMs.count - 4096) }
            s.framesAnalysed += 1
            s.faces += frame.result.faces.count
            s.writeSeconds += busy
        }
        if let report = periodicStats {
            let due = lastReport.withLock { last in
                guard seconds(sinceNanos: last) >= statsInterval else { return false }
                last = DispatchTime.now().uptimeNanoseconds
                return true
            }
            if due {
                var s = stats()
                s.wallSeconds = seconds(sinceNanos: start)
                report(s)
            }
        }
    }
}
