import Dispatch
import FERCore
import FaceCrop
import FaceDetection
import FaceTracking

/// The second stage: finds faces (the whole frame every `detectEvery` analysed frames and
/// whenever none is tracked, otherwise only around the tracked faces, which costs a fraction as
/// much), follows them with the tracker and cuts each out as the network's 48×48 face.
struct DetectStage: Stage {
    let detector: Detector
    let cropper: FaceCropper
    let detectEvery: Int
    /// A sink wants pictures: the frame's colour picture goes on with it.
    let keepsPictures: Bool
    private var tracker: FaceTracker
    private var sinceWholeFrame = Int.max - 1

    let observer: any StageObserver

    init(detector: Detector, cropper: FaceCropper, tracker: FaceTracker.Options, options: PipelineOptions, keepsPictures: Bool,
         observer: any StageObserver) {
        self.observer = observer
        self.detector = detector
        self.cropper = cropper
        detectEvery = options.detectEvery
        self.keepsPictures = keepsPictures
        self.tracker = FaceTracker(options: tracker)
    }

    mutating func take(_ captured: Captured, more: () -> Captured?, emit: (Detected) -> Bool) throws(PipelineError) {
        let item = try process(captured)
        observer.detected(seconds: item.detectSeconds)
        _ = emit(item)
    }

    mutating func process(_ captured: Captured) throws(PipelineError) -> Detected {
        let frame = captured.frame
        let t0 = DispatchTime.now().uptimeNanoseconds
        var faces: [TrackedFace] = [], crops: [GrayImage] = []
        if captured.analyse {
            let known = tracker.liveBoxes
            let detections: [Detection]
            do {
                if known.isEmpty || sinceWholeFrame + 1 >= detectEvery {
                    detections = try detector.detections(in: frame.image)
                    sinceWholeFrame = 0
                } else {
                    detections = try detector.detections(in: frame.image, near: known)
                    sinceWholeFrame += 1
                }
            } catch {
                throw PipelineError(detecting: error)
            }
            faces = tracker.update(detections: detections, time: frame.time)
            crops = faces.map { cropper.crop(frame.image, face: $0) }
        }
        // An annotated video needs every picture: a frame without one would be dropped from it unseen.
        if keepsPictures && frame.colour == nil {
            throw .unexpected("frame \(frame.index) came without its colour picture, so it cannot be annotated")
        }
        let info = FrameInfo(index: frame.index, time: frame.time, capturedAt: captured.capturedAt,
                             skippedBefore: captured.skippedBefore, analysed: captured.analyse,
                             picture: keepsPictures ? frame.colour : nil)
        return Detected(info: info, faces: faces, crops: crops, period: captured.period, detectSeconds: seconds(sinceNanos: t0))
    }
}
