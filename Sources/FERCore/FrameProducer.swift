/// Where frames come from: `VideoSource` is the real one; `ReconnectingSource` wraps it for live
/// input; a library user may supply their own (frames from a camera API, a test).
public protocol FrameProducer: AnyObject, Sendable {
    /// Live sources (cameras, network streams) produce frames at their own pace.
    var isLive: Bool { get }
    func nextFrame() throws -> Frame?
    /// Makes a blocked `nextFrame` return soon (used to stop a run).
    func cancel()
}
