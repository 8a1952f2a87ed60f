import CFFmpeg

/// Why a `VideoSource` could not be opened or read. Every `description` is one line that names the
/// input and the cause, with FFmpeg's own message where there is one.
public enum FrameSourceError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The input could not be opened or probed (missing file, unknown protocol, not a media file...).
    case openFailed(input: String, reason: String)
    /// The input opened but holds no video stream (audio only, cover art only...).
    case noVideoStream(input: String)
    /// The video stream's codec has no decoder in this FFmpeg build.
    case unsupportedCodec(input: String, codec: String)
    /// The decoder could not be opened, or kept failing on the stream's packets.
    case decodeFailed(input: String, reason: String)
    /// Reading packets failed before the end of the input (network or device error...).
    case readFailed(input: String, reason: String)
    /// Opening or reading blocked for longer than `SourceOptions.ioTimeout`.
    case timedOut(input: String, seconds: Double)
    /// `SourceCanceller.cancel()` was called while the input was being opened.
    case cancelled(input: String)

    public var input: String {
        switch self {
        case .openFailed(let input, _), .noVideoStream(let input), .unsupportedCodec(let input, _),
             .decodeFailed(let input, _), .readFailed(let input, _), .timedOut(let input, _),
             .cancelled(let input):
            return input
        }
    }

    public var description: String {
        let text: String
        switch self {
        case .openFailed(let input, let reason): text = "cannot open '\(input)': \(reason)"
        case .noVideoStream(let input): text = "no video stream in '\(input)'"
        case .unsupportedCodec(let input, let codec): text = "cannot decode '\(input)': no decoder for codec '\(codec)'"
        case .decodeFailed(let input, let reason): text = "cannot decode '\(input)': \(reason)"
        case .readFailed(let input, let reason): text = "cannot read '\(input)': \(reason)"
        case .timedOut(let input, let seconds): text = "timed out on '\(input)': no data for \(seconds) s"
        case .cancelled(let input): text = "cancelled while opening '\(input)'"
        }
        return oneLine(text)
    }
}

/// FFmpeg's message for an error code, e.g. "No such file or directory".
func ffmpegMessage(_ code: Int32) -> String {
    withUnsafeTemporaryAllocation(of: CChar.self, capacity: Int(AV_ERROR_MAX_STRING_SIZE)) { buf in
        buf.initialize(repeating: 0)
        fer_av_strerror(code, buf.baseAddress!, buf.count)
        return String(cString: buf.baseAddress!)
    }
}

/// Collapses line breaks so an error description stays on one line.
func oneLine(_ s: String) -> String {
    String(s.map { $0.isNewline ? " " : $0 })
}
