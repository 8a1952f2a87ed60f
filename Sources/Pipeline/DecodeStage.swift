import Dispatch
import FERCore
import FrameSource
#if canImport(Glibc)
import Glibc
#endif

/// The first stage: takes the frames read from the source and hands them on as `Captured`, with
/// when each was read and the input's recent frame period. Frames that are not analysed
/// (`every` > 1) go on only when a sink wants every picture. A file read in real time is paced by
/// its presentation times, as if it were live; in real time the hand-over to the next stage keeps
/// only the newest frame (`Outlet.newest`, composed in `Pipeline.run`).
struct DecodeStage: Stage {
    let every: Int
    let realtime: Bool
    /// The source is read at its own pace (cameras, streams): nothing to wait for.
    let sourceIsLive: Bool
    /// A sink wants every frame's picture (the annotated video).
    let passesEveryFrame: Bool
    private var pace: (wall: UInt64, media: Double)?
    /// Seconds per input frame, recently.
    private var period = 1.0 / 30
    private var lastTime: Double?

    init(every: Int, realtime: Bool, sourceIsLive: Bool, passesEveryFrame: Bool) {
        self.every = every
        self.realtime = realtime
        self.sourceIsLive = sourceIsLive
        self.passesEveryFrame = passesEveryFrame
    }

    mutating func take(_ frame: Frame, more: () -> Frame?, emit: (Captured) -> Bool) throws(PipelineError) {
        if let last = lastTime, frame.time > last, frame.time - last < 1 {
            period += 0.1 * ((frame.time - last) - period)
        }
        lastTime = frame.time
        let analyse = frame.index % every == 0
        if !analyse && !passesEveryFrame { return }
        if realtime {
            // A file read in real time waits for each frame's presentation time.
            if let p = pace {
                let due = p.wall + UInt64(max(0, frame.time - p.media) * 1e9)
                let now = DispatchTime.now().uptimeNanoseconds
                if due > now { usleep(useconds_t(min((due - now) / 1000, 1_000_000))) }
            } else if !sourceIsLive {
                pace = (DispatchTime.now().uptimeNanoseconds, frame.time)
            }
        }
        _ = emit(Captured(frame: frame, capturedAt: DispatchTime.now().uptimeNanoseconds, skippedBefore: 0, analyse: analyse,
                          period: period * Double(every)))
    }
}

extension FrameProducer {
    /// The source as the first stage's inlet: each frame read, timed and told to `observer`; a
    /// source failing part-way (a cut-off file, a lost stream) is told too, and ends the input,
    /// so that the frames already read are still finished downstream.
    func inlet(observer: any StageObserver) -> Inlet<Frame> {
        .read { [self] in
            let t0 = DispatchTime.now().uptimeNanoseconds
            do {
                let frame = try nextFrame()
                // The counters move with each frame, so that `--stats` mid-run reports them as they are.
                observer.read(seconds: seconds(sinceNanos: t0), gotFrame: frame != nil)
                return frame
            } catch {
                observer.sourceFailed(PipelineError(error))
                return nil
            }
        }
    }
}
