import Dispatch
import FERCore

/// The fourth stage: smooths each track's probabilities over time, chooses its label by the label
/// rule, and makes the frame every sink gets. Frames passed along only for their picture carry
/// the latest analysed faces. Keeps the run's track summary.
struct LabelStage: Stage {
    let source: SourceName
    /// Each result names its source (several inputs in one run).
    let tagsSource: Bool
    private var smoother: TrackSmoother
    private(set) var summary: TrackSummary
    /// The latest analysed frame's faces, for the frames in between.
    private var shown: [FaceResult] = []

    let observer: any StageObserver

    init(source: SourceName, labels: LabelSet, options: PipelineOptions, observer: any StageObserver) {
        self.observer = observer
        self.source = source
        tagsSource = options.tagsSource
        smoother = TrackSmoother(options.smoothing, rule: options.labelRule)
        summary = TrackSummary(labels: labels)
        summary.keepsSeries = options.keepsTimeline
    }

    mutating func take(_ item: Recognised, more: () -> Recognised?, emit: (SinkFrame) -> Bool) throws(PipelineError) {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let frame = process(item)
        if !emit(frame) { return }
        observer.labelled(frame, index: item.info.index, capturedAt: item.info.capturedAt, busy: seconds(sinceNanos: t0))
    }

    mutating func process(_ item: Recognised) -> SinkFrame {
        let r = item.info
        let name = tagsSource ? source.input : nil
        guard r.analysed else {
            var frame = SinkFrame(source: source, result: FrameResult(frame: r.index, time: r.time, faces: shown, source: name),
                                  analysed: false, picture: r.picture)
            frame.capturedAt = r.capturedAt
            return frame
        }
        let faces = zip(item.faces, item.probabilities).map { face, raw in
            let s = smoother.update(track: face.track, raw: raw, time: r.time)
            return FaceResult(track: face.track, box: face.box, probs: s.probs, raw: raw, confidence: face.confidence,
                              landmarks: face.landmarks, label: s.label, held: s.held)
        }
        smoother.endFrame()
        let result = FrameResult(frame: r.index, time: r.time, faces: faces, skipped: r.skippedBefore, source: name)
        shown = faces
        summary.add(result)
        var frame = SinkFrame(source: source, result: result, analysed: true, picture: r.picture)
        frame.capturedAt = r.capturedAt
        return frame
    }
}
