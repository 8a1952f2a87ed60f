import FERCore
import Pipeline

/// `--annotate out.mp4`: every frame of the input, re-encoded with each face's box, track id,
/// label and score, and a bar of its seven probabilities (smoothed), in the label's colour.
/// The video opens on the first picture, at that picture's size.
public final class VideoAnnotator: FrameAnnotator {
    public let path: String
    private let frameRate: Double?
    private var encoder: VideoEncoder?

    /// Label colours, in `Emotion` order: `Emotion.colour`, as in the other pictures.
    public static let colours: [YUV] = Emotion.allCases.map { e in
        let c = e.colour
        return YUV(r: c.red, g: c.green, b: c.blue)
    }
    /// Tag text: black on light colours, white on dark ones.
    private static func ink(on c: YUV) -> YUV {
        c.y > 125 ? YUV(r: 0, g: 0, b: 0) : YUV(r: 255, g: 255, b: 255)
    }
    private static let barBackground = YUV(r: 0, g: 0, b: 0)

    /// Checks that `path` can be written as a video now, so a bad name fails before any work.
    public init(path: String, frameRate: Double?) throws(PipelineError) {
        self.path = path
        self.frameRate = frameRate
        _ = try VideoEncoder(path: path, width: 64, height: 64, frameRate: frameRate)
    }

    public func annotate(_ picture: ColourPicture, time: Double, faces: [FaceResult]) throws(PipelineError) {
        if encoder == nil {
            encoder = try VideoEncoder(path: path, width: picture.width, height: picture.height, frameRate: frameRate)
        }
        try encoder!.encode(Self.draw(faces, on: picture), time: time)
    }

    public func finish() throws(PipelineError) {
        try encoder?.finish()
    }

    /// `picture` with `faces` drawn in.
    public static func draw(_ faces: [FaceResult], on picture: ColourPicture) -> ColourPicture {
        var painter = Painter(picture)
        // Font pixels ×1 up to 240 lines, ×2 at 480p and 720p, ×4 at 1080p.
        let scale = max(1, (picture.height + 150) / 300)
        let textHeight = PixelFont.glyphHeight * scale
        for face in faces {
            let b = face.box
            let colour = colours[face.label.rawValue]
            painter.stroke(x: b.x, y: b.y, width: b.width, height: b.height, thickness: max(2, b.width / 60), colour)

            // "#3 HAPPY 91%" on a tag in the label's colour, above the box (inside it at the top edge).
            let text = "#\(face.track) \(face.label.name) \(Int((face.score * 100).rounded()))%"
            let pad = scale
            let tagHeight = textHeight + 2 * pad
            let tagY = b.y - tagHeight >= 0 ? b.y - tagHeight : b.y
            painter.fill(x: b.x, y: tagY, width: PixelFont.width(of: text, scale: scale) + 2 * pad, height: tagHeight, colour)
            painter.text(text, x: b.x + pad, y: tagY + pad, scale: scale, ink(on: colour))

            // The seven probabilities as one stacked bar under the box, each class in its colour.
            let barHeight = max(3, 2 * scale)
            let barY = b.y + b.height + 1 + barHeight <= picture.height ? b.y + b.height + 1 : b.y + b.height - barHeight
            painter.fill(x: b.x, y: barY, width: b.width, height: barHeight, barBackground)
            var left = 0.0
            for (k, p) in face.probs.enumerated() {
                let x0 = Int((left * Double(b.width)).rounded())
                left += Double(max(0, p))
                let x1 = Int((min(left, 1) * Double(b.width)).rounded())
                painter.fill(x: b.x + x0, y: barY, width: x1 - x0, height: barHeight, colours[k])
            }
        }
        return painter.picture
    }
}
