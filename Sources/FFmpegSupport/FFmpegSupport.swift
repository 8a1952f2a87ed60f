import CFFmpeg
#if canImport(Glibc)
import Glibc
#endif

// What FrameSource (decoding) and Annotation (encoding) both need from FFmpeg's C API, written once.

/// FFmpeg's message for an error code, e.g. "No such file or directory".
package func ffmpegMessage(_ code: Int32) -> String {
    withUnsafeTemporaryAllocation(of: CChar.self, capacity: Int(AV_ERROR_MAX_STRING_SIZE)) { buf in
        buf.initialize(repeating: 0)
        fer_av_strerror(code, buf.baseAddress!, buf.count)
        return String(cString: buf.baseAddress!)
    }
}

/// A negative FFmpeg return code, carried until a module turns it into its own error.
package struct FFmpegFailure: Error {
    package let code: Int32
    package init(code: Int32) { self.code = code }
    package var message: String { ffmpegMessage(code) }
}

extension UnsafeMutablePointer where Pointee == AVFrame {
    /// The frame's plane pointers and row strides, as swscale takes them (Swift sees the C arrays as tuples).
    package var planes: (data: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>, strides: UnsafeMutablePointer<Int32>) {
        let raw = UnsafeMutableRawPointer(self)
        return ((raw + MemoryLayout<AVFrame>.offset(of: \AVFrame.data)!).assumingMemoryBound(to: UnsafeMutablePointer<UInt8>?.self),
                (raw + MemoryLayout<AVFrame>.offset(of: \AVFrame.linesize)!).assumingMemoryBound(to: Int32.self))
    }
}

/// Tells swscale the source and destination colour ranges (formats such as yuv420p carry the
/// range in the frame, not in the format); nil keeps swscale's own choice.
package func setRanges(_ ctx: OpaquePointer, sourceFull: Bool?, destinationFull: Bool) {
    var invTable: UnsafeMutablePointer<Int32>? = nil, table: UnsafeMutablePointer<Int32>? = nil
    var srcRange: Int32 = 0, dstRange: Int32 = 0
    var brightness: Int32 = 0, contrast: Int32 = 0, saturation: Int32 = 0
    guard sws_getColorspaceDetails(ctx, &invTable, &srcRange, &table, &dstRange, &brightness, &contrast, &saturation) >= 0 else { return }
    sws_setColorspaceDetails(ctx, invTable, sourceFull.map { $0 ? 1 : 0 } ?? srcRange, table, destinationFull ? 1 : 0,
                             brightness, contrast, saturation)
}

/// A reusable AVPacket; freed on deinit.
package final class PacketBuffer {
    package let pointer: UnsafeMutablePointer<AVPacket>

    package init() throws(FFmpegFailure) {
        guard let p = av_packet_alloc() else { throw FFmpegFailure(code: fer_averror(ENOMEM)) }
        pointer = p
    }

    deinit {
        var p: UnsafeMutablePointer<AVPacket>? = pointer
        av_packet_free(&p)
    }
}

/// A reusable AVFrame; freed on deinit.
package final class FrameBuffer {
    package let pointer: UnsafeMutablePointer<AVFrame>

    package init() throws(FFmpegFailure) {
        guard let p = av_frame_alloc() else { throw FFmpegFailure(code: fer_averror(ENOMEM)) }
        pointer = p
    }

    deinit {
        var p: UnsafeMutablePointer<AVFrame>? = pointer
        av_frame_free(&p)
    }
}
