import FERCore
import Foundation
import Pipeline
import Output
import Synchronization

/// Appends each analysed frame to the Redis stream `KEY`
/// (`XADD KEY MAXLEN ~ N * source <input> frame <n> t <time> json <line>`) and each label event
/// to `KEY:events` (`… source <input> type <type> track <id> json <event>`), through hiredis.
///
/// Everything runs on the sink's thread, inside `consume` and `finish`; the connection lives in
/// `state` (a Mutex, so the class is Sendable without exceptions). A server lost mid-run never
/// throws: what cannot be sent waits in a bounded buffer (oldest dropped, counted), and a new
/// connection is tried when a frame comes and the back-off has passed, so a dead server costs
/// nothing per frame between attempts.
public final class RedisPublisher: FrameSink {
    public let name: String
    public let delivery = SinkDelivery.dropOldest(capacity: 256)
    public let target: RedisTarget
    private let writer: NDJSONWriter
    private let options: PublishOptions
    private let log: @Sendable (String) -> Void

    private struct State {
        /// nil while the server is away.
        var connection: RedisConnection?
        var pending: PendingMessages<[String]>
        var backoff: Backoff
        var retryAt = ContinuousClock.now
        var events: SourceEvents
        var droppedBeforeLoss = 0
        /// The server refuses our commands (e.g. the key became another type): said once.
        var rejecting = false
        var finished = false
    }
    private let state: Mutex<State>
    /// Apart from `state`, so that reading it never waits for a command in flight.
    private let dropped = Atomic<Int>(0)

    /// Connects (throws when the server cannot be reached within `options.connectTimeout`, or
    /// when `KEY` or `KEY:events` holds something other than a stream).
    public init(target: RedisTarget, labels: LabelSet, options: PublishOptions = PublishOptions(),
                log: @escaping @Sendable (String) -> Void) throws(PublishError) {
        self.target = target
        self.options = options
        self.log = log
        name = PublishTarget.redis(target).description
        writer = NDJSONWriter(sink: LineSink(), labels: labels)
        // hiredis writes with write(2): a server that went away would kill the process with
        // SIGPIPE. Ignored unless the program handles it itself (libmosquitto ignores it too).
        var current = sigaction()
        if sigaction(SIGPIPE, nil, &current) == 0 && current.__sigaction_handler.sa_handler == nil {  // SIG_DFL
            signal(SIGPIPE, SIG_IGN)
        }
        let connection: RedisConnection
        do {
            connection = try RedisConnection(host: target.host, port: target.port, timeout: options.connectTimeout)
            for key in [target.key, target.key + ":events"] {
                switch try connection.command(["TYPE", key]) {
                case .ok("none"), .ok("stream"): continue
                case let .ok(type): throw PublishError.rejected(server: target.server, reason: "key '\(key)' holds a \(type ?? "value"), not a stream")
                case let .rejected(message): throw PublishError.rejected(server: target.server, reason: message)
                }
            }
        } catch let e as RedisFailure {
            throw .cannotConnect(server: target.server, reason: e.reason)
        } catch let e as PublishError {
            throw e
        } catch {
            throw .cannotConnect(server: target.server, reason: "\(error)")
        }
        state = Mutex(State(connection: connection, pending: PendingMessages(capacity: options.bufferCapacity),
                            backoff: Backoff(initial: options.initialBackoff, maximum: options.maxBackoff),
                            events: SourceEvents(labels: labels, endAfter: options.endAfter)))
    }

    public func consume(_ frame: SinkFrame) throws(PipelineError) {
        guard frame.analysed else { return }
        let r = frame.result
        let head = ["XADD", target.key, "MAXLEN", "~", "\(target.maxLength)", "*", "source", frame.source.input]
        state.withLock { s in
            guard !s.finished else { return }
            enqueue(head + ["frame", "\(r.frame)", "t", timeText(r.time), "json", writer.line(for: r)], &s)
            for event in s.events.next(frame.source, r) { enqueue(command(frame.source, event), &s) }
            deliver(&s)
        }
    }

    /// Ends every open track and sends what waits (one reconnection attempt if one is due);
    /// what still cannot go is counted as dropped.
    public func finish() throws(PipelineError) {
        state.withLock { s in
            guard !s.finished else { return }
            s.finished = true
            for (source, event) in s.events.finish() { enqueue(command(source, event), &s) }
            deliver(&s)
            dropped.add(s.pending.removeAll(), ordering: .relaxed)
            s.connection = nil
        }
    }

    public var droppedMessages: Int { dropped.load(ordering: .relaxed) }

    private func command(_ source: SourceName, _ e: LabelEvent) -> [String] {
        ["XADD", target.key + ":events", "MAXLEN", "~", "\(target.maxLength)", "*",
         "source", source.input, "type", e.type.rawValue, "track", "\(e.track)", "json", e.json]
    }

    private func enqueue(_ command: [String], _ s: inout State) {
        if s.pending.append(command) { dropped.add(1, ordering: .relaxed) }
    }

    /// Sends everything waiting, in one pipeline; reconnects first if the server is away and the
    /// back-off has passed.
    private func deliver(_ s: inout State) {
        if s.connection == nil {
            guard ContinuousClock.now >= s.retryAt else { return }
            do {
                s.connection = try RedisConnection(host: target.host, port: target.port, timeout: options.connectTimeout)
            } catch {
                s.retryAt = ContinuousClock.now + s.backoff.next()
                return
            }
            s.backoff.reset()
            let lost = dropped.load(ordering: .relaxed) - s.droppedBeforeLoss
            log("\(name): reconnected; sending \(s.pending.count) waiting messages (\(lost) dropped while it was away)")
        }
        guard let connection = s.connection, !s.pending.isEmpty else { return }
        let (replies, failure) = connection.pipeline(s.pending.prefix(s.pending.count))
        for reply in replies {
            s.pending.removeFirst()
            switch reply {
            case .ok:
                s.rejecting = false
            case let .rejected(message):
                // Sending it again would be refused again.
                dropped.add(1, ordering: .relaxed)
                if !s.rejecting { log("\(name): the server refuses XADD (\(message)); such messages are dropped") }
                s.rejecting = true
            }
        }
        if let failure {
            s.connection = nil
            s.droppedBeforeLoss = dropped.load(ordering: .relaxed)
            s.retryAt = ContinuousClock.now + s.backoff.next()
            log("\(name): connection lost (\(failure.reason)); keeping up to \(options.bufferCapacity) messages until it is back")
        }
    }
}
