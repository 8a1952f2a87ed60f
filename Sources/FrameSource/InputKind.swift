/// What an input's spelling says about it, from one list of URL schemes: whether it is live
/// (cameras and streaming protocols: frames come at the sender's pace, a lost stream is
/// reconnected) and whether it is read over the network (and so needs a time-out).
public enum InputKind {
    /// Streaming protocols: live.
    public static let liveSchemes: Set<String> = ["rtsp", "rtsps", "rtmp", "rtmps", "rtmpt", "rtmpe", "rtmpte", "rtmpts",
                                                  "rtp", "srtp", "udp", "srt", "mmsh", "mmst"]
    /// Network protocols that download rather than stream: not live, but they can stall.
    public static let downloadSchemes: Set<String> = ["http", "https", "tcp", "tls", "ftp", "sftp"]
    /// Live protocols whose demuxer takes its own `timeout` option (µs) besides `rw_timeout`.
    public static let schemesWithTimeoutOption: Set<String> = ["rtsp", "rtsps", "udp", "srt"]

    /// The URL scheme, lowercased ("rtsp" for `rtsp://…`); nil for a path or `-`.
    public static func scheme(of input: String) -> String? {
        guard let colon = input.firstIndex(of: ":"), colon > input.startIndex, !input[..<colon].contains("/") else { return nil }
        return input[..<colon].lowercased()
    }

    /// A camera (`v4l2:/dev/video0`) or a streaming protocol.
    public static func isLive(_ input: String) -> Bool {
        input.hasPrefix("v4l2:") || scheme(of: input).map(liveSchemes.contains) == true
    }

    /// Read over the network: a streaming protocol or a download.
    public static func isNetwork(_ input: String) -> Bool {
        guard let s = scheme(of: input) else { return false }
        return liveSchemes.contains(s) || downloadSchemes.contains(s)
    }
}
