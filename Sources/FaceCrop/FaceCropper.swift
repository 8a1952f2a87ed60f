import FERCore

/// Cuts the square face patch the recogniser expects (48×48 grey, as FER2013).
///
/// The source square is centred on the box centre with side max(w, h)·(1 + margin); parts of
/// it past the frame edges repeat the edge pixels. When the square is larger than the output
/// (the usual case) and `antialias` is on, each output pixel is the mean of the source area it
/// covers; otherwise (or when enlarging) it is sampled bilinearly with `GrayImage.resampled`.
/// For smooth content both give the same values; area averaging avoids aliasing when a large
/// face is shrunk several times.
public struct FaceCropper: Sendable, Equatable {
    public var size: Int
    public var margin: Double
    public var antialias: Bool

    public init(size: Int = 48, margin: Double = 0.1, antialias: Bool = true) {
        precondition(size > 0, "FaceCropper: size must be positive")
        self.size = size
        self.margin = margin
        self.antialias = antialias
    }

    /// The source square for `box`, in frame pixels (may extend past the frame).
    public func sourceRect(for box: Box) -> Rect {
        let side = Double(max(box.width, box.height, 1)) * (1 + margin)
        let cx = Double(box.x) + Double(box.width) / 2
        let cy = Double(box.y) + Double(box.height) / 2
        return Rect(x: cx - side / 2, y: cy - side / 2, width: side, height: side)
    }

    /// A `size`×`size` grey patch of `image` around `box`.
    public func crop(_ image: GrayImage, box: Box) -> GrayImage {
        crop(image, square: sourceRect(for: box))
    }

    /// A `size`×`size` grey patch of `image` from the square `r` (frame pixels).
    public func crop(_ image: GrayImage, square r: Rect) -> GrayImage {
        precondition(image.width > 0 && image.height > 0, "FaceCropper: empty image")
        if antialias && r.width > Double(size) {
            return areaSample(image, r)
        }
        return image.resampled(from: r, toWidth: size, height: size)
    }

    /// Mean over each output pixel's source square, coverage-weighted, edges repeated.
    private func areaSample(_ image: GrayImage, _ r: Rect) -> GrayImage {
        let n = size
        func taps(_ origin: Double, _ extent: Double, _ limit: Int) -> (start: [Int], idx: [Int], wt: [Double]) {
            let k = extent / Double(n)
            var start = [0], idx: [Int] = [], wt: [Double] = []
            for o in 0..<n {
                let a = origin + Double(o) * k, b = a + k
                var i = Int(a.rounded(.down))
                while Double(i) < b {
                    let w = min(b, Double(i + 1)) - max(a, Double(i))
                    if w > 1e-12 { idx.append(min(max(i, 0), limit - 1)); wt.append(w / k) }
                    i += 1
                }
                start.append(idx.count)
            }
            return (start, idx, wt)
        }
        let tx = taps(r.x, r.width, image.width), ty = taps(r.y, r.height, image.height)
        var out = [UInt8](repeating: 0, count: n * n)
        var row = [Double](repeating: 0, count: n)
        image.pixels.withUnsafeBufferPointer { px in
            let w = image.width
            for oy in 0..<n {
                for i in 0..<n { row[i] = 0 }
                for t in ty.start[oy]..<ty.start[oy + 1] {
                    let base = ty.idx[t] * w
                    let wy = ty.wt[t]
                    for ox in 0..<n {
                        var acc = 0.0
                        for s in tx.start[ox]..<tx.start[ox + 1] { acc += Double(px[base + tx.idx[s]]) * tx.wt[s] }
                        row[ox] += acc * wy
                    }
                }
                for ox in 0..<n { out[oy * n + ox] = UInt8(min(max(row[ox].rounded(), 0), 255)) }
            }
        }
        return GrayImage(width: n, height: n, pixels: out)
    }
}
