import Dispatch
import FERCore
import FrameSource
#if canImport(Glibc)
import Glibc
#endif

/// The first stage: reads frames from the source and hands them on as `Captured`, with when each
/// was read and the input's recent frame period. Frames that are not analysed (`every` > 1) go
/// on only when a sink wants every picture. In real time the hand-over keeps only the newest
/// frame (a one-frame slot that drops the oldest, counting what it dropped); a file read in real
/// time is paced by its presentation times, as if it were live.
struct DecodeStage {
    let source: any FrameProducer
    let every: Int
    let realtime: Bool
    /// A sink wants every frame's picture (the annotated video).
    let passesEveryFrame: Bool

    /// Runs to the end of the source. A source failing part-way (a cut-off file, a lost stream)
    /// is recorded on `board`, and the frames already read are still finished downstream.
    func run(into frames: BoundedQueue<Captured>, board: RunBoard) {
        defer { frames.close() }
        let paceFile = realtime && !source.isLive
        var pace: (wall: UInt64, media: Double)?
        var period = 1.0 / 30, lastTime: Double?  // seconds per input frame, recently
        while true {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let next: Frame?
            do { next = try source.nextFrame() } catch {
                board.fail(PipelineError(error))
                return
            }
            let busy = seconds(sinceNanos: t0)
            guard let frame = next else { board.update { $0.decodeSeconds += busy }; return }
            // The counters move with each frame, so that `--stats` mid-run reports them as they are.
            board.update { $0.framesDecoded += 1; $0.decodeSeconds += busy }
            if let last = lastTime, frame.time > last, frame.time - last < 1 {
                period += 0.1 * ((frame.time - last) - period)
            }
            lastTime = frame.time
            let analyse = frame.index % every == 0
            if !analyse && !passesEveryFrame { continue }
            if realtime {
                // A file read in real time waits for each frame's presentation time.
                if let p = pace {
                    let due = p.wall + UInt64(max(0, frame.time - p.media) * 1e9)
                    let now = DispatchTime.now().uptimeNanoseconds
                    if due > now { usleep(useconds_t(min((due - now) / 1000, 1_000_000))) }
                } else if paceFile {
                    pace = (DispatchTime.now().uptimeNanoseconds, frame.time)
                }
            }
            let item = Captured(frame: frame, capturedAt: DispatchTime.now().uptimeNanoseconds, skippedBefore: 0, analyse: analyse,
                                period: period * Double(every))
            if realtime {
                let ok = frames.putDroppingOldest(item) { new, dropped in
                    new.skippedBefore += dropped.skippedBefore + 1
                    board.update { $0.framesSkipped += 1 }
                }
                if !ok { return }
            } else if !frames.put(item) {
                return
            }
        }
    }
}
