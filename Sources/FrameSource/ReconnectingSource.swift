import FERCore
import Foundation
import Synchronization

/// A live source that survives its stream ending or failing: it reopens the input with back-off
/// (0.5 s, 1 s, 2 s, … up to 8 s between tries), logging each try, and carries on. Frame indices
/// keep counting and times keep rising across reconnects, so downstream never sees a jump back.
/// After `maxAttempts` failed tries in a row the last error is thrown (or, when the stream had
/// ended normally, the run ends). Files and stdin are not reopened: they end where they end.
public final class ReconnectingSource: FrameProducer {
    public typealias Opener = @Sendable () throws -> VideoSource

    private let open: Opener
    private let maxAttempts: Int
    private let log: @Sendable (String) -> Void
    private let sleep: @Sendable (Double) -> Void
    private let frameStep: Double

    /// The open stream and where its frames go on from: `cancel` comes from another thread.
    private struct State {
        var current: VideoSource?
        var cancelled = false
        var nextIndex = 0
        var lastTime = -Double.infinity
        var indexBase = 0
        var timeBase = 0.0
        /// Added to a stream's own times; set at the first frame after each reconnect.
        var originOffset = 0.0
        var pendingOrigin = false
    }
    private let state: Mutex<State>

    public let isLive: Bool

    /// `first` is the already opened source; `open` reopens the same input. `live` overrides the
    /// source's own idea of whether it is live (tests use files as stand-ins for a stream).
    public init(first: VideoSource, maxAttempts: Int, live: Bool? = nil, log: @escaping @Sendable (String) -> Void,
                sleep: @escaping @Sendable (Double) -> Void = { Thread.sleep(forTimeInterval: $0) }, open: @escaping Opener) {
        state = Mutex(State(current: first))
        isLive = live ?? first.isLive
        self.maxAttempts = maxAttempts
        self.log = log
        self.sleep = sleep
        self.open = open
        if let fps = first.frameRate, fps > 0 { frameStep = 1 / fps } else { frameStep = 1.0 / 30 }
    }

    public func cancel() {
        let source = state.withLock { s -> VideoSource? in
            s.cancelled = true
            return s.current
        }
        source?.cancel()
    }

    public func nextFrame() throws -> Frame? {
        var failures = 0
        var lastError: Error?
        while true {
            if state.withLock({ $0.cancelled }) { return nil }
            if let source = state.withLock({ $0.current }) {
                do {
                    if let frame = try source.nextFrame() {
                        return rebase(frame)
                    }
                    if !isLive || maxAttempts == 0 || state.withLock({ $0.cancelled }) { return nil }
                    log("stream ended; reconnecting")
                } catch {
                    if !isLive || maxAttempts == 0 || state.withLock({ $0.cancelled }) { throw error }
                    log("\(error); reconnecting")
                    lastError = error
                }
                state.withLock { $0.current = nil }
            }
            // Reopen with back-off until it works or the tries run out.
            while state.withLock({ $0.current == nil }) {
                if failures >= maxAttempts {
                    if let lastError { throw lastError }
                    return nil
                }
                let delay = min(8, 0.5 * pow(2, Double(failures)))
                failures += 1
                sleep(delay)
                if state.withLock({ $0.cancelled }) { return nil }
                do {
                    let source = try open()
                    log("reconnected (try \(failures) of \(maxAttempts))")
                    state.withLock { s in
                        s.current = source
                        // The new stream's frames follow on from the last one delivered.
                        s.indexBase = s.nextIndex
                        s.timeBase = s.lastTime.isFinite ? s.lastTime + frameStep : 0
                        s.pendingOrigin = true
                    }
                    failures = 0
                } catch {
                    log("reconnect try \(failures) of \(maxAttempts) failed: \(error)")
                    lastError = error
                }
            }
        }
    }

    private func rebase(_ frame: Frame) -> Frame {
        state.withLock { s in
            // A reopened stream starts at its own origin, and a live stream whose sender restarted
            // jumps back in time: either way its times are moved to follow the last one delivered.
            if s.pendingOrigin || (s.lastTime.isFinite && frame.time + s.originOffset < s.lastTime - 0.5) {
                s.originOffset = (s.lastTime.isFinite ? s.lastTime + frameStep : s.timeBase) - frame.time
                s.pendingOrigin = false
            }
            // Never step back, even if a stream's own times do.
            let time = max(frame.time + s.originOffset, s.lastTime.isFinite ? s.lastTime + 1e-6 : -Double.infinity)
            let rebased = Frame(index: s.indexBase + frame.index, time: time, image: frame.image, colour: frame.colour)
            s.nextIndex = rebased.index + 1
            s.lastTime = time
            return rebased
        }
    }
}
