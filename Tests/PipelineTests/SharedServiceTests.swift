import FERCore
import FaceCrop
import FaceDetection
import FaceTracking
import SafeTensors
import FrameSource
import Foundation
import Pipeline
import Output
import Recognizer
import Synchronization
import XCTest

/// Keeps every frame it is given; optionally slow, optionally lossy.
private final class KeepingSink: FrameSink {
    let name: String
    let delivery: SinkDelivery
    let delay: useconds_t
    private let kept = Mutex<[SinkFrame]>([])
    private let finished = Mutex(0)
    var frames: [SinkFrame] { kept.withLock { $0 } }
    var finishCount: Int { finished.withLock { $0 } }

    init(name: String, delivery: SinkDelivery = .lossless, delay: useconds_t = 0) {
        self.name = name; self.delivery = delivery; self.delay = delay
    }

    func consume(_ frame: SinkFrame) throws(PipelineError) {
        usleep(delay)
        kept.withLock { $0.append(frame) }
    }

    func finish() throws(PipelineError) { finished.withLock { $0 += 1 } }
}

final class SharedServiceTests: XCTestCase {
    private func options(_ configure: (inout PipelineOptions) -> Void = { _ in }) -> PipelineOptions {
        var o = PipelineOptions()
        o.tracker = Detector.fullFrame.trackerOptions
        o.cropsPerFace = .fixed(1)
        configure(&o)
        return o
    }

    private func rawClass(_ r: FrameResult) -> Int? {
        r.faces.first.map { f in f.raw.indices.max { f.raw[$0] < f.raw[$1] }! }
    }

    /// Two pipelines, one recognizer service: the engine's calls hold both streams' crops, and
    /// each stream gets its own frames' scores back, in its own order.
    func testTwoStreamsShareOneServiceAndEachGetsItsOwnResultsInOrder() throws {
        let weights = try tinyWeights()
        let engine = FakeEngine(weights: weights, delay: 2000)
        var serviceOptions = RecognizerService.Options()
        serviceOptions.gather = 0.05  // generous: both streams' requests meet in one call
        let service = RecognizerService(Recognizer(weights: weights, engine: engine, tta: .center), options: serviceOptions)
        let sinks = [KeepingSink(name: "a"), KeepingSink(name: "b")]
        let pipelines = [0, 1].map { i in
            Pipeline(source: FakeSource(count: 40, delay: 100, offset: 3 * i), name: SourceName("stream\(i)"), detector: .fullFrame,
                     cropper: FaceCropper(), classifier: service.client(), sinks: [sinks[i]], options: options { $0.tagsSource = true })
        }
        let failures = Mutex<[PipelineError]>([])
        DispatchQueue.concurrentPerform(iterations: 2) { i in
            do throws(PipelineError) { _ = try pipelines[i].run() } catch { failures.withLock { $0.append(error) } }
        }
        XCTAssertTrue(failures.withLock { $0.isEmpty })
        for i in 0..<2 {
            let results = sinks[i].frames.map(\.result)
            XCTAssertEqual(results.map(\.frame), Array(0..<40), "stream \(i) in order")
            XCTAssertEqual(results.map { rawClass($0) }, (0..<40).map { ($0 + 3 * i) % 7 }, "stream \(i) got its own scores")
            XCTAssertEqual(Set(results.map(\.source)), ["stream\(i)"])
            XCTAssertEqual(sinks[i].finishCount, 1)
        }
        let stats = service.stats
        XCTAssertEqual(stats.crops, 80)
        XCTAssertGreaterThan(stats.mixedCalls, 0, "some calls mix both streams")
        XCTAssertLessThan(stats.calls, 80, "batched across streams")
        XCTAssertEqual(engine.callSizes.reduce(0, +), 80)
    }

    /// A client alone is served without waiting for others; a closed client is not waited for.
    func testAServiceAnswersEachRequestWithItsOwnCropsAndFailsAfterShutdown() throws {
        let weights = try tinyWeights()
        let engine = FakeEngine(weights: weights, delay: 0)
        let service = RecognizerService(Recognizer(weights: weights, engine: engine, tta: .tenCrop))
        let client = service.client()
        let faces = [0, 2, 5].map { k in GrayImage(width: 48, height: 48, pixels: [UInt8](repeating: UInt8(k * 30), count: 48 * 48)) }
        let scores = try client.cropProbabilities(for: faces, crops: [[0], [1, 2], []])
        XCTAssertEqual(scores.map(\.count), [1, 2, 0])
        XCTAssertEqual(scores[1].map { p in p.indices.max { p[$0] < p[$1] }! }, [2, 2])
        XCTAssertEqual(engine.callSizes, [3])
        XCTAssertThrowsError(try client.cropProbabilities(for: faces, crops: [[0]])) { XCTAssertTrue("\($0)".contains("crop lists")) }
        service.shutdown()
        XCTAssertThrowsError(try client.cropProbabilities(for: [faces[0]], crops: [[0]])) { XCTAssertTrue("\($0)".contains("shut down")) }
    }

    /// An engine failure reaches every request of the batch, and the run reports it.
    func testAnEngineFailureFailsTheRunThatAskedForIt() throws {
        let weights = try tinyWeights()
        let service = RecognizerService(Recognizer(weights: weights, engine: FakeEngine(weights: weights, delay: 0, failOnCall: 3), tta: .center))
        let sink = KeepingSink(name: "out")
        let p = Pipeline(source: FakeSource(count: 30), detector: .fullFrame, cropper: FaceCropper(), classifier: service.client(),
                         sinks: [sink], options: options { $0.batch = 1 })
        XCTAssertThrowsError(try p.run()) { XCTAssertTrue("\($0)".contains("fake failure on call 3"), "\($0)") }
        let frames = sink.frames.map(\.result.frame)
        XCTAssertEqual(frames, Array(0..<frames.count), "what was delivered is a prefix, in order")
        XCTAssertLessThanOrEqual(frames.count, 2, "nothing after the failed call")
        XCTAssertEqual(sink.finishCount, 1, "and the sink finished")
    }

    /// A slow drop-oldest sink loses frames (counted) but never holds back the lossless one.
    func testASlowLossySinkDropsAndCountsWhileTheLosslessOneGetsEveryFrame() throws {
        let weights = try tinyWeights()
        let writer = KeepingSink(name: "file")
        let slow = KeepingSink(name: "broker", delivery: .dropOldest(capacity: 2), delay: 20_000)
        let p = Pipeline(source: FakeSource(count: 60, delay: 0), detector: .fullFrame, cropper: FaceCropper(),
                         classifier: Recognizer(weights: weights, engine: FakeEngine(weights: weights, delay: 0), tta: .center),
                         sinks: [writer, slow], options: options())
        let stats = try p.run()
        XCTAssertEqual(writer.frames.map(\.result.frame), Array(0..<60))
        let got = slow.frames
        XCTAssertLessThan(got.count, 60, "the slow sink fell behind")
        XCTAssertEqual(got.map(\.result.frame), got.map(\.result.frame).sorted(), "in order")
        // Every frame is either delivered or counted as dropped before a delivered one.
        let broker = try XCTUnwrap(stats.sinks.first { $0.name == "broker" })
        XCTAssertEqual(broker.delivered, got.count)
        XCTAssertEqual(got.count + got.reduce(0) { $0 + $1.droppedBefore }, 60)
        XCTAssertEqual(broker.dropped, 60 - got.count)
        XCTAssertEqual(stats.sinks.first { $0.name == "file" }?.dropped, 0)
    }

    /// Several pipelines feed one shared sink; it finishes once, when its owner says so.
    func testASharedSinkTakesEveryStreamsFramesAndFinishesOnce() throws {
        let weights = try tinyWeights()
        let service = RecognizerService(Recognizer(weights: weights, engine: FakeEngine(weights: weights, delay: 0), tta: .center))
        let inner = KeepingSink(name: "stdout")
        let shared = SharedSink(inner)
        let pipelines = [0, 1, 2].map { i in
            Pipeline(source: FakeSource(count: 20, offset: i), name: SourceName("s\(i)"), detector: .fullFrame, cropper: FaceCropper(),
                     classifier: service.client(), sinks: [shared.handle()], options: options { $0.tagsSource = true })
        }
        DispatchQueue.concurrentPerform(iterations: 3) { i in _ = try? pipelines[i].run() }
        XCTAssertEqual(inner.finishCount, 0)
        try shared.finish()
        XCTAssertEqual(inner.finishCount, 1)
        for i in 0..<3 {
            let mine = inner.frames.filter { $0.result.source == "s\(i)" }
            XCTAssertEqual(mine.map(\.result.frame), Array(0..<20))
            XCTAssertEqual(mine.map { rawClass($0.result) }, (0..<20).map { ($0 + i) % 7 })
        }
    }
}
