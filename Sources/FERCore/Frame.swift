/// One decoded video frame in grey, as FrameSource hands it downstream.
public struct Frame: Sendable {
    /// 0-based index in decode order, counting every decoded frame.
    public let index: Int
    /// Presentation time in seconds from the stream's start.
    public let time: Double
    public let image: GrayImage

    public init(index: Int, time: Double, image: GrayImage) {
        self.index = index
        self.time = time
        self.image = image
    }
}
