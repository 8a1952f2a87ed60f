import Dispatch
import FERCore
import Synchronization

/// What one sink did in a run, for `--stats`.
public struct SinkStats: Sendable, Equatable {
    public var name: String
    public var delivered = 0
    /// Frames dropped before the sink (it fell behind, `.dropOldest`) plus messages it dropped itself.
    public var dropped = 0
    public var busySeconds = 0.0
    /// Whether the sink takes every picture (the annotated video).
    public var takesPictures = false
    /// Whether frames may be dropped before it (`.dropOldest`).
    public var mayDrop = false
}

/// The last stage: hands each labelled frame to every sink, each behind its own queue and
/// thread (GStreamer's `tee` with a `queue` per branch). A `.lossless` sink's full queue holds the
/// pipeline back; a `.dropOldest` one drops its oldest waiting frame instead and counts it, so a
/// slow or absent consumer never stalls the analysis.
final class SinkFanOut: Sendable {
    private struct Lane: Sendable {
        let sink: any FrameSink
        let queue: BoundedQueue<SinkFrame>
        let lossless: Bool
    }
    private let lanes: [Lane]
    private let stats: Mutex<[SinkStats]>

    init(_ sinks: [any FrameSink], depth: Int) {
        lanes = sinks.map { sink in
            switch sink.delivery {
            case .lossless: Lane(sink: sink, queue: BoundedQueue(capacity: depth), lossless: true)
            case .dropOldest(let capacity): Lane(sink: sink, queue: BoundedQueue(capacity: max(1, capacity)), lossless: false)
            }
        }
        stats = Mutex(sinks.map { SinkStats(name: $0.name, takesPictures: $0.wantsEveryFrame, mayDrop: $0.delivery != .lossless) })
    }

    /// Whether any sink wants every frame with its picture.
    var wantsEveryFrame: Bool { lanes.contains { $0.sink.wantsEveryFrame } }

    /// Starts one thread per sink in `group`; a sink's failure goes to `failed`, after its `finish`.
    func start(in group: DispatchGroup, failed: @escaping @Sendable (PipelineError) -> Void) {
        for (i, lane) in lanes.enumerated() {
            DispatchQueue(label: "fer-stream.sink.\(lane.sink.name)").async(group: group) { [self] in
                var failure: PipelineError?
                do throws(PipelineError) {
                    while let frame = lane.queue.take() {
                        let t0 = DispatchTime.now().uptimeNanoseconds
                        try lane.sink.consume(frame)
                        let busy = seconds(sinceNanos: t0)
                        stats.withLock { $0[i].delivered += 1; $0[i].busySeconds += busy }
                    }
                } catch {
                    failure = error
                }
                // Finished also after a failure, so that what was delivered is kept; the first error counts.
                do throws(PipelineError) { try lane.sink.finish() } catch { failure = failure ?? error }
                if let failure {
                    lane.queue.abort()
                    failed(failure)
                }
            }
        }
    }

    /// Hands `frame` to every sink that wants it. False once a lossless sink has stopped (it
    /// failed, or the run was aborted): nothing downstream will take more.
    func put(_ frame: SinkFrame) -> Bool {
        for (i, lane) in lanes.enumerated() {
            let wantsAll = lane.sink.wantsEveryFrame
            if !frame.analysed && !wantsAll { continue }
            // Pictures are large: only the sinks that draw them keep them queued.
            var item = frame
            if !wantsAll && frame.picture != nil {
                item = SinkFrame(source: frame.source, result: frame.result, analysed: frame.analysed, picture: nil)
                item.capturedAt = frame.capturedAt
            }
            if lane.lossless {
                if !lane.queue.put(item) { return false }
            } else {
                lane.queue.putDroppingOldest(item) { new, dropped in
                    new.droppedBefore += dropped.droppedBefore + 1
                    stats.withLock { $0[i].dropped += 1 }
                }
            }
        }
        return true
    }

    /// No more frames: each sink drains its queue, then finishes.
    func close() { lanes.forEach { $0.queue.close() } }

    /// Stops at once (a failure elsewhere): what is queued is thrown away; sinks still finish.
    func abort() { lanes.forEach { $0.queue.abort() } }

    /// Per sink, in the order given (complete once the run's group is done).
    var report: [SinkStats] {
        stats.withLock { s in
            zip(s, lanes).map { st, lane in var x = st; x.dropped += lane.sink.droppedMessages; return x }
        }
    }
}

/// A `FrameAnnotator` (`--annotate`) as a lossless sink of every frame with its picture.
public final class AnnotatorSink: FrameSink {
    public let annotator: any FrameAnnotator
    public let name: String
    public var delivery: SinkDelivery { .lossless }
    public var wantsEveryFrame: Bool { true }

    public init(_ annotator: any FrameAnnotator, name: String = "annotate") {
        self.annotator = annotator
        self.name = name
    }

    public func consume(_ frame: SinkFrame) throws(PipelineError) {
        guard let picture = frame.picture else {
            throw .unexpected("frame \(frame.result.frame) came without its colour picture, so it cannot be annotated")
        }
        try annotator.annotate(picture, time: frame.result.time, faces: frame.result.faces)
    }

    public func finish() throws(PipelineError) {
        try annotator.finish()
    }
}

/// One sink shared by several pipelines (several inputs writing to one stdout, one broker
/// connection for every camera): each pipeline gets a `handle()`, their calls take turns, and the
/// inner sink finishes once, when its owner calls `finish()` after every pipeline has ended.
public final class SharedSink: Sendable {
    public let inner: any FrameSink
    private let turn = Mutex(())

    public init(_ inner: any FrameSink) {
        self.inner = inner
    }

    /// The handle one pipeline uses (its queue and thread are that pipeline's).
    public func handle() -> any FrameSink { Handle(shared: self) }

    /// Finishes the inner sink: call once every pipeline using it has ended.
    public func finish() throws(PipelineError) {
        try turn.withLock { _ throws(PipelineError) in try inner.finish() }
    }

    private final class Handle: FrameSink {
        let shared: SharedSink
        init(shared: SharedSink) { self.shared = shared }
        var name: String { shared.inner.name }
        var delivery: SinkDelivery { shared.inner.delivery }
        var wantsEveryFrame: Bool { shared.inner.wantsEveryFrame }
        // The inner sink's own losses belong to no one pipeline: its owner reports them.
        var droppedMessages: Int { 0 }

        func consume(_ frame: SinkFrame) throws(PipelineError) {
            try shared.turn.withLock { _ throws(PipelineError) in try shared.inner.consume(frame) }
        }

        func finish() throws(PipelineError) {}
    }
}
