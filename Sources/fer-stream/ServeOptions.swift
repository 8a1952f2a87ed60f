import ArgumentParser
import FERStream
import Foundation
import LiveView

/// `--serve [HOST:]PORT`: the live view (Sources/LiveView) beside any other output.
struct ServeOptions: ParsableArguments {
    @Option(name: .customLong("serve"), help: ArgumentHelp("Also serve a live view of every input: the page at http://HOST:PORT/ (each face boxed and labelled), /sources/NAME/mjpeg, /sources/NAME/snapshot.jpg, /api/sources, /healthz, /metrics (Prometheus). HOST defaults to 127.0.0.1; any other address needs --serve-token.", valueName: "[host:]port"))
    var serve: String?

    @Option(name: .customLong("serve-token"), help: ArgumentHelp("With --serve: every request needs this token (Authorization: Bearer TOKEN, or ?token=TOKEN on the page's first load, then a cookie). Default: $FER_STREAM_SERVE_TOKEN.", valueName: "token"))
    var token: String?

    @Option(name: .customLong("serve-width"), help: "With --serve: frames are scaled to at most this many pixels wide.")
    var width: Int = 640

    @Option(name: .customLong("serve-fps"), help: "With --serve: at most this many frames a second per input are sent to viewers.")
    var fps: Double = 15

    @Option(name: .customLong("serve-viewers"), help: "With --serve: pages and MJPEG clients at once (more are refused).")
    var viewers: Int = 16

    /// The options, or nil without --serve.
    func liveViewOptions(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> LiveViewOptions? {
        guard let serve else { return nil }
        var o = LiveViewOptions()
        var portText = serve
        if let colon = serve.lastIndex(of: ":") {
            var host = String(serve[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            if !host.isEmpty { o.host = host }
            portText = String(serve[serve.index(after: colon)...])
        }
        guard let port = Int(portText), (0...65535).contains(port) else {
            throw ValidationError("--serve takes [HOST:]PORT with a port from 0 to 65535, not '\(serve)'")
        }
        o.port = port
        o.token = token ?? environment["FER_STREAM_SERVE_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        guard width >= 16 && width <= 8192 else { throw ValidationError("--serve-width must be between 16 and 8192, not \(width)") }
        guard fps > 0 && fps <= 120 else { throw ValidationError("--serve-fps must be between 0 and 120, not \(fps)") }
        guard viewers >= 1 && viewers <= 1024 else { throw ValidationError("--serve-viewers must be between 1 and 1024, not \(viewers)") }
        if o.token == nil && !LiveViewOptions.isLoopback(o.host) {
            throw ValidationError("--serve \(serve): \(o.host) is not loopback; give --serve-token TOKEN (or FER_STREAM_SERVE_TOKEN)")
        }
        o.maxWidth = width
        o.maxFPS = fps
        o.maxViewers = viewers
        return o
    }

    func validate() throws {
        _ = try liveViewOptions()
    }

    /// Listens now, before any input is opened: a port in use or not allowed fails the run here (exit 1).
    func start(inputs: [String]) throws -> LiveViewServer? {
        guard let options = try liveViewOptions() else { return nil }
        do {
            let server = try LiveViewServer(options, inputs: inputs)
            FileHandle.standardError.write(Data("fer-stream: live view at \(server.url)\n".utf8))
            return server
        } catch {
            throw RuntimeFailure(message: "--serve: \(error)")
        }
    }
}
