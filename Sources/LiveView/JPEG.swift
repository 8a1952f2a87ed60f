import CTurboJPEG
import FERCore

/// JPEG from a frame's YUV 4:2:0 planes with libjpeg-turbo (`tjCompressFromYUVPlanes`: no RGB
/// conversion), scaled down first (nearest sample) to at most `maxWidth` pixels wide. One encoder
/// per thread (a TurboJPEG handle is not shared).
public final class JPEGEncoder {
    private let handle: tjhandle
    public let quality: Int32

    public init(quality: Int = 75) {
        handle = tjInitCompress()
        self.quality = Int32(max(1, min(100, quality)))
    }

    deinit { tjDestroy(handle) }

    /// The size `picture` is scaled to for `maxWidth` (even, so that 4:2:0 chroma stays whole).
    public static func scaledSize(width: Int, height: Int, maxWidth: Int) -> (width: Int, height: Int) {
        guard width > maxWidth, maxWidth > 0 else { return (width, height) }
        let w = max(2, maxWidth & ~1)
        let h = max(2, (Int((Double(height) * Double(w) / Double(width)).rounded()) + 1) & ~1)
        return (w, h)
    }

    /// The JPEG bytes, and the encoded size; nil if libjpeg-turbo fails.
    public func encode(_ picture: ColourPicture, maxWidth: Int) -> (bytes: [UInt8], width: Int, height: Int)? {
        let (w, h) = Self.scaledSize(width: picture.width, height: picture.height, maxWidth: maxWidth)
        var y = picture.y, u = picture.u, v = picture.v
        if w != picture.width || h != picture.height {
            y = Self.resample(picture.y, width: picture.width, height: picture.height, toWidth: w, toHeight: h)
            u = Self.resample(picture.u, width: picture.chromaWidth, height: picture.chromaHeight, toWidth: (w + 1) / 2, toHeight: (h + 1) / 2)
            v = Self.resample(picture.v, width: picture.chromaWidth, height: picture.chromaHeight, toWidth: (w + 1) / 2, toHeight: (h + 1) / 2)
        }
        var strides: [Int32] = [Int32(w), Int32((w + 1) / 2), Int32((w + 1) / 2)]
        var out: UnsafeMutablePointer<UInt8>?
        var size: UInt = 0
        let rc = y.withUnsafeBufferPointer { yp in
            u.withUnsafeBufferPointer { up in
                v.withUnsafeBufferPointer { vp in
                    var planes: [UnsafePointer<UInt8>?] = [yp.baseAddress, up.baseAddress, vp.baseAddress]
                    return planes.withUnsafeMutableBufferPointer { pp in
                        strides.withUnsafeMutableBufferPointer { sp in
                            tjCompressFromYUVPlanes(handle, pp.baseAddress, Int32(w), sp.baseAddress, Int32(h), Int32(TJSAMP_420.rawValue),
                                                    &out, &size, quality, Int32(TJFLAG_FASTDCT))
                        }
                    }
                }
            }
        }
        defer { if let out { tjFree(out) } }
        guard rc == 0, let out, size > 0 else { return nil }
        return (Array(UnsafeBufferPointer(start: out, count: Int(size))), w, h)
    }

    /// Nearest-sample scaling of one plane.
    static func resample(_ plane: [UInt8], width: Int, height: Int, toWidth: Int, toHeight: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: toWidth * toHeight)
        let xs = (0..<toWidth).map { min(width - 1, $0 * width / toWidth) }
        plane.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for j in 0..<toHeight {
                    let row = min(height - 1, j * height / toHeight) * width
                    let o = j * toWidth
                    for i in 0..<toWidth { dst[o + i] = src[row + xs[i]] }
                }
            }
        }
        return out
    }
}
