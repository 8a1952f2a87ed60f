import CFFmpeg
import FFmpegSupport
import FERCore

/// Registers libavdevice's inputs (video4linux2...) exactly once, thread-safely (Swift globals are
/// initialised lazily under a once-guard).
private let deviceRegistration: Void = { avdevice_register_all() }()

/// Decodes the best video stream of a file, stdin, URL or camera into upright grey frames.
///
/// `input` is a file path, `-` (stdin, FFmpeg's `pipe:0`), any URL FFmpeg reads (`http://`,
/// `rtsp://`, `file:`, `pipe:N`...), or `v4l2:/dev/videoN` (a V4L2 camera via libavdevice).
/// Not thread-safe, except `cancel()` / `canceller`, which may be used from any thread.
/// `@unchecked Sendable`: it owns FFmpeg contexts that one thread at a time reads from (the
/// pipeline's decode stage); only the cancel flag (a `SourceCanceller`, Sendable) is shared.
public final class VideoSource: @unchecked Sendable {
    /// The input as given.
    public let input: String
    /// Picture size of the frames, after rotation (frames carry their own size should it change
    /// mid-stream).
    public let width: Int
    public let height: Int
    /// Frames per second (average rate, else the stream's base rate); nil when unknown.
    public let frameRate: Double?
    /// Length in seconds; nil when unknown (live sources, pipes of some formats).
    public let duration: Double?
    /// Frame count from the container, else duration × frame rate; nil when unknown.
    public let estimatedFrameCount: Int?
    /// FFmpeg's short codec name, e.g. "h264".
    public let codecName: String
    /// The demuxer's name, e.g. "mov,mp4,m4a,3gp,3g2,mj2".
    public let formatName: String
    /// True for cameras (v4l2, capture devices) and network streaming protocols (rtsp, rtmp, udp,
    /// srt...); false for files, stdin and http downloads.
    public let isLive: Bool
    /// How decoded pictures are turned to be upright (from the stream's display matrix).
    public let orientation: Orientation
    /// Keys of `SourceOptions.formatOptions` that the demuxer/protocol did not use.
    public let ignoredFormatOptions: [String]
    /// The stop flag FFmpeg's interrupt callback checks; hand it to another thread to cancel.
    public let canceller: SourceCanceller

    private let displayName: String
    private let format: InputContext
    private let decoder: DecoderContext
    private let packet: PacketBuffer
    private let frame: FrameBuffer
    private let converter = GrayConverter()
    /// Set when the caller wants colour frames too.
    private let colourConverter: ColourConverter?
    private let streamIndex: Int32
    private let timeBase: Double
    private let startTime: Int64

    /// Where a whole file's video should end (seconds from its start), from the container; nil
    /// for live sources or when the container does not say. Used to tell a cut-off file from a
    /// complete one, since demuxers report both as a plain end of file.
    private let expectedEnd: Double?
    /// Time of the last frame delivered.
    private var lastTime: Double?

    private var nextIndex = 0
    private var draining = false
    private var finished = false
    /// A read error met before the end: reported once the decoder has given its buffered frames.
    private var pendingError: FrameSourceError?
    private var consecutiveDecodeErrors = 0
    /// When reads started answering "try again" (EAGAIN), if they still do.
    private var waitingSince: Int64?
    /// Decode errors tolerated in a row (damaged packets are skipped, as ffmpeg does) before giving up.
    private static let maxConsecutiveDecodeErrors = 64

    public init(_ input: String, options: SourceOptions = .init()) throws {
        self.input = input
        let name = input
        displayName = name
        _ = deviceRegistration

        colourConverter = options.keepsColour ? ColourConverter() : nil
        let resolved = Self.resolve(input, inputFormat: options.inputFormat)
        let url = resolved.url
        var live = resolved.live
        var inputFormat: UnsafePointer<AVInputFormat>? = nil
        if let formatName = resolved.formatName {
            guard let f = av_find_input_format(formatName) else {
                throw FrameSourceError.openFailed(input: name, reason: "unknown input format '\(formatName)'")
            }
            inputFormat = f
        }

        let canceller = options.canceller ?? SourceCanceller()
        self.canceller = canceller
        let interrupt = InterruptState(canceller: canceller, timeout: options.ioTimeout)
        func failure(_ f: FFmpegFailure, _ make: (String) -> FrameSourceError) -> FrameSourceError {
            if canceller.isCancelled { return .cancelled(input: name) }
            if interrupt.timedOut, let t = interrupt.timeout { return .timedOut(input: name, seconds: t) }
            return make(f.message)
        }

        var opened: InputContext
        do {
            opened = try InputContext(url: url, format: inputFormat, options: options.formatOptions, interrupt: interrupt)
        } catch {
            throw failure(error) { .openFailed(input: name, reason: unresolvedHostReason(url: url, code: error.code) ?? $0) }
        }
        if Self.needsSpool(opened, url: url) {
            // An mp4 whose index (moov) follows its data, from an HTTP server that ignores Range
            // requests: the demuxer read past the data to find the index and cannot go back to it.
            // The whole file is downloaded once more, to an unlinked temporary file, and read there.
            do {
                let spool = try SpoolFile(url: url, options: options.formatOptions, interrupt: interrupt)
                opened = try InputContext(url: spool.path, format: inputFormat, options: [:], interrupt: interrupt)
            } catch {
                throw failure(error) { .readFailed(input: name, reason: "the server cannot seek (no HTTP Range support) and the file's index is at its end; downloading it failed: \($0)") }
            }
        }
        format = opened
        ignoredFormatOptions = format.ignoredOptions
        let fmt = format.pointer
        self.formatName = fmt.pointee.iformat.map { String(cString: $0.pointee.name) } ?? ""
        if let cls = fmt.pointee.iformat?.pointee.priv_class,
           cls.pointee.category == AV_CLASS_CATEGORY_DEVICE_VIDEO_INPUT || cls.pointee.category == AV_CLASS_CATEGORY_DEVICE_INPUT {
            live = true
        }
        isLive = live

        interrupt.arm()
        let infoRC = avformat_find_stream_info(fmt, nil)
        interrupt.disarm()
        if infoRC < 0 && (fmt.pointee.nb_streams == 0 || canceller.isCancelled || interrupt.timedOut) {
            throw failure(FFmpegFailure(code: infoRC)) { .openFailed(input: name, reason: $0) }
        }

        let (best, codec) = try Self.pickVideoStream(fmt, input: name)
        let stream = fmt.pointee.streams[Int(best)]!
        streamIndex = best
        for i in 0..<Int(fmt.pointee.nb_streams) where i != Int(streamIndex) {
            fmt.pointee.streams[i]?.pointee.discard = AVDISCARD_ALL
        }
        let par = stream.pointee.codecpar.pointee
        codecName = String(cString: avcodec_get_name(par.codec_id))

        do {
            decoder = try DecoderContext(stream: stream, codec: codec, threads: options.threads, options: options.decoderOptions)
            packet = try PacketBuffer()
            frame = try FrameBuffer()
        } catch {
            throw FrameSourceError.decodeFailed(input: name, reason: "cannot open \(codecName) decoder: \(error.message)")
        }

        // Orientation from the display matrix side data, if any.
        var sideSize = 0
        if let side = av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, &sideSize),
           sideSize >= 9 * MemoryLayout<Int32>.size {
            let m = UnsafeRawPointer(side).withMemoryRebound(to: Int32.self, capacity: 9) { Array(UnsafeBufferPointer(start: $0, count: 9)) }
            orientation = Orientation(displayMatrix: m)
        } else {
            orientation = .identity
        }
        let size = orientation.outputSize(width: Int(par.width), height: Int(par.height))
        width = size.width
        height = size.height

        let tb = stream.pointee.time_base
        timeBase = tb.den != 0 ? av_q2d(tb) : 0
        let nopts = fer_nopts_value()
        startTime = stream.pointee.start_time == nopts ? 0 : stream.pointee.start_time

        let rate: Double? = [stream.pointee.avg_frame_rate, stream.pointee.r_frame_rate]
            .first { $0.num > 0 && $0.den > 0 }
            .map { av_q2d($0) }
        frameRate = rate
        var length: Double? = nil
        if stream.pointee.duration != nopts && stream.pointee.duration > 0 && timeBase > 0 {
            length = Double(stream.pointee.duration) * timeBase
        } else if fmt.pointee.duration != nopts && fmt.pointee.duration > 0 {
            length = Double(fmt.pointee.duration) / Double(AV_TIME_BASE)
        }
        duration = length
        // Only the video stream's own length, or the file's when video is all it holds: a longer
        // audio track must not make a complete video look cut off.
        if !live && stream.pointee.duration != nopts && stream.pointee.duration > 0 && timeBase > 0 {
            expectedEnd = Double(stream.pointee.duration) * timeBase
        } else if !live && fmt.pointee.nb_streams == 1 && fmt.pointee.duration != nopts && fmt.pointee.duration > 0 {
            expectedEnd = Double(fmt.pointee.duration) / Double(AV_TIME_BASE)
        } else {
            expectedEnd = nil
        }
        if stream.pointee.nb_frames > 0 {
            estimatedFrameCount = Int(stream.pointee.nb_frames)
        } else if let length, let rate {
            estimatedFrameCount = Int((length * rate).rounded())
        } else {
            estimatedFrameCount = nil
        }
    }

    /// The best video stream (`av_find_best_stream`, preferring streams with a decoder) and its
    /// decoder. Cover art (attached pictures) does not count as video.
    private static func pickVideoStream(_ fmt: UnsafeMutablePointer<AVFormatContext>, input: String) throws
        -> (Int32, UnsafePointer<AVCodec>) {
        func isPicture(_ i: Int32) -> Bool {
            (fmt.pointee.streams[Int(i)]?.pointee.disposition ?? 0) & AV_DISPOSITION_ATTACHED_PIC != 0
        }
        var codec: UnsafePointer<AVCodec>? = nil
        let best = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0)
        if best >= 0, let codec, !isPicture(best) { return (best, codec) }
        // Otherwise the first real video stream that has a decoder.
        var undecodable: FrameSourceError? = nil
        for i in 0..<Int32(fmt.pointee.nb_streams) where !isPicture(i) {
            guard let par = fmt.pointee.streams[Int(i)]?.pointee.codecpar,
                  par.pointee.codec_type == AVMEDIA_TYPE_VIDEO else { continue }
            if let decoder = avcodec_find_decoder(par.pointee.codec_id) { return (i, decoder) }
            undecodable = undecodable ?? codecError(par.pointee, input: input)
        }
        if let undecodable { throw undecodable }
        throw FrameSourceError.noVideoStream(input: input)
    }

    /// Why a video stream without a decoder cannot be read: a codec FFmpeg knows but was built
    /// without, or one it does not know at all (named by its four-character tag, if printable).
    private static func codecError(_ par: AVCodecParameters, input: String) -> FrameSourceError {
        guard par.codec_id == AV_CODEC_ID_NONE else {
            return .unsupportedCodec(input: input, codec: String(cString: avcodec_get_name(par.codec_id)))
        }
        let chars = (0..<4).map { UInt8(truncatingIfNeeded: par.codec_tag >> (8 * $0)) }
        let printable = par.codec_tag != 0 && chars.allSatisfy { $0 >= 0x20 && $0 < 0x7f }
        return .unknownCodec(input: input, tag: printable ? String(decoding: chars, as: UTF8.self) : nil)
    }

    /// How an input spelling is opened: the URL for FFmpeg, a forced demuxer, and whether the
    /// spelling alone marks it live (cameras, streaming protocols).
    static func resolve(_ input: String, inputFormat: String?) -> (url: String, formatName: String?, live: Bool) {
        if input == "-" { return ("pipe:0", inputFormat, false) }
        if input.hasPrefix("v4l2:") {
            return (String(input.dropFirst("v4l2:".count)), inputFormat ?? "video4linux2", true)
        }
        var live = InputKind.isLive(input)
        if let inputFormat, ["video4linux2", "v4l2"].contains(inputFormat) { live = true }
        return (input, inputFormat, live)
    }

    /// An HTTP(S) mp4/mov that cannot be read where it was opened: the server does not seek and
    /// the demuxer had to read over most of the file to reach its index.
    static func needsSpool(_ context: InputContext, url: String) -> Bool {
        let lower = url.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://"),
              let iformat = context.pointer.pointee.iformat, String(cString: iformat.pointee.name).contains("mp4"),
              let pb = context.pointer.pointee.pb, pb.pointee.seekable & AVIO_SEEKABLE_NORMAL == 0 else { return false }
        let size = avio_size(pb)
        return size > 0 && avio_tell(pb) > size / 2
    }

    /// Makes a blocked open/read return promptly; `nextFrame()` returns nil afterwards.
    /// Safe to call from any thread.
    public func cancel() { canceller.cancel() }

    /// The next decoded frame in presentation order (as the decoder outputs it), nil at the end.
    /// After a read error the frames already in the decoder come first, then the error is thrown;
    /// after any error or the end, further calls return nil.
    public func nextFrame() throws -> Frame? {
        let dec = decoder.pointer
        while !finished {
            if canceller.isCancelled { finished = true; return nil }
            let rc = avcodec_receive_frame(dec, frame.pointer)
            if rc >= 0 {
                consecutiveDecodeErrors = 0
                defer { av_frame_unref(frame.pointer) }
                return try makeFrame()
            }
            if rc == fer_averror_eof() || (draining && rc == fer_averror_eagain()) {
                finished = true
                if let e = pendingError { pendingError = nil; throw e }
                try checkComplete()
                return nil
            }
            if rc != fer_averror_eagain() {
                try noteDecodeError(rc)
                continue
            }
            try feedDecoder()
        }
        return nil
    }

    // MARK: - Internals

    private func makeFrame() throws -> Frame {
        let f = frame.pointer
        let ts = f.pointee.best_effort_timestamp
        let time: Double
        if ts != fer_nopts_value() && timeBase > 0 {
            time = Double(ts - startTime) * timeBase
        } else {
            // No timestamp: place the frame by its index (25 fps, FFmpeg's guess, if the rate is unknown).
            time = Double(nextIndex) / (frameRate ?? 25)
        }
        let image: GrayImage
        var colour: ColourPicture? = nil
        do {
            image = try converter.convert(f, orientation: orientation)
            colour = try colourConverter?.convert(f, orientation: orientation)
        } catch {
            finished = true
            throw FrameSourceError.decodeFailed(input: displayName, reason: "cannot convert frame \(nextIndex): \(error.message)")
        }
        let out = Frame(index: nextIndex, time: time, image: image, colour: colour)
        nextIndex += 1
        lastTime = time
        return out
    }

    /// At a clean end of file: throws `.truncated` when the frames stopped well short (over 1 s
    /// and over 10%) of the length the container declares.
    private func checkComplete() throws {
        guard let expectedEnd, !canceller.isCancelled else { return }
        let reached = (lastTime ?? 0) + 1 / (frameRate ?? 25)
        if expectedEnd - reached > max(1, 0.1 * expectedEnd) {
            throw FrameSourceError.truncated(input: displayName, endedAt: lastTime ?? 0, expected: expectedEnd)
        }
    }

    /// Reads one packet and sends it to the decoder if it belongs to the video stream; at the end
    /// (or on a read error) starts draining the decoder.
    private func feedDecoder() throws {
        let fmt = format.pointer
        let interrupt = format.interrupt
        interrupt.arm()
        let rc = av_read_frame(fmt, packet.pointer)
        interrupt.disarm()
        if rc < 0 {
            if canceller.isCancelled { finished = true; return }
            if rc == fer_averror_eagain() {
                // Some devices have no frame ready yet: wait a little, within the I/O timeout.
                let now = av_gettime_relative()
                let since = waitingSince ?? now
                waitingSince = since
                if let t = interrupt.timeout, Double(now - since) > t * 1_000_000 {
                    pendingError = .timedOut(input: displayName, seconds: t)
                    startDraining()
                } else {
                    av_usleep(2_000)
                }
                return
            }
            let atEnd = rc == fer_averror_eof() || (fmt.pointee.pb.map { avio_feof($0) != 0 } ?? false)
            if !atEnd {
                if interrupt.timedOut, let t = interrupt.timeout {
                    pendingError = .timedOut(input: displayName, seconds: t)
                } else {
                    pendingError = .readFailed(input: displayName, reason: ffmpegMessage(rc))
                }
            }
            startDraining()
            return
        }
        waitingSince = nil
        defer { av_packet_unref(packet.pointer) }
        guard packet.pointer.pointee.stream_index == streamIndex else { return }
        let sent = avcodec_send_packet(decoder.pointer, packet.pointer)
        if sent < 0 && sent != fer_averror_eagain() {
            try noteDecodeError(sent)
        }
    }

    private func startDraining() {
        draining = true
        _ = avcodec_send_packet(decoder.pointer, nil)
    }

    /// Skips a damaged packet/frame, as ffmpeg does; gives up after many in a row.
    private func noteDecodeError(_ rc: Int32) throws {
        consecutiveDecodeErrors += 1
        if consecutiveDecodeErrors > Self.maxConsecutiveDecodeErrors {
            finished = true
            throw FrameSourceError.decodeFailed(input: displayName, reason: ffmpegMessage(rc))
        }
    }
}

extension VideoSource {
    /// The first picture of a file FFmpeg decodes (a still image, or a video's first frame), upright.
    public static func firstPicture(of path: String) throws -> GrayImage {
        guard let frame = try VideoSource(path).nextFrame() else {
            throw FrameSourceError.decodeFailed(input: path, reason: "no picture in the file")
        }
        return frame.image
    }
}

extension VideoSource: FrameProducer {}
