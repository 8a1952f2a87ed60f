import FERStream
import XCTest

/// No frames at all, live or not: enough to make a pipeline and read the settings it settled on.
private final class NoFrames: FrameProducer {
    let isLive: Bool
    init(isLive: Bool) { self.isLive = isLive }
    func nextFrame() throws -> Frame? { nil }
    func cancel() {}
}

/// The tracker and real time have one home, `PipelineOptions`: what the caller chose there is
/// what the pipeline runs with; where it chose nothing (nil) the detector's and the input's own apply.
final class StreamOptionsTests: XCTestCase {
    private var base: StreamOptions {
        var o = StreamOptions()
        o.faces.kind = .fullFrame
        o.recognizer.tta = .center
        o.recognizer.threads = 2
        return o
    }

    private func pipeline(_ options: StreamOptions, live: Bool) throws -> Pipeline {
        let models = try SharedModels(options: options)
        return Pipeline(source: NoFrames(isLive: live), detector: models.detector, cropper: models.cropper,
                        classifier: models.service.client(), sinks: [], options: options.pipeline)
    }

    func testTheDetectorsTrackerOnlyWhereTheCallerChoseNone() throws {
        XCTAssertNil(PipelineOptions().tracker, "no detector's settings are everyone's default")
        // Nothing chosen: the detector's (a full frame is always the face: reported at once).
        XCTAssertEqual(try pipeline(base, live: false).tracker, Detector.fullFrame.trackerOptions)

        let chosen = FaceTracker.Options(maxMisses: 4, minHits: 5, minBirthStrength: 0.9)
        var o = base
        o.pipeline.tracker = chosen
        XCTAssertEqual(try pipeline(o, live: false).tracker, chosen)
    }

    func testRealTimeAsChosenElseOnForLiveInputs() throws {
        XCTAssertFalse(try pipeline(base, live: false).realtime)
        XCTAssertTrue(try pipeline(base, live: true).realtime)

        var off = base
        off.pipeline.realtime = false
        XCTAssertFalse(try pipeline(off, live: true).realtime, "a live input the caller wants at its own pace")
        var on = base
        on.pipeline.realtime = true
        XCTAssertTrue(try pipeline(on, live: false).realtime, "a file paced as if live")

        // The stream says the same as the pipeline it makes.
        XCTAssertTrue(try EmotionStream(frames: NoFrames(isLive: true), options: base).realtime)
        XCTAssertFalse(try EmotionStream(frames: NoFrames(isLive: true), options: off).realtime)
        XCTAssertTrue(try EmotionStream(frames: NoFrames(isLive: false), options: on).realtime)
    }

    func testPipelineOptionsPassThroughTheStream() throws {
        var o = base
        o.pipeline.every = 3
        o.pipeline.smoothing = .window(4)
        let p = try EmotionStream(frames: NoFrames(isLive: true), options: o).pipelineOptions
        XCTAssertEqual(p.every, 3)
        XCTAssertEqual(p.smoothing, .window(4))
        XCTAssertNil(p.tracker)
    }

    func testTheCheapNetworkIsLookedForOnlyWhereRealTimeMayUseIt() throws {
        var o = base
        o.recognizer.fastModel = .file("/nonexistent/student.safetensors")
        // Real time not chosen (nil: live inputs decide): opening succeeds, the first real-time stream fails.
        let models = try SharedModels(options: o)
        XCTAssertThrowsError(try models.fastService()) { XCTAssertTrue("\($0)".contains("/nonexistent/student.safetensors"), "\($0)") }
        // Files only: never looked for.
        o.pipeline.realtime = false
        XCTAssertNoThrow(try SharedModels(options: o))
        // Real time asked for: it fails at once, before any input is opened.
        o.pipeline.realtime = true
        XCTAssertThrowsError(try SharedModels(options: o))
        // None: real time without it.
        o.recognizer.fastModel = .none
        XCTAssertNil(try SharedModels(options: o).fastService())
        // A model named (not the default): the bundled student is not used.
        o.recognizer.fastModel = .auto
        o.recognizer.model = try o.recognizer.modelPath()
        XCTAssertNil(try o.recognizer.fastModelPath(environment: [:]))
    }
}
