import FERCore
import Pipeline

/// `--annotate out.mp4`: every frame of the input, re-encoded with each face's box, track id,
/// label and score, and a bar of its class probabilities (smoothed), in the label's colour.
/// The video opens on the first picture, at that picture's size.
///
/// `@unchecked Sendable`: it owns an FFmpeg encoder that one thread at a time drives (the
/// pipeline's annotate stage, then the caller after the run).
public final class VideoAnnotator: FrameAnnotator, @unchecked Sendable {
    public let path: String
    private let frameRate: Double?
    private var encoder: VideoEncoder?
    /// The run's classes (the model's), whose names and colours are drawn.
    public let labels: LabelSet

    /// Label colours of `labels`' classes, in order: `LabelSet.colour(at:)`, as in the other pictures.
    public static func colours(for labels: LabelSet) -> [YUV] {
        labels.indices.map { k in
            let c = labels.colour(at: k)
            return YUV(r: c.red, g: c.green, b: c.blue)
        }
    }
    /// FER2013's label colours, in `Emotion` order.
    public static let colours: [YUV] = colours(for: .fer2013)
    /// Tag text: black on light colours, white on dark ones.
    private static func ink(on c: YUV) -> YUV {
        c.y > 125 ? YUV(r: 0, g: 0, b: 0) : YUV(r: 255, g: 255, b: 255)
    }
    private static let barBackground = YUV(r: 0, g: 0, b: 0)

    /// Checks that `path` can be written as a video now, so a bad name fails before any work.
    public init(path: String, frameRate: Double?, labels: LabelSet = .fer2013) throws(PipelineError) {
        self.path = path
        self.frameRate = frameRate
        self.labels = labels
        _ = try VideoEncoder(path: path, width: 64, height: 64, frameRate: frameRate)
    }

    public func annotate(_ picture: ColourPicture, time: Double, faces: [FaceResult]) throws(PipelineError) {
        if encoder == nil {
            encoder = try VideoEncoder(path: path, width: picture.width, height: picture.height, frameRate: frameRate)
        }
        try encoder!.encode(Self.draw(faces, on: picture, labels: labels), time: time)
    }

    public func finish() throws(PipelineError) {
        try encoder?.finish()
    }

    /// `picture` with `faces` drawn in.
    public static func draw(_ faces: [FaceResult], on picture: ColourPicture, labels: LabelSet = .fer2013) -> ColourPicture {
        let colours = labels == .fer2013 ? Self.colours : Self.colours(for: labels)
        func colourOf(_ k: Int) -> YUV { colours.indices.contains(k) ? colours[k] : YUV(r: 255, g: 255, b: 255) }
        var painter = Painter(picture)
        // Font pixels ×1 up to 240 lines, ×2 at 480p and 720p, ×4 at 1080p.
        let scale = max(1, (picture.height + 150) / 300)
        let textHeight = PixelFont.glyphHeight * scale
        for face in faces {
            let b = face.box
            let colour = colourOf(face.label)
            painter.stroke(x: b.x, y: b.y, width: b.width, height: b.height, thickness: max(2, b.width / 60), colour)

            // "#3 HAPPY 91%" on a tag in the label's colour, above the box (inside it at the top edge).
            let score = face.score.isFinite ? "\(Int((face.score * 100).rounded()))%" : "?"
            let text = "#\(face.track) \(labels.name(at: face.label)) \(score)"
            let pad = scale
            let tagHeight = textHeight + 2 * pad
            let tagY = b.y - tagHeight >= 0 ? b.y - tagHeight : b.y
            painter.fill(x: b.x, y: tagY, width: PixelFont.width(of: text, scale: scale) + 2 * pad, height: tagHeight, colour)
            painter.text(text, x: b.x + pad, y: tagY + pad, scale: scale, ink(on: colour))

            // The class probabilities as one stacked bar under the box, each class in its colour.
            let barHeight = max(3, 2 * scale)
            let barY = b.y + b.height + 1 + barHeight <= picture.height ? b.y + b.height + 1 : b.y + b.height - barHeight
            painter.fill(x: b.x, y: barY, width: b.width, height: barHeight, barBackground)
            var left = 0.0
            for (k, p) in face.probs.enumerated() {
                let x0 = Int((left * Double(b.width)).rounded())
                left += Double(max(0, p))
                let x1 = Int((min(left, 1) * Double(b.width)).rounded())
                painter.fill(x: b.x + x0, y: barY, width: x1 - x0, height: barHeight, colourOf(k))
            }
        }
        return painter.picture
    }
}
