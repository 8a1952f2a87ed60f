import FERCore

/// Draws boxes, bars and text onto a `ColourPicture`, clipped to its edges. Chroma is set for every
/// 2×2 block a shape touches, so thin lines keep their colour.
struct Painter {
    var picture: ColourPicture

    init(_ picture: ColourPicture) {
        self.picture = picture
    }

    /// Fills the rectangle (x, y, w, h), clipped to the picture.
    mutating func fill(x: Int, y: Int, width: Int, height: Int, _ c: YUV) {
        let x0 = max(0, x), y0 = max(0, y)
        let x1 = min(picture.width, x + width), y1 = min(picture.height, y + height)
        guard x0 < x1, y0 < y1 else { return }
        let w = picture.width, cw = picture.chromaWidth
        picture.y.withUnsafeMutableBufferPointer { p in
            for row in y0..<y1 { p[(row * w + x0)..<(row * w + x1)].update(repeating: c.y) }
        }
        for row in (y0 / 2)...((y1 - 1) / 2) {
            let range = (row * cw + x0 / 2)...(row * cw + (x1 - 1) / 2)
            picture.u.withUnsafeMutableBufferPointer { $0[range].update(repeating: c.u) }
            picture.v.withUnsafeMutableBufferPointer { $0[range].update(repeating: c.v) }
        }
    }

    /// The outline of (x, y, w, h), `thickness` pixels wide, drawn inside the rectangle.
    mutating func stroke(x: Int, y: Int, width: Int, height: Int, thickness t: Int, _ c: YUV) {
        let t = max(1, min(t, width / 2, height / 2))
        fill(x: x, y: y, width: width, height: t, c)
        fill(x: x, y: y + height - t, width: width, height: t, c)
        fill(x: x, y: y + t, width: t, height: height - 2 * t, c)
        fill(x: x + width - t, y: y + t, width: t, height: height - 2 * t, c)
    }

    /// `text` with its top-left corner at (x, y), each font pixel a `scale`×`scale` square.
    mutating func text(_ text: String, x: Int, y: Int, scale: Int, _ c: YUV) {
        var left = x
        for ch in text {
            let bits = PixelFont.bitmap(ch)
            for (row, mask) in bits.enumerated() {
                for col in 0..<PixelFont.glyphWidth where mask & (1 << (PixelFont.glyphWidth - 1 - col)) != 0 {
                    fill(x: left + col * scale, y: y + row * scale, width: scale, height: scale, c)
                }
            }
            left += (PixelFont.glyphWidth + PixelFont.spacing) * scale
        }
    }
}
