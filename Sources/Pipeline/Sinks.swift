import FERCore

/// How a sink takes frames when it is slower than the analysis.
public enum SinkDelivery: Sendable, Equatable {
    /// Every frame, in order: a slow sink holds the pipeline back (a file, the annotated video).
    case lossless
    /// A live consumer (a broker, a view): at most `capacity` frames wait for it; when full, the
    /// oldest waiting frame is dropped and counted (`SinkFrame.droppedBefore`), so it never
    /// stalls the analysis.
    case dropOldest(capacity: Int)
}

/// What every sink receives: one frame of one source, after labelling.
public struct SinkFrame: Sendable {
    /// The input it comes from.
    public let source: SourceName
    /// An analysed frame's result; for frames passed along only for their picture (`analysed`
    /// false, `--every` > 1 with an annotator), the latest analysed faces at this frame's index and time.
    public let result: FrameResult
    public let analysed: Bool
    /// The colour picture, when a sink wants pictures (`FrameSink.wantsEveryFrame`) and the source keeps colour.
    public let picture: ColourPicture?
    /// Frames this sink did not get just before this one because it fell behind (`.dropOldest`).
    public internal(set) var droppedBefore: Int
    /// When the frame was read (`DispatchTime` uptime nanoseconds; 0: not known), for a sink's own latency.
    public internal(set) var capturedAt: UInt64 = 0

    public init(source: SourceName, result: FrameResult, analysed: Bool = true, picture: ColourPicture? = nil, droppedBefore: Int = 0) {
        self.source = source
        self.result = result
        self.analysed = analysed
        self.picture = picture
        self.droppedBefore = droppedBefore
    }
}

/// A consumer of labelled frames: the line writer, the annotated video, a publisher. The pipeline
/// gives each sink its own queue and thread (`SinkDelivery`), so any number of them can follow one
/// analysis and one slow sink slows only what it must.
///
/// A sink that throws stops the run (an output that cannot be written is a failed run); a sink
/// that must not stop it (a publisher whose broker is away) counts and reports its own losses
/// instead (`droppedMessages`).
public protocol FrameSink: AnyObject, Sendable {
    /// For stats and messages, e.g. "stdout", "annotate", "mqtt://host/prefix".
    var name: String { get }
    var delivery: SinkDelivery { get }
    /// True for sinks that want every decoded frame with its picture (the annotated video);
    /// otherwise only analysed frames come, without pictures.
    var wantsEveryFrame: Bool { get }
    /// Called on the sink's own thread, in frame order.
    func consume(_ frame: SinkFrame) throws(PipelineError)
    /// Called once at the end of the source, also after a failure, so that what was delivered is kept.
    func finish() throws(PipelineError)
    /// Messages the sink itself could not deliver (e.g. dropped while a broker was away).
    var droppedMessages: Int { get }
}

extension FrameSink {
    public var wantsEveryFrame: Bool { false }
    public var droppedMessages: Int { 0 }
}
