import Dispatch

/// One step of a pipeline — decode, detect, classify, label, and whatever comes next (a live-view
/// encoder, a second network) — as a value: it takes values, emits values in order, and finishes.
/// It knows nothing of threads or queues: a `StageRunner` gives it both, so adding a stage is
/// writing one of these and composing it in `Pipeline.run`, touching no other stage.
protocol Stage: SendableMetatype {
    associatedtype Input: Sendable
    associatedtype Output: Sendable

    /// Takes `input` and emits what it makes of it through `emit`, in order. `more` hands over an
    /// input that is already waiting, without blocking (nil: none now), for a stage that batches.
    /// `emit` returns false once nothing downstream takes more: the stage then returns.
    mutating func take(_ input: Input, more: () -> Input?, emit: (Output) -> Bool) throws(PipelineError)

    /// After the last input: emits whatever the stage still holds.
    mutating func finish(emit: (Output) -> Bool) throws(PipelineError)
}

extension Stage {
    mutating func finish(emit: (Output) -> Bool) throws(PipelineError) {}
}

/// Where a stage's inputs come from: the previous stage's queue, or, for the first stage, a
/// function that reads the next one (nil: the input has ended).
enum Inlet<Value: Sendable>: Sendable {
    case queue(BoundedQueue<Value>)
    case read(@Sendable () -> Value?)
}

/// Where a stage's outputs go: `put` hands one over (false: nothing downstream takes more),
/// `close` says there are no more.
struct Outlet<Value: Sendable>: Sendable {
    let put: @Sendable (Value) -> Bool
    let close: @Sendable () -> Void

    /// Every value, in order, waiting while the queue is full.
    static func lossless(_ queue: BoundedQueue<Value>) -> Outlet {
        Outlet(put: { queue.put($0) }, close: { queue.close() })
    }

    /// Real time: a value the next stage has not taken when a newer one comes is dropped, and
    /// `absorb` folds what it carried into the newer one (e.g. a count of skipped frames).
    static func newest(_ queue: BoundedQueue<Value>, absorb: @escaping @Sendable (_ new: inout Value, _ dropped: Value) -> Void) -> Outlet {
        Outlet(put: { queue.putDroppingOldest($0, absorb: absorb) }, close: { queue.close() })
    }
}

/// Runs stages, each on a thread of its own: the one place that owns threads and queues. A stage
/// failing stops the whole run (`fail`); its outlet is closed when it ends, either way, so the
/// stages after it drain what they have and end too.
struct StageRunner: Sendable {
    let group: DispatchGroup
    let fail: @Sendable (PipelineError) -> Void

    /// Starts `make()`'s stage (made on its own thread, so that it need not be `Sendable`);
    /// `ended` is given the stage as it ends, however it ends (e.g. to keep what it summed up).
    func start<S: Stage>(_ name: String, _ make: @escaping @Sendable () -> S, from inlet: Inlet<S.Input>, to outlet: Outlet<S.Output>,
                         ended: (@Sendable (S) -> Void)? = nil) {
        let fail = self.fail
        DispatchQueue(label: "fer-stream.\(name)").async(group: group) {
            defer { outlet.close() }
            var stage = make()
            defer { ended?(stage) }
            let next: () -> S.Input?
            let more: () -> S.Input?
            switch inlet {
            case .queue(let queue):
                next = { queue.take() }
                more = { queue.poll() }
            case .read(let read):
                next = read
                more = { nil }
            }
            do throws(PipelineError) {
                var open = true
                while open, let input = next() {
                    try stage.take(input, more: more) { output in
                        if !outlet.put(output) { open = false }
                        return open
                    }
                }
                if open { try stage.finish { outlet.put($0) } }
            } catch {
                fail(error)
            }
        }
    }
}

/// Told what the stages do as they go, for the run's stats (`RunBoard`) and progress: the stages
/// report, the observer keeps the books.
protocol StageObserver: Sendable {
    /// The source was asked for a frame: how long it took, and whether it gave one.
    func read(seconds: Double, gotFrame: Bool)
    /// The source failed: the frames read before still go on.
    func sourceFailed(_ error: PipelineError)
    /// Real time: a frame was dropped for a newer one.
    func skipped()
    /// A frame's detection took this long.
    func detected(seconds: Double)
    /// A batch of frames went through the network(s); `byNetwork`: crops per network's name.
    func classified(crops: Int, calls: Int, seconds: Double, byNetwork: [String: Int])
    /// A frame went to the sinks (`busy`: labelling it and handing it over).
    func labelled(_ frame: SinkFrame, index: Int, capturedAt: UInt64, busy: Double)
}
