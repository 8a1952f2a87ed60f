import CFFmpeg
import FERCore

/// Converts decoded frames to 8-bit grey with swscale (full-range output, as `-pix_fmt gray`
/// gives), then turns them upright into a tightly packed `GrayImage`. Owns the SwsContext and a
/// reused, aligned scratch picture; recreates the context when the frame size, pixel format or
/// colour range changes.
final class GrayConverter {
    private var sws: OpaquePointer?
    private var key: (width: Int32, height: Int32, format: Int32, fullRange: Bool)?
    private var scratch: UnsafeMutablePointer<UInt8>?
    private var scratchBytes = 0
    private var scratchStride = 0
    // sws_scale reads four plane pointers and four strides.
    private let dstPlanes = UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>.allocate(capacity: 4)
    private let dstStrides = UnsafeMutablePointer<Int32>.allocate(capacity: 4)

    init() {
        dstPlanes.initialize(repeating: nil, count: 4)
        dstStrides.initialize(repeating: 0, count: 4)
    }

    deinit {
        sws_freeContext(sws)
        av_free(scratch)
        dstPlanes.deallocate()
        dstStrides.deallocate()
    }

    /// The grey picture of `frame`, turned by `orientation`. Throws a reason string's failure.
    func convert(_ frame: UnsafeMutablePointer<AVFrame>, orientation: Orientation) throws(FFmpegFailure) -> GrayImage {
        let w = frame.pointee.width, h = frame.pointee.height, fmt = frame.pointee.format
        guard w > 0, h > 0, fmt >= 0 else { throw FFmpegFailure(code: fer_averror_invaliddata()) }
        let fullRange = frame.pointee.color_range == AVCOL_RANGE_JPEG
        try prepare(width: w, height: h, format: fmt, fullRange: fullRange)

        let raw = UnsafeMutableRawPointer(frame)
        let planes = (raw + MemoryLayout<AVFrame>.offset(of: \AVFrame.data)!)
            .assumingMemoryBound(to: UnsafeMutablePointer<UInt8>?.self)
        let strides = (raw + MemoryLayout<AVFrame>.offset(of: \AVFrame.linesize)!)
            .assumingMemoryBound(to: Int32.self)
        dstPlanes[0] = scratch
        dstStrides[0] = Int32(scratchStride)
        let rows = planes.withMemoryRebound(to: UnsafePointer<UInt8>?.self, capacity: 8) { src in
            sws_scale(sws, src, strides, 0, h, dstPlanes, dstStrides)
        }
        guard rows == h, let scratch else { throw FFmpegFailure(code: rows < 0 ? rows : fer_averror_invaliddata()) }

        let (ow, oh) = orientation.outputSize(width: Int(w), height: Int(h))
        let pixels = [UInt8](unsafeUninitializedCapacity: ow * oh) { buf, count in
            orientation.apply(src: scratch, stride: scratchStride, width: Int(w), height: Int(h), dst: buf.baseAddress!)
            count = ow * oh
        }
        return GrayImage(width: ow, height: oh, pixels: pixels)
    }

    private func prepare(width w: Int32, height h: Int32, format: Int32, fullRange: Bool) throws(FFmpegFailure) {
        if let k = key, k.width == w, k.height == h, k.format == format, k.fullRange == fullRange { return }
        sws_freeContext(sws)
        sws = nil
        key = nil
        guard let ctx = sws_getContext(w, h, AVPixelFormat(rawValue: format), w, h, AV_PIX_FMT_GRAY8,
                                       SWS_BILINEAR, nil, nil, nil) else {
            throw FFmpegFailure(code: fer_averror(EINVAL))
        }
        sws = ctx
        if fullRange {
            // Pixel formats such as yuv420p carry the range in the frame, not in the format.
            var invTable: UnsafeMutablePointer<Int32>? = nil, table: UnsafeMutablePointer<Int32>? = nil
            var srcRange: Int32 = 0, dstRange: Int32 = 0
            var brightness: Int32 = 0, contrast: Int32 = 0, saturation: Int32 = 0
            if sws_getColorspaceDetails(ctx, &invTable, &srcRange, &table, &dstRange,
                                        &brightness, &contrast, &saturation) >= 0 {
                sws_setColorspaceDetails(ctx, invTable, 1, table, 1, brightness, contrast, saturation)
            }
        }
        // Rows 64-byte aligned, plus a spare row: room for SIMD writers that overshoot a little.
        let stride = (Int(w) + 63) & ~63
        let bytes = stride * (Int(h) + 1)
        if bytes > scratchBytes {
            av_free(scratch)
            scratch = av_malloc(bytes)?.assumingMemoryBound(to: UInt8.self)
            scratchBytes = scratch == nil ? 0 : bytes
            guard scratch != nil else { throw FFmpegFailure(code: fer_averror(ENOMEM)) }
        }
        scratchStride = stride
        key = (w, h, format, fullRange)
    }
}
