import CFFmpeg
import FFmpegSupport
import FERCore

/// Converts decoded frames of any pixel format to upright planar YUV 4:2:0 (limited range) with
/// swscale, for `--annotate`. Recreated when the frame size or format changes.
final class ColourConverter {
    private var key: PictureKey?
    private var sws: OpaquePointer?
    // One av_image_alloc buffer holds the three planes; planes[0] owns it.
    private let planes = UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>.allocate(capacity: 4)
    private let strides = UnsafeMutablePointer<Int32>.allocate(capacity: 4)

    init() {
        planes.initialize(repeating: nil, count: 4)
        strides.initialize(repeating: 0, count: 4)
    }

    deinit {
        sws_freeContext(sws)
        av_freep(planes)
        planes.deallocate()
        strides.deallocate()
    }

    func convert(_ frame: UnsafeMutablePointer<AVFrame>, orientation: Orientation) throws(FFmpegFailure) -> ColourPicture {
        let k = try PictureKey(frame)
        if k != key { try prepare(k) }
        let w = k.width, h = k.height
        let (src, srcStrides) = frame.planes
        let rows = src.withMemoryRebound(to: UnsafePointer<UInt8>?.self, capacity: 8) {
            sws_scale(sws, $0, srcStrides, 0, h, planes, strides)
        }
        guard rows == h else { throw FFmpegFailure(code: rows < 0 ? rows : fer_averror_invaliddata()) }

        let (ow, oh) = orientation.outputSize(width: Int(w), height: Int(h))
        let cw = (Int(w) + 1) / 2, ch = (Int(h) + 1) / 2
        func plane(_ i: Int, _ pw: Int, _ ph: Int) -> [UInt8] {
            [UInt8](unsafeUninitializedCapacity: pw * ph) { buf, count in
                orientation.apply(src: planes[i]!, stride: Int(strides[i]), width: pw, height: ph, dst: buf.baseAddress!)
                count = pw * ph
            }
        }
        return ColourPicture(width: ow, height: oh, y: plane(0, Int(w), Int(h)), u: plane(1, cw, ch), v: plane(2, cw, ch))
    }

    private func prepare(_ k: PictureKey) throws(FFmpegFailure) {
        sws_freeContext(sws)
        av_freep(planes)
        key = nil
        sws = sws_getContext(k.width, k.height, AVPixelFormat(rawValue: k.format), k.width, k.height,
                             AV_PIX_FMT_YUV420P, SWS_BILINEAR, nil, nil, nil)
        guard let sws else { throw FFmpegFailure(code: fer_averror(EINVAL)) }
        // The output stays limited range, as encoders expect yuv420p.
        setRanges(sws, sourceFull: k.fullRange ? true : nil, destinationFull: false)
        let size = av_image_alloc(planes, strides, k.width, k.height, AV_PIX_FMT_YUV420P, 64)
        guard size > 0 else { throw FFmpegFailure(code: size < 0 ? size : fer_averror(ENOMEM)) }
        key = k
    }
}
