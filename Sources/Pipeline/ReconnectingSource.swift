import FERCore
import Foundation
import FrameSource

/// A live source that survives its stream ending or failing: it reopens the input with back-off
/// (0.5 s, 1 s, 2 s, … up to 8 s between tries), logging each try, and carries on. Frame indices
/// keep counting and times keep rising across reconnects, so downstream never sees a jump back.
/// After `maxAttempts` failed tries in a row the last error is thrown (or, when the stream had
/// ended normally, the run ends). Files and stdin are not reopened: they end where they end.
public final class ReconnectingSource: FrameProducer, @unchecked Sendable {
    public typealias Opener = () throws -> VideoSource

    private let open: Opener
    private let maxAttempts: Int
    private let log: (String) -> Void
    private let sleep: (Double) -> Void
    private let lock = NSLock()
    private var current: VideoSource?
    private var cancelled = false
    private var nextIndex = 0
    private var lastTime = -Double.infinity
    private var indexBase = 0
    private var timeBase = 0.0
    private var frameStep = 1.0 / 30

    public let isLive: Bool

    /// `first` is the already opened source; `open` reopens the same input. `live` overrides the
    /// source's own idea of whether it is live (tests use files as stand-ins for a stream).
    public init(first: VideoSource, maxAttempts: Int, live: Bool? = nil, log: @escaping (String) -> Void,
                sleep: @escaping (Double) -> Void = { Thread.sleep(forTimeInterval: $0) }, open: @escaping Opener) {
        current = first
        isLive = live ?? first.isLive
        self.maxAttempts = maxAttempts
        self.log = log
        self.sleep = sleep
        self.open = open
        if let fps = first.frameRate, fps > 0 { frameStep = 1 / fps }
    }

    public func cancel() {
        let source = lock.withLock { () -> VideoSource? in
            cancelled = true
            return current
        }
        source?.cancel()
    }

    public func nextFrame() throws -> Frame? {
        var failures = 0
        var lastError: Error?
        while true {
            if lock.withLock({ cancelled }) { return nil }
            if let source = lock.withLock({ current }) {
                do {
                    if let frame = try source.nextFrame() {
                        return rebase(frame)
                    }
                    if !isLive || maxAttempts == 0 || lock.withLock({ cancelled }) { return nil }
                    log("stream ended; reconnecting")
                } catch {
                    if !isLive || maxAttempts == 0 || lock.withLock({ cancelled }) { throw error }
                    log("\(error); reconnecting")
                    lastError = error
                }
                lock.withLock { current = nil }
            }
            // Reopen with back-off until it works or the tries run out.
            while lock.withLock({ current == nil }) {
                if failures >= maxAttempts {
                    if let lastError { throw lastError }
                    return nil
                }
                let delay = min(8, 0.5 * pow(2, Double(failures)))
                failures += 1
                sleep(delay)
                if lock.withLock({ cancelled }) { return nil }
                do {
                    let source = try open()
                    log("reconnected (try \(failures) of \(maxAttempts))")
                    lock.withLock {
                        current = source
                        // The new stream's frames follow on from the last one delivered.
                        indexBase = nextIndex
                        timeBase = lastTime.isFinite ? lastTime + frameStep : 0
                        pendingOrigin = true
                    }
                    failures = 0
                } catch {
                    log("reconnect try \(failures) of \(maxAttempts) failed: \(error)")
                    lastError = error
                }
            }
        }
    }

    /// Added to a stream's own times; set at the first frame after each reconnect.
    private var originOffset = 0.0
    private var pendingOrigin = false

    private func rebase(_ frame: Frame) -> Frame {
        lock.withLock {
            // A reopened stream starts at its own origin, and a live stream whose sender restarted
            // jumps back in time: either way its times are moved to follow the last one delivered.
            if pendingOrigin || (lastTime.isFinite && frame.time + originOffset < lastTime - 0.5) {
                originOffset = (lastTime.isFinite ? lastTime + frameStep : timeBase) - frame.time
                pendingOrigin = false
            }
            // Never step back, even if a stream's own times do.
            let time = max(frame.time + originOffset, lastTime.isFinite ? lastTime + 1e-6 : -Double.infinity)
            let rebased = Frame(index: indexBase + frame.index, time: time, image: frame.image, colour: frame.colour)
            nextIndex = rebased.index + 1
            lastTime = time
            return rebased
        }
    }
}
