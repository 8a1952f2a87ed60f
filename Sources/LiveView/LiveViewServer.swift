import Dispatch
import FERCore
import FERStream
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import Output
import Pipeline
import Synchronization

/// The live view's settings (`--serve`, `--serve-token`, `--serve-width`, `--serve-fps`, `--serve-viewers`).
public struct LiveViewOptions: Sendable {
    /// Where to listen; loopback unless a token is given.
    public var host = "127.0.0.1"
    /// 0: any free port (`LiveViewServer.port` says which).
    public var port = 8080
    /// When set, every request needs it (`Authorization: Bearer`, `?token=` then a cookie).
    public var token: String?
    /// Frames are scaled to at most this width before JPEG encoding.
    public var maxWidth = 640
    /// At most this many frames a second per input are encoded.
    public var maxFPS = 15.0
    /// Pages and MJPEG clients at once; more are refused (503).
    public var maxViewers = 16
    public var quality = 75

    public init() {}

    /// True for 127.0.0.0/8, ::1 and localhost.
    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }
}

/// Why the live view could not start: said in one line.
public enum LiveViewError: Error, CustomStringConvertible, Sendable {
    /// The address could not be bound (in use, not allowed, not an address here): the OS's reason.
    case bind(address: String, reason: String)
    /// Binding a non-loopback address without a token.
    case needsToken(address: String)

    public var description: String {
        switch self {
        case .bind(let address, let reason): "cannot listen on \(address): \(reason)"
        case .needsToken(let address): "\(address) is not loopback: give --serve-token TOKEN (or FER_STREAM_SERVE_TOKEN) so that only those who have it can watch"
        }
    }
}

/// A browser view of every input, live: the page at `/` (one tile per input, each face boxed and
/// labelled from the frame's NDJSON record, over one WebSocket), `GET /sources/<name>/mjpeg`,
/// `…/snapshot.jpg`, `/api/sources`, `/healthz` and `/metrics` (Prometheus text). It listens from
/// `init` (a bind failure throws there, before any input is opened) until the process ends or `stop()`.
///
/// ```swift
/// let view = try LiveViewServer(options, inputs: ["a.mp4", "b.mp4"])
/// let stream = try EmotionStream("a.mp4", options: streamOptions)   // streamOptions.keepsColour = true
/// try stream.run(sinks: [writerSink, view.sink(for: stream)])
/// ```
public final class LiveViewServer: Sendable {
    public let options: LiveViewOptions
    /// The port it listens on (the one given, or the kernel's choice for 0).
    public let port: Int
    let hub: ViewerHub
    private let task: Mutex<Task<Void, Never>?>
    private let ticker: Mutex<Task<Void, Never>?>

    /// Binds `options.host:options.port` and starts serving; `inputs` get their tiles at once (in this order).
    public init(_ options: LiveViewOptions, inputs: [String] = []) throws(LiveViewError) {
        let address = "\(options.host.contains(":") && !options.host.hasPrefix("[") ? "[\(options.host)]" : options.host):\(options.port)"
        if options.token == nil && !LiveViewOptions.isLoopback(options.host) { throw .needsToken(address: address) }
        self.options = options
        let hub = ViewerHub(maxViewers: options.maxViewers)
        self.hub = hub
        for input in inputs { hub.addSource(input) }

        let started = DispatchSemaphore(value: 0)
        let outcome = Mutex<Result<Int, any Error>?>(nil)
        let app = Self.application(options: options, hub: hub) { channel in
            outcome.withLock { $0 = .success(channel.localAddress?.port ?? options.port) }
            started.signal()
        }
        let serverTask = Task.detached {
            do { try await app.run() } catch {
                let first = outcome.withLock { o -> Bool in
                    guard o == nil else { return false }
                    o = .failure(error)
                    return true
                }
                if first { started.signal() }
            }
        }
        if started.wait(timeout: .now() + 30) == .timedOut {
            serverTask.cancel()
            throw .bind(address: address, reason: "the server did not start within 30 s")
        }
        switch outcome.withLock({ $0 })! {
        case .success(let port): self.port = port
        case .failure(let error):
            serverTask.cancel()
            throw .bind(address: address, reason: Self.reason(error))
        }
        task = Mutex(serverTask)
        ticker = Mutex(Task.detached {
            // The pages' stats, once a second.
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                hub.publishStatus()
            }
        })
    }

    /// The sink that shows `stream` (its tile: the input of that name given to `init`, else a new one).
    /// Pictures come only when the stream keeps colour (`StreamOptions.keepsColour`); without, the tile shows the records.
    public func sink(for stream: EmotionStream) -> any FrameSink {
        sink(for: stream.input, labels: stream.labels) { [weak stream] in stream?.statsSoFar }
    }

    /// The sink for frames of `input` labelled with `labels`; `stats`: the run's stats so far, when known.
    public func sink(for input: String, labels: LabelSet, stats: (@Sendable () -> PipelineStats?)? = nil) -> any FrameSink {
        let source = hub.claimSource(input)
        source.state.withLock { $0.provider = stats; $0.attached = true }
        hub.publishStatus()
        return LiveSink(source: source, hub: hub, labels: labels, options: options)
    }

    /// Tells the page that `input` has ended — also one that never ran: it failed to open
    /// (`failure`, shown on its tile) or was skipped (e.g. its result exists already).
    public func ended(_ input: String, failure: String? = nil, skipped: Bool = false) {
        guard let source = hub.sources.first(where: { $0.input == input && !$0.state.withLock { $0.ended } })
            ?? hub.sources.last(where: { $0.input == input }) else { return }
        source.state.withLock { s in
            s.ended = true
            if let failure { s.failure = failure }
            if skipped { s.wasSkipped = true }
        }
        hub.publishStatus()
    }

    /// The URL of the page (with the token, when there is one).
    public var url: String {
        let host = options.host == "0.0.0.0" || options.host == "::" ? "127.0.0.1" : options.host
        return "http://\(host.contains(":") ? "[\(host)]" : host):\(port)/" + (options.token.map { "?token=\($0)" } ?? "")
    }

    /// Stops listening (viewers are disconnected).
    public func stop() {
        ticker.withLock { $0?.cancel() }
        task.withLock { $0?.cancel() }
    }

    /// The OS's reason in a bind error (`Address already in use`), else the error's own words.
    static func reason(_ error: any Error) -> String {
        if let io = error as? IOError { return String(cString: strerror(io.errnoCode)) }
        if let e = error as? SocketAddressError { return "\(e)" }
        return "\(error)"
    }

    private static func application(options: LiveViewOptions, hub: ViewerHub,
                                    running: @escaping @Sendable (any Channel) async -> Void) -> some ApplicationProtocol {
        let router = Router()
        router.add(middleware: TokenMiddleware(token: options.token))
        Routes.add(to: router, hub: hub, options: options)
        let ws = WebSocketServerConfiguration(maxFrameSize: 4096, autoPing: .enabled(timePeriod: .seconds(20)))
        return Application(
            router: router,
            server: .http1WebSocketUpgrade(configuration: .init(http1: .init(), ws: ws)) { request, _, _ in
                try await PageSocket.shouldUpgrade(request, hub: hub, options: options)
            },
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: nil),
            onServerRunning: running,
            logger: Logger(label: "fer-stream.live", factory: { _ in SwiftLogNoOpLogHandler() })
        )
    }
}
