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
    /// Capacity of each queue between stages, in frames.
    public var queueDepth = 8
    public var smoothing = Smoothing.tau(seconds: 0.25)
    public var labelRule = LabelRule(hold: 0.3, margin: 0.1)
    /// A face is reported once detected in 3 consecutive analysed frames, and only a strong
    /// detection (see `Detection.strength`) starts one: this keeps the detector's false hits on
    /// background texture out. Set `minHits` 1 for pre-cropped input.
    public var tracker = FaceTracker.Options(minHits: 3, minBirthStrength: 4)
    /// Scan the whole frame for faces every this many analysed frames (and whenever no face is
    /// tracked); in between, look only around the tracked faces, which costs a fraction as much
    /// and leaves the CPU to the network. 1: the whole frame every time.
    public var detectEvery = 5
    /// Keep each track's smoothed probabilities over time in `summary.series` (for a timeline).
    public var keepsTimeline = false
    /// Real time: never fall behind the source. The decoder hands frames over through a one-frame
    /// slot that keeps the newest frame when the stages behind are busy; each line reports how many
    /// frames were skipped before it (`skipped`). Files are read at their own pace (as if live).
    public var realtime = false
    /// Called every `statsInterval` seconds with the stats so far (e.g. `--stats` on live input).
    public var periodicStats: (@Sendable (PipelineStats) -> Void)?
    public var statsInterval = 10.0
    /// Shown on stderr while running, if given.
    public var progress: ProgressLine?

    public init() {}
}

/// What a run did, for `--stats` and benchmarks.
public struct PipelineStats: Sendable {
    public var framesDecoded = 0
    public var framesAnalysed = 0
    public var faces = 0
    public var crops = 0
    public var networkCalls = 0
    /// Busy seconds per stage.
    public var decodeSeconds = 0.0
    public var detectSeconds = 0.0
    public var recogniseSeconds = 0.0
    public var writeSeconds = 0.0
    public var annotateSeconds = 0.0
    public var wallSeconds = 0.0
    /// Frames dropped in real-time mode because the stages behind were busy.
    public var framesSkipped = 0
    /// Capture-to-output latency of the most recent lines (at most 4096), in milliseconds.
    public var recentLatenciesMs: [Double] = []

    /// The p-th percentile (0…100) of `recentLatenciesMs`.
    public func latencyPercentile(_ p: Double) -> Double {
        guard !recentLatenciesMs.isEmpty else { return 0 }
        let sorted = recentLatenciesMs.sorted()
        return sorted[min(sorted.count - 1, Int((p / 100 * Double(sorted.count - 1)).rounded()))]
    }

    /// Mean test-time crops per face and analysed frame.
    public var meanCropsPerFace: Double { faces > 0 ? Double(crops) / Double(faces) : 0 }

    /// One JSON object, for `--stats` and the benchmarks.
    public var json: String {
        StatsRecord(self).json
    }
}

/// FrameSource → FaceCrop (detect, track, crop) → Recognizer (batched) → smoothing → writer,
/// each stage on its own Dispatch queue with a bounded queue before the next. Output stays in
/// frame order because every stage is a single FIFO worker.
public final class Pipeline: Sendable {
    private let source: FrameProducer
    private let detector: Detector
    private let cropper: FaceCropper
    private let recognizer: Recognizer
    private let writer: ResultWriter
    private let annotator: FrameAnnotator?
    private let options: PipelineOptions

    /// What the stages report as they go: read from any thread (`--stats` mid-run, `summary`).
    private struct Shared {
        var failure: PipelineError?
        var stats = PipelineStats()
        var trackSummary: TrackSummary
    }
    private let shared: Mutex<Shared>

    /// Per-track time on screen and class shares of what was written (complete after `run`).
    public var summary: TrackSummary { shared.withLock { $0.trackSummary } }

    public init(source: FrameProducer, detector: Detector, cropper: FaceCropper, recognizer: Recognizer,
                writer: ResultWriter, annotator: FrameAnnotator? = nil, options: PipelineOptions = .init()) {
        self.source = source
        self.detector = detector
        self.cropper = cropper
        self.recognizer = recognizer
        self.writer = writer
        self.annotator = annotator
        self.options = options
        shared = Mutex(Shared(trackSummary: TrackSummary(labels: recognizer.weights.labels)))
    }

    /// The run's classes: the model's (`NetworkWeights.labels`); labels are indices into them.
    public var labels: LabelSet { recognizer.weights.labels }

    /// Stops reading; frames already read are finished and written.
    public func stop() {
        source.cancel()
    }

    /// Runs to the end of the input. Everything written before a failure stays written.
    public func run() throws(PipelineError) -> PipelineStats {
        let start = Date()
        let paceFile = options.realtime && !source.isLive
        // In real time the queues are short, so that a busy network shows up as skipped frames
        // at once rather than as latency.
        let frames = BoundedQueue<Captured>(capacity: options.realtime ? 1 : options.queueDepth)
        let detected = BoundedQueue<Detected>(capacity: options.realtime ? 1 : options.queueDepth)
        let recognised = BoundedQueue<Recognised>(capacity: options.queueDepth)
        let toAnnotate = BoundedQueue<ToAnnotate>(capacity: options.queueDepth)
        let queues: [@Sendable () -> Void] = [frames.abort, detected.abort, recognised.abort, toAnnotate.abort]
        let group = DispatchGroup()

        func stage(_ label: String, _ body: @escaping @Sendable () throws(PipelineError) -> Void) {
            DispatchQueue(label: "fer-stream.\(label)").async(group: group) {
                do {
                    try body()
                } catch {
                    self.fail(PipelineError(error))
                    queues.forEach { $0() }
                    self.source.cancel()
                }
            }
        }

        stage("decode") { [self] () throws(PipelineError) in
            defer { frames.close() }
            var pace: (wall: UInt64, media: Double)?
            var period = 1.0 / 30, lastTime: Double?  // seconds per input frame, recently
            while true {
                let t0 = DispatchTime.now()
                let next: Frame?
                do { next = try source.nextFrame() } catch {
                    // A source failing part-way (a cut-off file, a lost stream): the frames already
                    // read are still finished and written, then the run reports the error.
                    self.fail(PipelineError(error))
                    return
                }
                let busy = seconds(since: t0)
                guard let frame = next else { self.update { $0.decodeSeconds += busy }; return }
                // The counters move with each frame, so that `--stats` mid-run reports them as they are.
                self.update { $0.framesDecoded += 1; $0.decodeSeconds += busy }
                if let last = lastTime, frame.time > last, frame.time - last < 1 {
                    period += 0.1 * ((frame.time - last) - period)
                }
                lastTime = frame.time
                let analyse = frame.index % options.every == 0
                if !analyse && annotator == nil { continue }
                if options.realtime {
                    // A file read in real time waits for each frame's presentation time.
                    if let p = pace {
                        let due = p.wall + UInt64(max(0, frame.time - p.media) * 1e9)
                        let now = DispatchTime.now().uptimeNanoseconds
                        if due > now { usleep(useconds_t(min((due - now) / 1000, 1_000_000))) }
                    } else if paceFile {
                        pace = (DispatchTime.now().uptimeNanoseconds, frame.time)
                    }
                }
                let item = Captured(frame: frame, capturedAt: DispatchTime.now().uptimeNanoseconds, skippedBefore: 0, analyse: analyse,
                                    period: period * Double(options.every))
                if options.realtime {
                    let ok = frames.putDroppingOldest(item) { new, dropped in
                        new.skippedBefore += dropped.skippedBefore + 1
                        self.update { $0.framesSkipped += 1 }
                    }
                    if !ok { return }
                } else if !frames.put(item) {
                    return
                }
            }
        }

        stage("detect") { [self] () throws(PipelineError) in
            defer { detected.close() }
            var tracker = FaceTracker(options: options.tracker)
            var sinceWholeFrame = Int.max - 1
            while let captured = frames.take() {
                let frame = captured.frame
                let t0 = DispatchTime.now()
                var faces: [TrackedFace] = [], crops: [GrayImage] = []
                if captured.analyse {
                    let known = tracker.liveBoxes
                    let detections: [Detection]
                    do {
                        if known.isEmpty || sinceWholeFrame + 1 >= options.detectEvery {
                            detections = try detector.detections(in: frame.image)
                            sinceWholeFrame = 0
                        } else {
                            detections = try detector.detections(in: frame.image, near: known)
                            sinceWholeFrame += 1
                        }
                    } catch {
                        throw PipelineError(error)
                    }
                    faces = tracker.update(detections: detections, time: frame.time)
                    crops = faces.map { cropper.crop(frame.image, face: $0) }
                }
                let busy = seconds(since: t0)
                self.update { $0.detectSeconds += busy }
                // An annotated video needs every picture: a frame without one would be dropped from it unseen.
                if annotator != nil && frame.colour == nil {
                    throw PipelineError.unexpected("frame \(frame.index) came without its colour picture, so it cannot be annotated")
                }
                let info = FrameInfo(index: frame.index, time: frame.time, capturedAt: captured.capturedAt,
                                     skippedBefore: captured.skippedBefore, analysed: captured.analyse,
                                     picture: annotator == nil ? nil : frame.colour)
                let item = Detected(info: info, faces: faces, crops: crops, period: captured.period, detectSeconds: busy)
                if !detected.put(item) { return }
            }
        }

        stage("classify") { [self] () throws(PipelineError) in
            defer { recognised.close() }
            var classify = ClassifyStage(recognizer: recognizer, options: options)
            while let (batch, report) = try classify.next(from: detected) {
                self.update { s in
                    s.recogniseSeconds += report.seconds
                    s.networkCalls += report.calls
                    s.crops += report.crops
                }
                for r in batch where !recognised.put(r) { return }
            }
        }

        stage("write") { [self] () throws(PipelineError) in
            defer { toAnnotate.close() }
            var shown: [FaceResult] = []  // the latest analysed frame's faces, for frames in between
            var smoother = TrackSmoother(options.smoothing, rule: options.labelRule)
            var summary = TrackSummary(labels: labels)
            summary.keepsSeries = options.keepsTimeline
            var lastReport = DispatchTime.now()
            defer { self.shared.withLock { [summary] in $0.trackSummary = summary } }
            while let item = recognised.take() {
                let r = item.info
                if !r.analysed {
                    if let picture = r.picture, !toAnnotate.put(ToAnnotate(picture: picture, time: r.time, faces: shown)) { return }
                    options.progress?.update(framesDone: r.index + 1)
                    continue
                }
                let t0 = DispatchTime.now()
                let faces = zip(item.faces, item.probabilities).map { face, raw in
                    let s = smoother.update(track: face.track, raw: raw, time: r.time)
                    return FaceResult(track: face.track, box: face.box, probs: s.probs, raw: raw, confidence: face.confidence,
                                      landmarks: face.landmarks, label: s.label, held: s.held)
                }
                smoother.endFrame()
                let result = FrameResult(frame: r.index, time: r.time, faces: faces, skipped: r.skippedBefore)
                try writer.write(result)
                shown = faces
                if let picture = r.picture, !toAnnotate.put(ToAnnotate(picture: picture, time: r.time, faces: faces)) { return }
                let latency = seconds(sinceNanos: r.capturedAt) * 1000
                self.update { s in
                    s.recentLatenciesMs.append(latency)
                    if s.recentLatenciesMs.count > 4096 { s.recentLatenciesMs.removeFirst(s.recentLatenciesMs.count - 4096) }
                }
                if let report = options.periodicStats, seconds(since: lastReport) >= options.statsInterval {
                    lastReport = DispatchTime.now()
                    report(self.shared.withLock { var s = $0.stats; s.wallSeconds = Date().timeIntervalSince(start); return s })
                }
                summary.add(result)
                options.progress?.update(framesDone: r.index + 1)
                let busy = seconds(since: t0)
                self.update { $0.framesAnalysed += 1; $0.faces += faces.count; $0.writeSeconds += busy }
            }
        }

        if let annotator {
            stage("annotate") { [self] () throws(PipelineError) in
                do throws(PipelineError) {
                    while let a = toAnnotate.take() {
                        let t0 = DispatchTime.now()
                        try annotator.annotate(a.picture, time: a.time, faces: a.faces)
                        let busy = seconds(since: t0)
                        self.update { $0.annotateSeconds += busy }
                    }
                } catch {
                    try? annotator.finish()  // keep what was encoded playable
                    throw error
                }
                try annotator.finish()
            }
        }

        group.wait()
        options.progress?.finish()
        update { $0.wallSeconds = Date().timeIntervalSince(start) }
        if let failure = shared.withLock({ $0.failure }) { throw failure }
        return shared.withLock { $0.stats }
    }

    private func fail(_ error: PipelineError) {
        shared.withLock { if $0.failure == nil { $0.failure = error } }
    }

    private func update(_ change: (inout PipelineStats) -> Void) {
        shared.withLock { change(&$0.stats) }
    }
}

private func seconds(since t0: DispatchTime) -> Double {
    seconds(sinceNanos: t0.uptimeNanoseconds)
}
