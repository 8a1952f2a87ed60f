/// An 8-bit grey image, row-major and tightly packed (stride == width).
/// The one picture type that travels between stages.
public struct GrayImage: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(width >= 0 && height >= 0 && pixels.count == width * height,
                     "GrayImage: \(pixels.count) pixels for \(width)×\(height)")
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// A uniform image.
    public init(width: Int, height: Int, fill: UInt8 = 0) {
        self.init(width: width, height: height, pixels: [UInt8](repeating: fill, count: width * height))
    }

    @inlinable public subscript(x: Int, y: Int) -> UInt8 {
        get { pixels[y * width + x] }
        set { pixels[y * width + x] = newValue }
    }

    /// Samples the source rectangle `rect` (in this image's pixels, may extend past the edges:
    /// outside pixels repeat the nearest edge) into a `outWidth`×`outHeight` image with bilinear
    /// interpolation, pixel centres aligned as in OpenCV's `resize(INTER_LINEAR)`.
    public func resampled(from rect: Rect, toWidth outWidth: Int, height outHeight: Int) -> GrayImage {
        precondition(outWidth > 0 && outHeight > 0 && width > 0 && height > 0)
        var out = [UInt8](repeating: 0, count: outWidth * outHeight)
        let sx = rect.width / Double(outWidth)
        let sy = rect.height / Double(outHeight)
        pixels.withUnsafeBufferPointer { src in
            for oy in 0..<outHeight {
                let fy = rect.y + (Double(oy) + 0.5) * sy - 0.5
                let y0f = fy.rounded(.down)
                let wy = fy - y0f
                let y0 = Swift.min(Swift.max(Int(y0f), 0), height - 1)
                let y1 = Swift.min(Swift.max(Int(y0f) + 1, 0), height - 1)
                for ox in 0..<outWidth {
                    let fx = rect.x + (Double(ox) + 0.5) * sx - 0.5
                    let x0f = fx.rounded(.down)
                    let wx = fx - x0f
                    let x0 = Swift.min(Swift.max(Int(x0f), 0), width - 1)
                    let x1 = Swift.min(Swift.max(Int(x0f) + 1, 0), width - 1)
                    let a = Double(src[y0 * width + x0]), b = Double(src[y0 * width + x1])
                    let c = Double(src[y1 * width + x0]), d = Double(src[y1 * width + x1])
                    let v = (a * (1 - wx) + b * wx) * (1 - wy) + (c * (1 - wx) + d * wx) * wy
                    out[oy * outWidth + ox] = UInt8(Swift.min(Swift.max(v.rounded(), 0), 255))
                }
            }
        }
        return GrayImage(width: outWidth, height: outHeight, pixels: out)
    }

    /// The whole image resized bilinearly.
    /// The pixels of the rectangle (x, y, width, height), which must lie inside the image.
    public func cropped(x: Int, y: Int, width w: Int, height h: Int) -> GrayImage {
        precondition(x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= width && y + h <= height, "crop outside the image")
        var out = [UInt8](repeating: 0, count: w * h)
        for row in 0..<h { out[(row * w)..<(row * w + w)] = pixels[((y + row) * width + x)..<((y + row) * width + x + w)] }
        return GrayImage(width: w, height: h, pixels: out)
    }

    public func resized(toWidth w: Int, height h: Int) -> GrayImage {
        resampled(from: Rect(x: 0, y: 0, width: Double(width), height: Double(height)), toWidth: w, height: h)
    }
}

/// A rectangle with fractional coordinates, for sampling.
public struct Rect: Sendable, Equatable {
    public var x: Double, y: Double, width: Double, height: Double
    public init(x: Double, y: Double, width: Double, height: Double) {
        self.x = x; self.y = y; self.width = width; self.height = height
    }
}
