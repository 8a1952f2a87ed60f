import CFFmpeg
import FFmpegSupport
import FERCore

/// Converts decoded frames to 8-bit grey as swscale does (`AV_PIX_FMT_GRAY8`, full range: the
/// same bytes as `ffmpeg -pix_fmt gray`), then turns them upright into a tightly packed
/// `GrayImage`.
///
/// For pixel formats whose luma is a plain 8-bit plane (yuv420p, yuvj420p, nv12, gray...), grey
/// depends only on each luma byte, so swscale's mapping is captured once in a 256-entry table by
/// converting a probe picture holding every value, and frames go through the table: the same
/// result at a fraction of swscale's cost. Other formats (RGB, high bit depth...) use swscale per
/// frame. Everything is recreated when the frame size, pixel format or colour range changes.
final class GrayConverter {
    private var key: PictureKey?
    /// swscale's byte mapping for the current format, when it has one.
    private var table: [UInt8]?
    /// Per-frame swscale context, for formats without a table.
    private var sws: OpaquePointer?
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

    /// The grey picture of `frame`, turned by `orientation`.
    func convert(_ frame: UnsafeMutablePointer<AVFrame>, orientation: Orientation) throws(FFmpegFailure) -> GrayImage {
        let k = try PictureKey(frame)
        if k != key { try prepare(k) }
        let w = k.width, h = k.height
        let (planes, strides) = frame.planes
        let (ow, oh) = orientation.outputSize(width: Int(w), height: Int(h))

        if let table, let luma = planes[0] {
            if orientation == .identity {
                // Straight from the decoder's plane into the output array.
                let pixels = [UInt8](unsafeUninitializedCapacity: ow * oh) { buf, count in
                    table.withUnsafeBufferPointer { t in
                        fer_map_plane(luma, strides[0], buf.baseAddress!, w, w, h, t.baseAddress!)
                    }
                    count = ow * oh
                }
                return GrayImage(width: ow, height: oh, pixels: pixels)
            }
            table.withUnsafeBufferPointer { t in
                fer_map_plane(luma, strides[0], scratch!, Int32(scratchStride), w, h, t.baseAddress!)
            }
        } else {
            dstPlanes[0] = scratch
            dstStrides[0] = Int32(scratchStride)
            let rows = planes.withMemoryRebound(to: UnsafePointer<UInt8>?.self, capacity: 8) { src in
                sws_scale(sws, src, strides, 0, h, dstPlanes, dstStrides)
            }
            guard rows == h else { throw FFmpegFailure(code: rows < 0 ? rows : fer_averror_invaliddata()) }
        }
        guard let scratch else { throw FFmpegFailure(code: fer_averror(ENOMEM)) }
        let pixels = [UInt8](unsafeUninitializedCapacity: ow * oh) { buf, count in
            orientation.apply(src: scratch, stride: scratchStride, width: Int(w), height: Int(h), dst: buf.baseAddress!)
            count = ow * oh
        }
        return GrayImage(width: ow, height: oh, pixels: pixels)
    }

    private func prepare(_ k: PictureKey) throws(FFmpegFailure) {
        sws_freeContext(sws)
        sws = nil
        key = nil
        table = nil
        let format = AVPixelFormat(rawValue: k.format)
        if Self.hasPlainLuma(format) {
            table = Self.probeTable(format: format, fullRange: k.fullRange)
        }
        if table == nil {
            guard let ctx = Self.makeContext(width: k.width, height: k.height, format: format, fullRange: k.fullRange) else {
                throw FFmpegFailure(code: fer_averror(EINVAL))
            }
            sws = ctx
        }
        // Rows 64-byte aligned, plus a spare row: room for SIMD writers that overshoot a little.
        let stride = (Int(k.width) + 63) & ~63
        let bytes = stride * (Int(k.height) + 1)
        if bytes > scratchBytes {
            av_free(scratch)
            scratch = av_malloc(bytes)?.assumingMemoryBound(to: UInt8.self)
            scratchBytes = scratch == nil ? 0 : bytes
            guard scratch != nil else { throw FFmpegFailure(code: fer_averror(ENOMEM)) }
        }
        scratchStride = stride
        key = k
    }

    /// A same-size conversion context to GRAY8; `fullRange` marks a YUV source as full range
    /// (formats such as yuv420p carry the range in the frame, not in the format).
    private static func makeContext(width: Int32, height: Int32, format: AVPixelFormat, fullRange: Bool) -> OpaquePointer? {
        guard let ctx = sws_getContext(width, height, format, width, height, AV_PIX_FMT_GRAY8,
                                       SWS_BILINEAR, nil, nil, nil) else { return nil }
        if fullRange { setRanges(ctx, sourceFull: true, destinationFull: true) }
        return ctx
    }

    /// True when the format's luma is plane 0, one byte per pixel, 8 bits, not RGB/palette/hardware.
    static func hasPlainLuma(_ format: AVPixelFormat) -> Bool {
        guard let d = av_pix_fmt_desc_get(format) else { return false }
        let excluded = UInt64(AV_PIX_FMT_FLAG_RGB | AV_PIX_FMT_FLAG_PAL | AV_PIX_FMT_FLAG_BITSTREAM |
                              AV_PIX_FMT_FLAG_HWACCEL | AV_PIX_FMT_FLAG_BAYER | AV_PIX_FMT_FLAG_FLOAT)
        let y = d.pointee.comp.0
        return d.pointee.flags & excluded == 0 && d.pointee.nb_components >= 1 &&
            y.plane == 0 && y.step == 1 && y.offset == 0 && y.shift == 0 && y.depth == 8
    }

    /// swscale's luma→grey mapping for `format`, read off a 256×2 probe picture holding every luma
    /// value (rising in row 0, falling in row 1, neutral chroma). Nil unless both rows agree, i.e.
    /// unless the mapping really is per value.
    static func probeTable(format: AVPixelFormat, fullRange: Bool) -> [UInt8]? {
        let w: Int32 = 256, h: Int32 = 2
        guard let ctx = makeContext(width: w, height: h, format: format, fullRange: fullRange) else { return nil }
        defer { sws_freeContext(ctx) }
        let src = UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>.allocate(capacity: 4)
        let srcStrides = UnsafeMutablePointer<Int32>.allocate(capacity: 4)
        src.initialize(repeating: nil, count: 4)
        srcStrides.initialize(repeating: 0, count: 4)
        defer {
            av_freep(src)  // av_image_alloc puts every plane in one buffer, at src[0]
            src.deallocate()
            srcStrides.deallocate()
        }
        // One buffer holds every plane, starting at src[0]; fill it all with neutral 128.
        let size = av_image_alloc(src, srcStrides, w, h, format, 64)
        guard size > 0, let y = src[0], srcStrides[0] >= 256 else { return nil }
        y.update(repeating: 128, count: Int(size))
        for x in 0..<256 {
            y[x] = UInt8(x)
            y[Int(srcStrides[0]) + x] = UInt8(255 - x)
        }
        var out = [UInt8](repeating: 0, count: 64 * 4 + 256 * 2)  // stride 256 + slack
        let rows = out.withUnsafeMutableBufferPointer { buf -> Int32 in
            var dst: [UnsafeMutablePointer<UInt8>?] = [buf.baseAddress, nil, nil, nil]
            var dstStride: [Int32] = [256, 0, 0, 0]
            return src.withMemoryRebound(to: UnsafePointer<UInt8>?.self, capacity: 4) { s in
                sws_scale(ctx, s, srcStrides, 0, h, &dst, &dstStride)
            }
        }
        guard rows == h else { return nil }
        let table = Array(out[0..<256])
        for x in 0..<256 where out[256 + x] != table[255 - x] { return nil }
        return table
    }
}

/// What a converter is set up for; it sets itself up again when a frame differs.
struct PictureKey: Equatable {
    var width: Int32, height: Int32, format: Int32, fullRange: Bool

    init(_ frame: UnsafeMutablePointer<AVFrame>) throws(FFmpegFailure) {
        width = frame.pointee.width
        height = frame.pointee.height
        format = frame.pointee.format
        fullRange = frame.pointee.color_range == AVCOL_RANGE_JPEG
        guard width > 0, height > 0, format >= 0 else { throw FFmpegFailure(code: fer_averror_invaliddata()) }
    }
}
