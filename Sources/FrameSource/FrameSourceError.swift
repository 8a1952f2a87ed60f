import CFFmpeg
import FFmpegSupport

/// Why a `VideoSource` could not be opened or read. Every `description` is one line that names the
/// input and the cause, with FFmpeg's own message where there is one.
public enum FrameSourceError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The input could not be opened or probed (missing file, unknown protocol, not a media file...).
    case openFailed(input: String, reason: String)
    /// The input opened but holds no video stream (audio only, cover art only...).
    case noVideoStream(input: String)
    /// The video stream's codec has no decoder in this FFmpeg build.
    case unsupportedCodec(input: String, codec: String)
    /// The video stream's codec is unknown to FFmpeg; `tag` is its four-character code, if printable.
    case unknownCodec(input: String, tag: String?)
    /// The decoder could not be opened, or kept failing on the stream's packets.
    case decodeFailed(input: String, reason: String)
    /// Reading packets failed before the end of the input (network or device error...).
    case readFailed(input: String, reason: String)
    /// Opening or reading blocked for longer than `SourceOptions.ioTimeout`.
    case timedOut(input: String, seconds: Double)
    /// `SourceCanceller.cancel()` was called while the input was being opened.
    case cancelled(input: String)
    /// The input ended well before the length its container declares (a cut-off download or copy):
    /// frames up to `endedAt` seconds were delivered, of `expected`.
    case truncated(input: String, endedAt: Double, expected: Double)

    public var input: String {
        switch self {
        case .openFailed(let input, _), .noVideoStream(let input), .unsupportedCodec(let input, _), .unknownCodec(let input, _),
             .decodeFailed(let input, _), .readFailed(let input, _), .timedOut(let input, _),
             .cancelled(let input), .truncated(let input, _, _):
            return input
        }
    }

    public var description: String {
        let text: String
        switch self {
        case .openFailed(let input, let reason): text = "cannot open '\(input)': \(reason)"
        case .noVideoStream(let input): text = "no video stream in '\(input)'"
        case .unsupportedCodec(let input, let codec): text = "cannot decode '\(input)': no decoder for codec '\(codec)'"
        case .unknownCodec(let input, let tag):
            text = "cannot decode '\(input)': its video codec\(tag.map { " (tag '\($0)')" } ?? "") is unknown to FFmpeg"
        case .decodeFailed(let input, let reason): text = "cannot decode '\(input)': \(reason)"
        case .readFailed(let input, let reason): text = "cannot read '\(input)': \(reason)"
        case .timedOut(let input, let seconds): text = "timed out on '\(input)': no data for \(seconds) s"
        case .cancelled(let input): text = "cancelled while opening '\(input)'"
        case .truncated(let input, let endedAt, let expected):
            text = "cannot read '\(input)' to the end: it stops at \(seconds(endedAt)) s of \(seconds(expected)) s (truncated or damaged file)"
        }
        return oneLine(text)
    }
}

/// Seconds with two decimals, e.g. "0.32".
private func seconds(_ s: Double) -> String {
    let hundredths = Int((max(0, s) * 100).rounded())
    let fraction = hundredths % 100
    return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
}

/// Collapses line breaks so an error description stays on one line.
func oneLine(_ s: String) -> String {
    String(s.map { $0.isNewline ? " " : $0 })
}
