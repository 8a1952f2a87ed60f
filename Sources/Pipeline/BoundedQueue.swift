import Foundation

/// A FIFO between two stages with a fixed capacity: a producer that gets ahead blocks in `put`
/// (back-pressure), so memory stays bounded however long the input is. `close` wakes everyone.
/// `@unchecked Sendable`: every stored property is touched only with `condition` locked; a
/// `Mutex` cannot be used because stages must wait on the queue (a condition variable).
final class BoundedQueue<Element>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Element?]
    private var head = 0
    private var count = 0
    private var closed = false

    init(capacity: Int) {
        items = Array(repeating: nil, count: max(1, capacity))
    }

    /// Blocks while full. Returns false (dropping `element`) once the queue is closed.
    @discardableResult
    func put(_ element: Element) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while count == items.count && !closed { condition.wait() }
        if closed { return false }
        items[(head + count) % items.count] = element
        count += 1
        condition.broadcast()
        return true
    }

    /// Never blocks: when full, the oldest element is dropped and handed to `absorb` together with
    /// the new one (to carry its bookkeeping over, e.g. a count of skipped frames). For real-time
    /// sources, where the newest frame matters and waiting would fall behind. False once closed.
    @discardableResult
    func putDroppingOldest(_ element: Element, absorb: (_ new: inout Element, _ dropped: Element) -> Void) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if closed { return false }
        var element = element
        if count == items.count, let dropped = popLocked() {
            absorb(&element, dropped)
        }
        items[(head + count) % items.count] = element
        count += 1
        condition.broadcast()
        return true
    }

    /// Blocks while empty. Returns nil once closed and drained.
    func take() -> Element? {
        condition.lock()
        defer { condition.unlock() }
        while count == 0 && !closed { condition.wait() }
        return popLocked()
    }

    /// The next element if one is waiting now.
    func poll() -> Element? {
        condition.lock()
        defer { condition.unlock() }
        return popLocked()
    }

    /// No more puts; takers drain what is left, then get nil.
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    /// Close and throw away what is queued (on failure: nothing downstream wants it).
    func abort() {
        condition.lock()
        closed = true
        for i in items.indices { items[i] = nil }
        count = 0
        condition.broadcast()
        condition.unlock()
    }

    private func popLocked() -> Element? {
        guard count > 0 else { return nil }
        let e = items[head]
        items[head] = nil
        head = (head + 1) % items.count
        count -= 1
        condition.broadcast()
        return e
    }
}
