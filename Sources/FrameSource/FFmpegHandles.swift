import CFFmpeg
import FFmpegSupport
import Foundation

// Each FFmpeg allocation is owned by exactly one of these small classes and freed in its deinit.

/// An AVDictionary built from Swift options; freed on deinit.
final class OptionDictionary {
    var pointer: OpaquePointer?

    init(_ entries: [String: String]) {
        for (key, value) in entries.sorted(by: { $0.key < $1.key }) {
            av_dict_set(&pointer, key, value, 0)
        }
    }

    /// The keys still in the dictionary (after an open call, the options nobody consumed).
    var keys: [String] {
        var out: [String] = []
        var entry: UnsafeMutablePointer<AVDictionaryEntry>? = nil
        while let e = av_dict_get(pointer, "", entry, AV_DICT_IGNORE_SUFFIX) {
            out.append(String(cString: e.pointee.key))
            entry = e
        }
        return out
    }

    deinit { av_dict_free(&pointer) }
}

/// An opened demuxer (AVFormatContext); closed on deinit. Holds the interrupt state its callback
/// points at, so that state lives as long as the context.
final class InputContext {
    let pointer: UnsafeMutablePointer<AVFormatContext>
    let interrupt: InterruptState
    /// Option keys that the demuxer/protocol did not recognise.
    let ignoredOptions: [String]

    /// Opens `url`; on failure returns FFmpeg's error code through `FFmpegFailure`.
    init(url: String, format: UnsafePointer<AVInputFormat>?, options: [String: String],
         interrupt: InterruptState) throws(FFmpegFailure) {
        guard var ctx = avformat_alloc_context() else { throw FFmpegFailure(code: fer_averror(ENOMEM)) }
        ctx.pointee.interrupt_callback = interrupt.callback
        let dict = OptionDictionary(options)
        var maybe: UnsafeMutablePointer<AVFormatContext>? = ctx
        interrupt.arm()
        let rc = avformat_open_input(&maybe, url, format, &dict.pointer)
        interrupt.disarm()
        // On failure avformat_open_input frees the context and sets `maybe` to nil.
        guard rc >= 0, let opened = maybe else { throw FFmpegFailure(code: rc) }
        ctx = opened
        self.pointer = ctx
        self.interrupt = interrupt
        self.ignoredOptions = dict.keys
    }

    deinit {
        var p: UnsafeMutablePointer<AVFormatContext>? = pointer
        avformat_close_input(&p)
    }
}

/// An opened decoder (AVCodecContext); freed on deinit.
final class DecoderContext {
    let pointer: UnsafeMutablePointer<AVCodecContext>

    init(stream: UnsafeMutablePointer<AVStream>, codec: UnsafePointer<AVCodec>, threads: Int,
         options: [String: String]) throws(FFmpegFailure) {
        guard let ctx = avcodec_alloc_context3(codec) else { throw FFmpegFailure(code: fer_averror(ENOMEM)) }
        // Owned from here on: deinit frees it even if the steps below fail.
        pointer = ctx
        var rc = avcodec_parameters_to_context(ctx, stream.pointee.codecpar)
        guard rc >= 0 else { throw FFmpegFailure(code: rc) }
        ctx.pointee.pkt_timebase = stream.pointee.time_base
        ctx.pointee.thread_count = Int32(clamping: max(0, threads))
        ctx.pointee.thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE
        let dict = OptionDictionary(options)
        rc = avcodec_open2(ctx, codec, &dict.pointer)
        guard rc >= 0 else { throw FFmpegFailure(code: rc) }
    }

    deinit {
        var p: UnsafeMutablePointer<AVCodecContext>? = pointer
        avcodec_free_context(&p)
    }
}

/// A whole download, through FFmpeg's protocols (HTTP, HTTPS), copied into a temporary file
/// that is unlinked once opened by the demuxer: `path` is valid until this value is released.
final class SpoolFile {
    let path: String

    init(url: String, options: [String: String], interrupt: InterruptState) throws(FFmpegFailure) {
        let dir = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        path = "\(dir)/fer-stream-spool-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).mp4"
        var callback = interrupt.callback
        let dict = OptionDictionary(options)
        var io: UnsafeMutablePointer<AVIOContext>?
        interrupt.arm()
        var rc = avio_open2(&io, url, AVIO_FLAG_READ, &callback, &dict.pointer)
        interrupt.disarm()
        guard rc >= 0, let io else { throw FFmpegFailure(code: rc) }
        defer { var p: UnsafeMutablePointer<AVIOContext>? = io; avio_closep(&p) }
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw FFmpegFailure(code: fer_averror(errno)) }
        defer { close(fd) }
        let chunk = 1 << 16
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: chunk)
        defer { buffer.deallocate() }
        while true {
            interrupt.arm()
            rc = avio_read(io, buffer, Int32(chunk))
            interrupt.disarm()
            if rc == fer_averror_eof() || rc == 0 { break }
            guard rc > 0 else { unlink(path); throw FFmpegFailure(code: rc) }
            var done = 0
            while done < Int(rc) {
                let n = write(fd, buffer + done, Int(rc) - done)
                guard n > 0 else { unlink(path); throw FFmpegFailure(code: fer_averror(errno)) }
                done += n
            }
        }
    }

    deinit { unlink(path) }
}
