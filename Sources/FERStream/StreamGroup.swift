import FERCore
import Foundation
import Pipeline
import Synchronization

/// Several inputs in one process: one `SharedModels` (one recognizer service, whose batches mix
/// every input's crops), and per input its own pipeline — its own real-time slot, skip count and
/// reconnects — so no input waits for another's frames. Live inputs all run at once; files run
/// `maxFilesAtOnce` at a time, as each finishes the next starts. One input failing (missing,
/// corrupt, a camera lost after its retries) ends only that input.
public final class StreamGroup: Sendable {
    /// How one input ended.
    public struct Outcome: Sendable {
        public let source: SourceName
        /// nil: the input was skipped before it was opened (`Plan.skip`).
        public let stats: PipelineStats?
        public let error: PipelineError?
        /// Per track, time on screen and class shares, once the input was opened. (Not the stream
        /// itself: a corpus of thousands of inputs must not keep each one's files and buffers.)
        public let summary: TrackSummary?
    }

    /// What the caller does with one input, decided before it is opened.
    public enum Plan: Sendable {
        /// Run it into these sinks. `done` is called after the run (before the group moves on)
        /// with its failure, if any, and whether `stop()` cut it short — then it did not reach
        /// its end — e.g. to move a complete output file into place.
        case run(sinks: @Sendable (EmotionStream) throws(PipelineError) -> [any FrameSink],
                 done: @Sendable (EmotionStream, PipelineError?, _ interrupted: Bool) throws(PipelineError) -> Void)
        /// Leave it (e.g. its result exists already).
        case skip
    }

    public let inputs: [SourceName]
    public let options: StreamOptions
    public let models: SharedModels
    /// Files (and stdin) analysed at the same time.
    public let maxFilesAtOnce: Int
    private let running = Mutex<[EmotionStream]>([])
    private let stopped = Mutex(false)

    public init(inputs: [String], options: StreamOptions, models: SharedModels, maxFilesAtOnce: Int = 4) {
        self.inputs = inputs.map(SourceName.init)
        self.options = options
        self.models = models
        self.maxFilesAtOnce = max(1, maxFilesAtOnce)
    }

    /// Runs every input to its end (or `stop()`), `plan` deciding per input; each result names
    /// its source when there is more than one input. Outcomes come back in input order;
    /// `finished` is told of each as it ends (e.g. to print its error at once). Per opened input,
    /// `progress` gives its progress display, if any (e.g. a `ProgressLine` for a file), and
    /// `periodicStats` what to call with its stats every `PipelineOptions.statsInterval`, if
    /// anything (e.g. for live inputs only).
    public func run(tagsSource: Bool? = nil, plan: @escaping @Sendable (SourceName) -> Plan,
                    progress: (@Sendable (EmotionStream) -> (any FrameProgress)?)? = nil,
                    periodicStats: (@Sendable (EmotionStream) -> (@Sendable (PipelineStats) -> Void)?)? = nil,
                    finished: @escaping @Sendable (Outcome) -> Void = { _ in }) -> [Outcome] {
        let tags = tagsSource ?? (inputs.count > 1)
        let outcomes = Mutex([Outcome?](repeating: nil, count: inputs.count))
        let group = DispatchGroup()
        // Files take turns for a limited number of places; live inputs never wait for one.
        let places = DispatchSemaphore(value: maxFilesAtOnce)
        for (i, source) in inputs.enumerated() {
            let live = InputKind.isLive(source.input)
            if !live { places.wait() }
            let thread = Thread { [self] in
                let outcome = runOne(source, tagsSource: tags, plan: plan(source), progress: progress, periodicStats: periodicStats)
                outcomes.withLock { $0[i] = outcome }
                finished(outcome)
                if !live { places.signal() }
                group.leave()
            }
            thread.name = "fer-stream.input.\(i)"
            group.enter()
            if stopped.withLock({ $0 }) {
                let outcome = Outcome(source: source, stats: nil, error: nil, summary: nil)
                outcomes.withLock { $0[i] = outcome }
                if !live { places.signal() }
                group.leave()
                continue
            }
            thread.start()
        }
        group.wait()
        return outcomes.withLock { $0.map { $0! } }
    }

    /// Stops every input (frames already read are finished) and starts no more.
    public func stop() {
        stopped.withLock { $0 = true }
        running.withLock { $0.forEach { $0.stop() } }
    }

    private func runOne(_ source: SourceName, tagsSource: Bool, plan: Plan, progress: (@Sendable (EmotionStream) -> (any FrameProgress)?)?,
                        periodicStats: (@Sendable (EmotionStream) -> (@Sendable (PipelineStats) -> Void)?)?) -> Outcome {
        guard case let .run(makeSinks, done) = plan else { return Outcome(source: source, stats: nil, error: nil, summary: nil) }
        let stream: EmotionStream
        do { stream = try EmotionStream(source.input, options: options, models: models) } catch {
            return Outcome(source: source, stats: nil, error: error, summary: nil)
        }
        running.withLock { $0.append(stream) }
        defer { running.withLock { $0.removeAll { $0 === stream } } }
        if stopped.withLock({ $0 }) { stream.stop() }
        var stats: PipelineStats?
        var failure: PipelineError?
        do {
            let sinks = try makeSinks(stream)
            stats = try stream.run(sinks: sinks, tagsSource: tagsSource, progress: progress?(stream), periodicStats: periodicStats?(stream))
        } catch {
            failure = error
        }
        // Stopped while it ran: what was read is finished, but the input's end was not reached.
        let interrupted = stopped.withLock { $0 } && !stream.isLive
        do { try done(stream, failure, interrupted) } catch { if failure == nil { failure = error } }
        return Outcome(source: source, stats: stats, error: failure, summary: stream.summary)
    }
}
