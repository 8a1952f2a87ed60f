import FERStream
import XCTest

/// No frames at all, live or not: enough to open a stream and read the options it settled on.
private final class NoFrames: FrameProducer {
    let isLive: Bool
    init(isLive: Bool) { self.isLive = isLive }
    func nextFrame() throws -> Frame? { nil }
    func cancel() {}
}

/// What the caller chose for the tracker and real time is what the stream runs with; only where
/// it chose nothing do the detector's and the input's defaults apply.
final class StreamOptionsTests: XCTestCase {
    private var base: StreamOptions {
        var o = StreamOptions()
        o.faces.kind = .fullFrame
        o.recognizer.tta = .center
        o.recognizer.threads = 2
        return o
    }

    private func settled(_ options: StreamOptions, live: Bool) throws -> PipelineOptions {
        try EmotionStream(frames: NoFrames(isLive: live), options: options).pipelineOptions
    }

    func testTheDetectorsTrackerOnlyWhereTheCallerChoseNone() throws {
        // Nothing chosen: the detector's (a full frame is always the face: reported at once).
        XCTAssertEqual(try settled(base, live: false).tracker, Detector.fullFrame.trackerOptions)
        XCTAssertNotEqual(Detector.fullFrame.trackerOptions, PipelineOptions().tracker, "else the cases below prove nothing")

        let chosen = FaceTracker.Options(maxMisses: 4, minHits: 5, minBirthStrength: 0.9)
        var viaTracker = base
        viaTracker.tracker = chosen
        XCTAssertEqual(try settled(viaTracker, live: false).tracker, chosen)

        var viaPipeline = base
        viaPipeline.pipeline.tracker = chosen
        XCTAssertEqual(try settled(viaPipeline, live: false).tracker, chosen, "the pipeline's tracker, changed, is kept")

        // Both: the stream's own field is the explicit one.
        var both = viaPipeline
        both.tracker = FaceTracker.Options(minHits: 7)
        XCTAssertEqual(try settled(both, live: false).tracker.minHits, 7)
    }

    func testRealTimeAsChosenElseOnForLiveInputs() throws {
        XCTAssertFalse(try settled(base, live: false).realtime)
        XCTAssertTrue(try settled(base, live: true).realtime)

        var off = base
        off.realtime = false
        XCTAssertFalse(try settled(off, live: true).realtime, "a live input the caller wants at its own pace")
        var on = base
        on.realtime = true
        XCTAssertTrue(try settled(on, live: false).realtime, "a file paced as if live")

        var viaPipeline = base
        viaPipeline.pipeline.realtime = true
        XCTAssertTrue(try settled(viaPipeline, live: false).realtime, "the pipeline's realtime, set, is kept")
        viaPipeline.realtime = false
        XCTAssertFalse(try settled(viaPipeline, live: false).realtime, "the stream's own field is the explicit one")
    }

    func testOtherPipelineOptionsPassThrough() throws {
        var o = base
        o.pipeline.every = 3
        o.pipeline.smoothing = .window(4)
        let p = try settled(o, live: true)
        XCTAssertEqual(p.every, 3)
        XCTAssertEqual(p.smoothing, .window(4))
    }
}
