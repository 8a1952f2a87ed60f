import CFFmpeg
import FFmpegSupport
import Synchronization

/// How to open a `VideoSource`.
public struct SourceOptions: Sendable {
    /// Decoder threads (frame and slice threading); 0 lets FFmpeg pick from the core count.
    public var threads: Int
    /// Demuxer/protocol options passed to `avformat_open_input` as an AVDictionary, e.g.
    /// `rtsp_transport=tcp`, `timeout` (µs, network), `video_size=640x480`, `framerate=30`,
    /// `input_format=mjpeg` (v4l2). Keys the demuxer does not know end up in
    /// `VideoSource.ignoredFormatOptions`.
    public var formatOptions: [String: String]
    /// Decoder options passed to `avcodec_open2` (private options of the decoder, e.g. `flags2=+fast`).
    public var decoderOptions: [String: String]
    /// Forces an input format by FFmpeg's short name (`video4linux2`, `mjpeg`, `h264`...);
    /// nil probes the input.
    public var inputFormat: String?
    /// If set, opening the input, or any one packet read, that blocks longer than this many seconds
    /// is interrupted and reported as `FrameSourceError.timedOut`. Honoured where FFmpeg checks its
    /// interrupt callback (network protocols, files); a blocked read on a pipe is not interrupted.
    public var ioTimeout: Double?
    /// Lets another thread stop a blocked open or read. `nil`: the source makes its own
    /// (reachable as `VideoSource.canceller`).
    public var canceller: SourceCanceller?
    /// Also hand each frame over in colour (`Frame.colour`, YUV 4:2:0), e.g. to re-encode it annotated.
    public var keepsColour = false

    public init(threads: Int = 0,
                formatOptions: [String: String] = [:],
                decoderOptions: [String: String] = [:],
                inputFormat: String? = nil,
                ioTimeout: Double? = nil,
                canceller: SourceCanceller? = nil) {
        self.threads = threads
        self.formatOptions = formatOptions
        self.decoderOptions = decoderOptions
        self.inputFormat = inputFormat
        self.ioTimeout = ioTimeout
        self.canceller = canceller
    }
}

/// A thread-safe stop flag. `cancel()` makes a blocked FFmpeg open or read return promptly (through
/// FFmpeg's interrupt callback); `VideoSource.nextFrame()` then returns nil.
public final class SourceCanceller: Sendable {
    private let flag = Atomic<Bool>(false)

    public init() {}

    public func cancel() { flag.store(true, ordering: .releasing) }

    public var isCancelled: Bool { flag.load(ordering: .acquiring) }
}

/// What FFmpeg's interrupt callback consults: the cancel flag and an optional deadline for the
/// blocking call in progress.
final class InterruptState: Sendable {
    let canceller: SourceCanceller
    let timeout: Double?
    /// `av_gettime_relative()` microseconds after which to interrupt; 0 = no deadline.
    private let deadline = Atomic<Int64>(0)
    private let expired = Atomic<Bool>(false)

    init(canceller: SourceCanceller, timeout: Double?) {
        self.canceller = canceller
        self.timeout = timeout.flatMap { $0 > 0 ? $0 : nil }
    }

    /// Starts the clock for one blocking call (no-op without a timeout).
    func arm() {
        guard let timeout else { return }
        expired.store(false, ordering: .relaxed)
        deadline.store(av_gettime_relative() + Int64(timeout * 1_000_000), ordering: .releasing)
    }

    func disarm() {
        guard timeout != nil else { return }
        deadline.store(0, ordering: .releasing)
    }

    /// True when the last armed call was interrupted by its deadline.
    var timedOut: Bool { expired.load(ordering: .acquiring) }

    func shouldInterrupt() -> Bool {
        if canceller.isCancelled { return true }
        let d = deadline.load(ordering: .acquiring)
        if d != 0 && av_gettime_relative() > d {
            expired.store(true, ordering: .releasing)
            return true
        }
        return false
    }

    /// The value for `AVFormatContext.interrupt_callback`. `self` must outlive the format context.
    var callback: AVIOInterruptCB {
        AVIOInterruptCB(
            callback: { opaque in
                guard let opaque else { return 0 }
                return Unmanaged<InterruptState>.fromOpaque(opaque).takeUnretainedValue().shouldInterrupt() ? 1 : 0
            },
            opaque: Unmanaged.passUnretained(self).toOpaque())
    }
}

/// FFmpeg's global log threshold (it logs to stderr). Decoders are chatty about damaged input;
/// a command-line tool usually wants `.error` or `.quiet`.
public enum FFmpegLogLevel: Int32, Sendable {
    case quiet = -8, panic = 0, fatal = 8, error = 16, warning = 24, info = 32, verbose = 40, debug = 48

    public static var current: FFmpegLogLevel {
        get { FFmpegLogLevel(rawValue: av_log_get_level()) ?? .info }
        set { av_log_set_level(newValue.rawValue) }
    }
}
