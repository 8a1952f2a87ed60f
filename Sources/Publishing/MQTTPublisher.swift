import FERCore
import Foundation
import Pipeline
import Output
import Synchronization

/// Publishes each analysed frame's NDJSON line on `PREFIX/<source>/frame` and its label events on
/// `PREFIX/<source>/events` (libmosquitto). `PREFIX/available` says `online` while it is connected
/// and `offline` after `finish`, or, through the broker's last will, when it vanished (retained).
///
/// A broker lost mid-run never stops or slows the analysis: what cannot be sent waits in a
/// bounded buffer (oldest dropped and counted in `droppedMessages`), the network thread
/// reconnects with back-off and sends it when the broker is back. QoS 0 messages the socket took
/// just before the loss are gone without a trace (that is QoS 0); QoS 1 ones are sent again.
public final class MQTTPublisher: FrameSink {
    public let name: String
    public let delivery = SinkDelivery.dropOldest(capacity: 256)
    public let target: MQTTTarget
    private let writer: NDJSONWriter
    private let events: Mutex<SourceEvents>
    private let link: MQTTLink
    private let finished = Atomic<Bool>(false)

    /// Connects (throws when the broker cannot be reached within `options.connectTimeout`) and
    /// publishes `online`. `log` gets one line when the broker is lost and one when it is back.
    public init(target: MQTTTarget, labels: LabelSet, options: PublishOptions = PublishOptions(),
                log: @escaping @Sendable (String) -> Void) throws(PublishError) {
        self.target = target
        name = PublishTarget.mqtt(target).description
        // Never written to: only its `line(for:)` is used, so the messages equal the file's lines.
        writer = NDJSONWriter(sink: LineSink(), labels: labels)
        events = Mutex(SourceEvents(labels: labels, endAfter: options.endAfter))
        let client = try MosquittoClient(target: target, willTopic: target.prefix + "/available")
        try client.connect(timeout: options.connectTimeout)
        link = MQTTLink(client: client, name: name, availableTopic: target.prefix + "/available", options: options, log: log)
        link.start()
    }

    deinit {
        // Never finished (the run broke off): leave without a DISCONNECT, so the broker's last
        // will says `offline`, as it would had the process died.
        if !finished.load(ordering: .acquiring) { link.abandon() }
    }

    public func consume(_ frame: SinkFrame) throws(PipelineError) {
        guard frame.analysed else { return }
        let topic = "\(target.prefix)/\(frame.source.short)/"
        var messages = [MQTTMessage(topic: topic + "frame", payload: writer.line(for: frame.result), retain: false)]
        for event in events.withLock({ $0.next(frame.source, frame.result) }) {
            messages.append(MQTTMessage(topic: topic + "events", payload: event.json, retain: false))
        }
        link.submit(messages)
    }

    /// Ends every open track, sends what still waits (at most `options.finishTimeout`), publishes
    /// `offline` and disconnects cleanly.
    public func finish() throws(PipelineError) {
        guard !finished.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let ends = events.withLock { $0.finish() }
        link.submit(ends.map { MQTTMessage(topic: "\(target.prefix)/\($0.0.short)/events", payload: $0.1.json, retain: false) })
        link.finish()
    }

    public var droppedMessages: Int { link.dropped }
}

struct MQTTMessage: Sendable {
    let topic: String
    let payload: String
    let retain: Bool
}

/// The connection as both threads see it: the sink's thread submits messages, the network thread
/// (one per publisher, `run`) drives libmosquitto, notices losses and reconnects.
/// Everything mutable is in `state` (a Mutex) or atomics. libmosquitto's callbacks, which run
/// under its own locks, touch only atomics, never `state`; so holding `state` around
/// `mosquitto_publish` (which keeps the order of messages) cannot deadlock with those locks.
final class MQTTLink: Sendable {
    /// Seconds between MQTT pings; a broker that vanished without closing the socket is noticed
    /// after about one and a half of these.
    static let keepalive = 10
    /// Messages libmosquitto may hold unwritten or, at QoS 1, unacknowledged: its own queue has no
    /// bound, so past this the rest waits in `pending` (bounded, oldest dropped) instead.
    static let inLibraryLimit = 1000

    private let client: MosquittoClient
    private let name: String
    private let availableTopic: String
    private let options: PublishOptions
    private let log: @Sendable (String) -> Void

    private struct State {
        /// Connected and accepted; false from a loss until the next CONNACK.
        var up = true
        var pending: PendingMessages<MQTTMessage>
        var dropped = 0
        var droppedBeforeLoss = 0
        /// Messages handed to libmosquitto, ever; less `signals.completed` is what it still holds.
        var handed = 0
    }
    private let state: Mutex<State>
    /// 0 running, 1 finishing (send, `offline`, disconnect), 2 abandoned (just stop).
    private let stop = Atomic<Int>(0)
    private let stopped = DispatchSemaphore(value: 0)

    init(client: MosquittoClient, name: String, availableTopic: String, options: PublishOptions, log: @escaping @Sendable (String) -> Void) {
        self.client = client
        self.name = name
        self.availableTopic = availableTopic
        self.options = options
        self.log = log
        state = Mutex(State(pending: PendingMessages(capacity: options.bufferCapacity)))
    }

    /// Publishes `online` and starts the network thread; the client is connected.
    func start() {
        state.withLock { s in _ = send(MQTTMessage(topic: availableTopic, payload: "online", retain: true), &s) }
        let thread = Thread { [self] in
            run()
            stopped.signal()
        }
        thread.name = "fer-stream.mqtt"
        thread.start()
    }

    /// Never blocks on the network: hands the messages to libmosquitto if it is connected and has
    /// room, else keeps them (the oldest dropped when full).
    func submit(_ messages: [MQTTMessage]) {
        guard !messages.isEmpty else { return }
        state.withLock { s in
            for m in messages where s.pending.append(m) { s.dropped += 1 }
            flush(&s)
        }
    }

    var dropped: Int { state.withLock { $0.dropped } }

    /// Returns once the network thread has sent what it could, `offline`, and disconnected.
    func finish() {
        guard stop.compareExchange(expected: 0, desired: 1, ordering: .acquiringAndReleasing).exchanged else { return }
        stopped.wait()
    }

    func abandon() {
        _ = stop.compareExchange(expected: 0, desired: 2, ordering: .acquiringAndReleasing)
    }

    // MARK: the network thread

    private enum Phase {
        case up
        case connecting(deadline: ContinuousClock.Instant)
        case down(retryAt: ContinuousClock.Instant)
    }

    private func run() {
        var phase = Phase.up
        var backoff = Backoff(initial: options.initialBackoff, maximum: options.maxBackoff)
        while true {
            switch stop.load(ordering: .acquiring) {
            case 1:
                if case .up = phase { closeDown() }
                state.withLock { s in
                    s.dropped += s.pending.removeAll() + max(0, s.handed - client.signals.completed.load(ordering: .acquiring))
                }
                return
            case 2: return
            default: phase = step(phase, &backoff)
            }
        }
    }

    private func step(_ phase: Phase, _ backoff: inout Backoff) -> Phase {
        let now = ContinuousClock.now
        if case let .down(retryAt) = phase {
            guard now >= retryAt else {
                Thread.sleep(forTimeInterval: min(0.1, seconds(retryAt - now)))
                return phase
            }
            // Non-blocking: a host that drops packets costs `connectTimeout`, not the TCP timeout.
            guard client.reconnect() == Mosquitto.success else { return .down(retryAt: now + backoff.next()) }
            return .connecting(deadline: now + .milliseconds(Int(options.connectTimeout * 1000)))
        }
        let (rc, error) = client.loop(milliseconds: 200)
        var phase = phase
        if let connack = client.signals.takeConnack() {
            guard connack == 0 else { return .down(retryAt: now + backoff.next()) }
            backoff.reset()
            cameBack()
            phase = .up
        }
        if rc != Mosquitto.success {
            if case .up = phase { wentAway(Mosquitto.describe(rc, errno: error)) }
            return .down(retryAt: now + backoff.next())
        }
        if case let .connecting(deadline) = phase, now > deadline { return .down(retryAt: now + backoff.next()) }
        // Acknowledgements may have made room in libmosquitto for what waits.
        if case .up = phase { state.withLock { flush(&$0) } }
        return phase
    }

    private func wentAway(_ reason: String) {
        state.withLock { s in
            s.up = false
            s.droppedBeforeLoss = s.dropped
            if client.target.qos == 0 {
                // libmosquitto throws away the QoS 0 messages it had not written when it reconnects.
                let completed = client.signals.completed.load(ordering: .acquiring)
                s.dropped += max(0, s.handed - completed)
                s.handed = completed
            }
        }
        log("\(name): connection lost (\(reason)); keeping up to \(options.bufferCapacity) messages until it is back")
    }

    private func cameBack() {
        let (waiting, dropped) = state.withLock { s in
            s.up = true
            _ = send(MQTTMessage(topic: availableTopic, payload: "online", retain: true), &s)
            let waiting = s.pending.count
            flush(&s)
            return (waiting, s.dropped - s.droppedBeforeLoss)
        }
        log("\(name): reconnected; sending \(waiting) waiting messages (\(dropped) dropped while it was away)")
    }

    /// Sends what waits, then `offline`, then DISCONNECT (so the broker drops our will), all
    /// within `finishTimeout`.
    private func closeDown() {
        let deadline = ContinuousClock.now + .milliseconds(Int(options.finishTimeout * 1000))
        var sentOffline = false
        while ContinuousClock.now < deadline {
            let busy = state.withLock { !$0.pending.isEmpty || $0.handed > client.signals.completed.load(ordering: .acquiring) }
            if !busy {
                if sentOffline { break }
                state.withLock { s in _ = send(MQTTMessage(topic: availableTopic, payload: "offline", retain: true), &s) }
                sentOffline = true
            }
            let (rc, error) = client.loop(milliseconds: 50)
            guard rc == Mosquitto.success else {
                wentAway(Mosquitto.describe(rc, errno: error))
                return
            }
            state.withLock { flush(&$0) }
        }
        if !sentOffline {
            state.withLock { s in _ = send(MQTTMessage(topic: availableTopic, payload: "offline", retain: true), &s) }
        }
        client.disconnect()
        // The loop writes what is queued and the DISCONNECT, then closes the socket.
        while ContinuousClock.now < deadline + .seconds(1), client.loop(milliseconds: 50).rc == Mosquitto.success {}
    }

    /// Hands waiting messages to libmosquitto, oldest first, while connected and while it holds
    /// fewer than `inLibraryLimit`.
    private func flush(_ s: inout State) {
        guard s.up else { return }
        while let m = s.pending.first {
            if s.handed - client.signals.completed.load(ordering: .acquiring) >= Self.inLibraryLimit { return }
            let rc = send(m, &s)
            // Not connected after all: the network thread is about to notice; keep it.
            if rc == Mosquitto.noConnection || rc == Mosquitto.connectionLost { return }
            s.pending.removeFirst()
            if rc != Mosquitto.success { s.dropped += 1 }  // this message can never go (too large, …)
        }
    }

    private func send(_ m: MQTTMessage, _ s: inout State) -> Int32 {
        let rc = client.publish(topic: m.topic, payload: m.payload, retain: m.retain)
        if rc == Mosquitto.success { s.handed += 1 }
        return rc
    }
}
