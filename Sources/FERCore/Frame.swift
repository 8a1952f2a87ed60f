/// One decoded video frame in grey (and optionally colour), as FrameSource hands it downstream.
public struct Frame: Sendable {
    /// 0-based index in decode order, counting every decoded frame.
    public let index: Int
    /// Presentation time in seconds from the stream's start.
    public let time: Double
    public let image: GrayImage
    /// The same picture in colour, when the source was asked to keep it (`--annotate`).
    public let colour: ColourPicture?

    public init(index: Int, time: Double, image: GrayImage, colour: ColourPicture? = nil) {
        self.index = index
        self.time = time
        self.image = image
        self.colour = colour
    }
}
