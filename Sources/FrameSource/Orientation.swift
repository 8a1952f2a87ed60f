import CFFmpeg
import FFmpegSupport

/// One of the eight right-angle orientations of a picture: how a decoded image is turned so that it
/// shows upright. Mirrors the choice `ffmpeg`/`ffplay` (5.1) make from a stream's display matrix.
public enum Orientation: Sendable, Equatable, CaseIterable {
    case identity
    /// Rotate 90° clockwise (ffmpeg's `transpose=clock`).
    case rotate90
    case rotate180
    /// Rotate 90° counter-clockwise (`transpose=cclock`).
    case rotate270
    case flipHorizontal
    case flipVertical
    /// Mirror across the main diagonal (`transpose=cclock_flip`).
    case transpose
    /// Mirror across the anti-diagonal (`transpose=clock_flip`).
    case antiTranspose

    /// Whether width and height swap.
    public var swapsAxes: Bool {
        switch self {
        case .rotate90, .rotate270, .transpose, .antiTranspose: return true
        default: return false
        }
    }

    /// The orientation for a display matrix (nine 16.16/2.30 fixed-point values), as ffmpeg 5.1's
    /// autorotate picks it. Angles that are not a multiple of 90° (±1°) give `.identity`.
    public init(displayMatrix m: [Int32]) {
        precondition(m.count == 9)
        let ccw = m.withUnsafeBufferPointer { av_display_rotation_get($0.baseAddress!) }
        guard ccw.isFinite else { self = .identity; return }
        var theta = -ccw.rounded()
        theta -= 360 * (theta / 360 + 0.9 / 360).rounded(.down)
        if abs(theta - 90) < 1 {
            self = m[3] > 0 ? .transpose : .rotate90
        } else if abs(theta - 180) < 1 {
            switch (m[0] < 0, m[4] < 0) {
            case (true, true): self = .rotate180
            case (true, false): self = .flipHorizontal
            case (false, true): self = .flipVertical
            case (false, false): self = .identity
            }
        } else if abs(theta - 270) < 1 {
            self = m[3] < 0 ? .antiTranspose : .rotate270
        } else if abs(theta) < 1 {
            self = m[4] < 0 ? .flipVertical : .identity
        } else {
            self = .identity
        }
    }

    /// Output size for a `width`×`height` input.
    func outputSize(width: Int, height: Int) -> (width: Int, height: Int) {
        swapsAxes ? (height, width) : (width, height)
    }

    /// Writes the turned copy of the `width`×`height` grey picture at `src` (rows `stride` bytes
    /// apart) into `dst`, tightly packed at the output size.
    func apply(src: UnsafePointer<UInt8>, stride s: Int, width w: Int, height h: Int,
               dst: UnsafeMutablePointer<UInt8>) {
        // Output pixel (X, Y) reads src[origin + X*stepX + Y*stepY].
        let origin: Int, stepX: Int, stepY: Int
        switch self {
        case .identity:
            for y in 0..<h { (dst + y * w).update(from: src + y * s, count: w) }
            return
        case .flipVertical:
            for y in 0..<h { (dst + y * w).update(from: src + (h - 1 - y) * s, count: w) }
            return
        case .rotate90: origin = (h - 1) * s; stepX = -s; stepY = 1
        case .rotate270: origin = w - 1; stepX = s; stepY = -1
        case .rotate180: origin = (h - 1) * s + w - 1; stepX = -1; stepY = -s
        case .flipHorizontal: origin = w - 1; stepX = -1; stepY = s
        case .transpose: origin = 0; stepX = s; stepY = 1
        case .antiTranspose: origin = (h - 1) * s + w - 1; stepX = -s; stepY = -1
        }
        let (ow, oh) = outputSize(width: w, height: h)
        // Tiles keep both the strided reads and the writes in cache.
        let tile = 32
        var ty = 0
        while ty < oh {
            let yEnd = min(ty + tile, oh)
            var tx = 0
            while tx < ow {
                let xEnd = min(tx + tile, ow)
                for y in ty..<yEnd {
                    let row = dst + y * ow
                    var p = origin + tx * stepX + y * stepY
                    for x in tx..<xEnd {
                        row[x] = src[p]
                        p += stepX
                    }
                }
                tx = xEnd
            }
            ty = yEnd
        }
    }
}
