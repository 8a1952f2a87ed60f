import FERCore
import Foundation
import Pipeline

/// How a publisher behaves when its server is slow or away. The defaults suit a live run; tests
/// shrink them.
public struct PublishOptions: Sendable {
    /// Messages kept while the server is away; when full, the oldest is dropped and counted.
    public var bufferCapacity = 1000
    /// Seconds the first connection (and each reconnection) may take.
    public var connectTimeout = 5.0
    /// Seconds before the first reconnection attempt, doubling to `maxBackoff`.
    public var initialBackoff = 0.5
    public var maxBackoff = 10.0
    /// Seconds `finish` may spend sending what is still waiting before it disconnects.
    public var finishTimeout = 3.0
    /// Media seconds a track may be missing before its `end` event (`LabelEvents.endAfter`).
    public var endAfter = 1.0

    public init() {}
}

/// Makes the publisher a URL names.
public enum Publishers {
    /// `mqtt://…` → `MQTTPublisher`, `redis://…` → `RedisPublisher`, connected (it throws when the
    /// server cannot be reached). `log` gets one line per change of the connection (lost, back).
    public static func make(url: String, labels: LabelSet, options: PublishOptions = PublishOptions(),
                            log: @escaping @Sendable (String) -> Void) throws(PublishError) -> any FrameSink {
        switch try PublishTarget(parsing: url) {
        case let .mqtt(target): try MQTTPublisher(target: target, labels: labels, options: options, log: log)
        case let .redis(target): try RedisPublisher(target: target, labels: labels, options: options, log: log)
        }
    }
}

/// What a publisher could not send yet, oldest first: at most `capacity`; when full, appending
/// drops the oldest.
struct PendingMessages<Message> {
    let capacity: Int
    private var items: [Message?]
    private var head = 0
    private(set) var count = 0

    init(capacity: Int) {
        self.capacity = max(1, capacity)
        items = Array(repeating: nil, count: self.capacity)
    }

    var isEmpty: Bool { count == 0 }
    var first: Message? { count == 0 ? nil : items[head] }

    /// True when the oldest message was dropped to make room.
    @discardableResult
    mutating func append(_ message: Message) -> Bool {
        let full = count == capacity
        if full { removeFirst() }
        items[(head + count) % capacity] = message
        count += 1
        return full
    }

    mutating func removeFirst() {
        guard count > 0 else { return }
        items[head] = nil
        head = (head + 1) % capacity
        count -= 1
    }

    /// The first `n` messages, in order.
    func prefix(_ n: Int) -> [Message] {
        (0..<min(n, count)).map { items[(head + $0) % capacity]! }
    }

    /// Empties the buffer; returns how many it held.
    mutating func removeAll() -> Int {
        let n = count
        while count > 0 { removeFirst() }
        return n
    }
}

/// Seconds to wait before the next reconnection attempt: `initial`, doubling up to `maximum`, back
/// to `initial` once connected.
struct Backoff {
    let initial: Double
    let maximum: Double
    private var current: Double

    init(initial: Double, maximum: Double) {
        self.initial = initial
        self.maximum = max(initial, maximum)
        current = initial
    }

    mutating func next() -> Duration {
        defer { current = min(current * 2, maximum) }
        return .milliseconds(Int((current * 1000).rounded()))
    }

    mutating func reset() { current = initial }
}

/// The label events of every source a publisher has seen (one `LabelEvents` each).
struct SourceEvents {
    let labels: LabelSet
    let endAfter: Double
    private var bySource: [SourceName: LabelEvents] = [:]

    init(labels: LabelSet, endAfter: Double) {
        self.labels = labels
        self.endAfter = endAfter
    }

    mutating func next(_ source: SourceName, _ result: FrameResult) -> [LabelEvent] {
        bySource[source, default: LabelEvents(labels: labels, source: source.input, endAfter: endAfter)].next(result)
    }

    /// Every open track of every source ends.
    mutating func finish() -> [(SourceName, LabelEvent)] {
        var out: [(SourceName, LabelEvent)] = []
        for source in bySource.keys.sorted(by: { $0.input < $1.input }) {
            out += bySource[source]!.finish().map { (source, $0) }
        }
        return out
    }
}

/// Media time as the frame lines print it, for the Redis `t` field: 6 decimals, no exponent.
func timeText(_ t: Double) -> String {
    guard let r = roundedOrNil(t, 6) else { return "null" }
    let text = "\(r)"
    guard text.contains("e") else { return text }
    var fixed = String(format: "%.6f", r)
    while fixed.hasSuffix("0") && !fixed.hasSuffix(".0") { fixed.removeLast() }
    return fixed
}

/// "1 s", "0.5 s": a timeout as a message says it.
func secondsText(_ s: Double) -> String { s == s.rounded() ? "\(Int(s)) s" : "\(s) s" }

func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
}
