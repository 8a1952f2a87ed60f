import CFFmpeg
import FERCore

/// Converts decoded frames of any pixel format to upright planar YUV 4:2:0 (limited range) with
/// swscale, for `--annotate`. Recreated when the frame size or format changes.
final class ColourConverter {
    private struct Key: Equatable {
        var width: Int32, height: Int32, format: Int32, fullRange: Bool
    }

    private var key: Key?
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
        let w = frame.pointee.width, h = frame.pointee.height, fmt = frame.pointee.format
        guard w > 0, h > 0, fmt >= 0 else { throw FFmpegFailure(code: fer_averror_invaliddata()) }
        let k = Key(width: w, height: h, format: fmt, fullRange: frame.pointee.color_range == AVCOL_RANGE_JPEG)
        if k != key { try prepare(k) }

        let raw = UnsafeMutableRawPointer(frame)
        let src = (raw + MemoryLayout<AVFrame>.offset(of: \AVFrame.data)!)
            .assumingMemoryBound(to: UnsafePointer<UInt8>?.self)
        let srcStrides = (raw + MemoryLayout<AVFrame>.offset(of: \AVFrame.linesize)!)
            .assumingMemoryBound(to: Int32.self)
        let rows = sws_scale(sws, src, srcStrides, 0, h, planes, strides)
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

    private func prepare(_ k: Key) throws(FFmpegFailure) {
        sws_freeContext(sws)
        av_freep(planes)
        key = nil
        sws = sws_getContext(k.width, k.height, AVPixelFormat(rawValue: k.format), k.width, k.height,
                             AV_PIX_FMT_YUV420P, SWS_BILINEAR, nil, nil, nil)
        guard let sws else { throw FFmpegFailure(code: fer_averror(EINVAL)) }
        // Formats such as yuv420p carry their range in the frame: tell swscale, keep the output limited.
        var invTable: UnsafeMutablePointer<Int32>? = nil, table: UnsafeMutablePointer<Int32>? = nil
        var srcRange: Int32 = 0, dstRange: Int32 = 0
        var brightness: Int32 = 0, contrast: Int32 = 0, saturation: Int32 = 0
        if sws_getColorspaceDetails(sws, &invTable, &srcRange, &table, &dstRange, &brightness, &contrast, &saturation) >= 0 {
            sws_setColorspaceDetails(sws, invTable, k.fullRange ? 1 : srcRange, table, 0, brightness, contrast, saturation)
        }
        let size = av_image_alloc(planes, strides, k.width, k.height, AV_PIX_FMT_YUV420P, 64)
        guard size > 0 else { throw FFmpegFailure(code: size < 0 ? size : fer_averror(ENOMEM)) }
        key = k
    }
}
