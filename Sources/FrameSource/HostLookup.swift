import CFFmpeg
import FFmpegSupport
#if canImport(Glibc)
import Glibc
#endif

/// FFmpeg reports a host name that does not resolve as a bare "Input/output error" (the cause goes
/// to its log only). After a network open fails with EIO, this looks the host up again to say so.
/// Returns nil when the URL has no host or the host resolves (the failure lies elsewhere).
func unresolvedHostReason(url: String, code: Int32) -> String? {
    guard code == fer_averror(EIO) else { return nil }
    var host = [CChar](repeating: 0, count: 256)
    var port: Int32 = -1
    av_url_split(nil, 0, nil, 0, &host, Int32(host.count), &port, nil, 0, url)
    let name = host.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    guard !name.isEmpty else { return nil }
    var hints = addrinfo()
    hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
    var result: UnsafeMutablePointer<addrinfo>? = nil
    let rc = getaddrinfo(name, nil, &hints, &result)
    if let result { freeaddrinfo(result) }
    guard rc != 0 else { return nil }
    return "cannot resolve host '\(name)': \(String(cString: gai_strerror(rc)))"
}
