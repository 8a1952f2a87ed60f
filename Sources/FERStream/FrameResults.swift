import FERCore
import Foundation
import Pipeline
import Output
import Synchronization

/// An `EmotionStream`'s analysed frames as an `AsyncSequence`. The pipeline runs on a thread of
/// its own (its stages block on I/O and the network, which must not tie up Swift's cooperative
/// pool) and hands each result over through a bounded buffer: when the consumer is slow, the
/// pipeline waits (back-pressure) instead of piling results up.
public struct FrameResults: AsyncSequence, Sendable {
    public typealias Element = FrameResult
    public typealias Failure = FERStreamError

    let stream: EmotionStream
    let capacity: Int

    public func makeAsyncIterator() -> Iterator {
        let channel = ResultChannel(capacity: capacity)
        let stream = self.stream
        let thread = Thread {
            let outcome: Result<Void, FERStreamError>
            do throws(FERStreamError) { _ = try stream.run(writer: channel); outcome = .success(()) } catch { outcome = .failure(error) }
            channel.finish(outcome)
        }
        thread.name = "fer-stream.run"
        thread.start()
        return Iterator(handle: Handle(channel: channel, stream: stream))
    }

    public struct Iterator: AsyncIteratorProtocol {
        let handle: Handle

        public mutating func next() async throws(FERStreamError) -> FrameResult? {
            try await handle.next()
        }

        public mutating func next(isolation actor: isolated (any Actor)?) async throws(FERStreamError) -> FrameResult? {
            try await handle.next()
        }
    }

    /// Stops the run when the iterator goes away before the end (a `break` out of `for await`).
    final class Handle: Sendable {
        let channel: ResultChannel
        let stream: EmotionStream

        init(channel: ResultChannel, stream: EmotionStream) {
            self.channel = channel
            self.stream = stream
        }

        deinit {
            channel.cancel()
            stream.stop()
        }

        func next() async throws(FERStreamError) -> FrameResult? {
            let channel = self.channel, stream = self.stream
            do {
                return try await withTaskCancellationHandler {
                    try await channel.take()
                } onCancel: {
                    channel.cancel()
                    stream.stop()
                }
            } catch {
                throw FERStreamError(error)
            }
        }
    }
}

/// The hand-over between the pipeline's write stage (a `ResultWriter`, on its own thread) and an
/// async consumer: at most `capacity` results wait; a full buffer blocks the writer.
final class ResultChannel: ResultWriter, Sendable {
    private struct State {
        var buffer: [FrameResult] = []
        /// How the run ended, once it has; nil after the ending was handed to the consumer.
        var end: Result<Void, FERStreamError>?
        var ended = false
        var consumer: CheckedContinuation<FrameResult?, any Error>?
        var cancelled = false
        var writerWaiting = false
    }
    private let state = Mutex(State())
    /// Signalled when a waiting writer may go on (space, or cancelled).
    private let space = DispatchSemaphore(value: 0)
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    // MARK: the writer's side

    func write(_ result: FrameResult) throws(PipelineError) {
        enum Step { case handed(CheckedContinuation<FrameResult?, any Error>), queued, wait, cancelled }
        while true {
            let step = state.withLock { s -> Step in
                if s.cancelled { return .cancelled }
                if let c = s.consumer { s.consumer = nil; return .handed(c) }
                if s.buffer.count < capacity { s.buffer.append(result); return .queued }
                s.writerWaiting = true
                return .wait
            }
            switch step {
            case .handed(let c): c.resume(returning: result); return
            case .queued: return
            case .cancelled: throw .outputClosed  // the consumer left: the run stops quietly
            case .wait: space.wait()
            }
        }
    }

    /// The run is over: the consumer gets what is buffered, then the end (nil, or the error).
    func finish(_ outcome: Result<Void, FERStreamError>) {
        let waiting = state.withLock { s -> CheckedContinuation<FrameResult?, any Error>? in
            s.ended = true
            s.end = outcome
            guard let c = s.consumer else { return nil }
            s.consumer = nil
            s.end = nil
            return c
        }
        guard let waiting else { return }
        switch outcome {
        case .success: waiting.resume(returning: nil)
        case .failure(.outputClosed): waiting.resume(returning: nil)
        case .failure(let e): waiting.resume(throwing: e)
        }
    }

    /// The consumer is gone: wake everyone; the writer's next write stops the run.
    func cancel() {
        let (waiting, wake) = state.withLock { s -> (CheckedContinuation<FrameResult?, any Error>?, Bool) in
            s.cancelled = true
            s.buffer.removeAll()
            defer { s.consumer = nil; s.writerWaiting = false }
            return (s.consumer, s.writerWaiting)
        }
        waiting?.resume(returning: nil)
        if wake { space.signal() }
    }

    // MARK: the consumer's side

    func take() async throws -> FrameResult? {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<FrameResult?, any Error>) in
            enum Now { case value(FrameResult?, wake: Bool), failure(FERStreamError), wait }
            let now = state.withLock { s -> Now in
                if !s.buffer.isEmpty {
                    let r = s.buffer.removeFirst()
                    let wake = s.writerWaiting
                    s.writerWaiting = false
                    return .value(r, wake: wake)
                }
                if s.cancelled { return .value(nil, wake: false) }
                if s.ended {
                    let end = s.end
                    s.end = nil  // an error is reported once; after it, the sequence is over
                    if case .failure(let e)? = end, e.isReportable { return .failure(e) }
                    return .value(nil, wake: false)
                }
                s.consumer = c
                return .wait
            }
            switch now {
            case let .value(r, wake):
                if wake { space.signal() }
                c.resume(returning: r)
            case .failure(let e): c.resume(throwing: e)
            case .wait: break
            }
        }
    }
}

extension PipelineError {
    /// `outputClosed` is how a run stops when its reader leaves: not an error to report.
    var isReportable: Bool {
        if case .outputClosed = self { return false }
        return true
    }
}
