import FERCore
import FaceCrop
import FaceDetection
import FaceTracking
import FrameSource
import Foundation
import Pipeline
import Output
import Recognizer
import SafeTensors
import Synchronization
import XCTest

// The pipeline's core with fake stages around it: a source of generated frames, an engine that
// reads each crop's brightness as its class, and a writer that keeps what it is given. The
// detector is the real `fullFrame` one, so every frame is one face and every face one crop.

final class PipelineCoreTests: XCTestCase {
    private func pipeline(source: FakeSource, engine: (NetworkWeights) -> FakeEngine, writer: CollectingWriter,
                          tta: TestTimeAugmentation = .center, configure: (inout PipelineOptions) -> Void = { _ in })
        throws -> (Pipeline, FakeEngine) {
        let weights = try tinyWeights()
        let fake = engine(weights)
        var options = PipelineOptions()
        options.tracker = Detector.fullFrame.trackerOptions
        configure(&options)
        let p = Pipeline(source: source, detector: .fullFrame, cropper: FaceCropper(), recognizer: Recognizer(weights: weights, engine: fake, tta: tta),
                         writer: writer, options: options)
        return (p, fake)
    }

    private func rawClass(_ r: FrameResult) -> Int? {
        r.faces.first.map { f in f.raw.indices.max { f.raw[$0] < f.raw[$1] }! }
    }

    func testEveryFrameIsWrittenInOrderWithItsOwnResult() throws {
        let writer = CollectingWriter()
        let (p, _) = try pipeline(source: FakeSource(count: 60), engine: { FakeEngine(weights: $0, delay: 0) }, writer: writer)
        let stats = try p.run()
        XCTAssertEqual(writer.results.map(\.frame), Array(0..<60))
        // Each frame's raw probabilities are those of its own crop, not a neighbour's in the batch.
        XCTAssertEqual(writer.results.map { rawClass($0) }, (0..<60).map { $0 % 7 })
        XCTAssertEqual(stats.framesDecoded, 60)
        XCTAssertEqual(stats.framesAnalysed, 60)
        XCTAssertEqual(stats.crops, 60)
    }

    func testBatchesNeverExceedTheBatchSize() throws {
        // 10 crops per face and a batch of 25: at most 2 faces (20 crops) per call; the engine
        // is slow enough that frames queue up and are batched together.
        let writer = CollectingWriter()
        let (p, engine) = try pipeline(source: FakeSource(count: 40, delay: 0), engine: { FakeEngine(weights: $0, delay: 3000) },
                                       writer: writer, tta: .tenCrop) { $0.batch = 25; $0.cropsPerFace = .fixed(10) }
        let stats = try p.run()
        XCTAssertEqual(writer.results.count, 40)
        XCTAssertEqual(engine.callSizes.reduce(0, +), 400)
        XCTAssertLessThanOrEqual(engine.callSizes.max() ?? 0, 20)
        XCTAssertGreaterThan(engine.callSizes.max() ?? 0, 10, "frames waiting were batched together")
        XCTAssertEqual(stats.networkCalls, engine.callSizes.count)
        XCTAssertEqual(writer.results.map { rawClass($0) }, (0..<40).map { $0 % 7 })
    }

    func testFilesSpreadTheCropsOverFramesByDefault() throws {
        // One track (the full frame): its whole set of 10 in its first frame, then 2 a frame.
        let writer = CollectingWriter()
        let (p, engine) = try pipeline(source: FakeSource(count: 21, delay: 0), engine: { FakeEngine(weights: $0, delay: 0) },
                                       writer: writer, tta: .tenCrop)
        let stats = try p.run()
        XCTAssertEqual(writer.results.map(\.frame), Array(0..<21))
        XCTAssertEqual(stats.crops, 10 + 20 * 2)
        XCTAssertEqual(engine.callSizes.reduce(0, +), 50)
        XCTAssertEqual(stats.meanCropsPerFace, 50.0 / 21, accuracy: 1e-9)
        XCTAssertTrue(stats.json.contains("\"crops_per_face\":2.38"), stats.json)
    }

    func testRealTimeCropBudgetKeepsUpWhereTheFullSetCannot() throws {
        // A live source at 25 fps and an engine taking 6 ms a crop: the whole set (61 ms a frame)
        // cannot keep up with frames 40 ms apart; the budget's fewer crops per face can, and the
        // lines come out within the latency budget.
        func run(_ crops: CropsPerFace) throws -> PipelineStats {
            let writer = CollectingWriter()
            let (p, _) = try pipeline(source: FakeSource(count: 60, isLive: true, delay: 40_000),
                                      engine: { FakeEngine(weights: $0, delay: 1000, perCrop: 6000) }, writer: writer, tta: .tenCrop) {
                $0.realtime = true
                $0.cropsPerFace = crops
            }
            let stats = try p.run()
            XCTAssertEqual(writer.results.map(\.skipped).reduce(0, +), stats.framesSkipped)
            return stats
        }
        let budget = try run(.auto), full = try run(.fixed(10))
        XCTAssertGreaterThan(full.framesSkipped, 12, "the whole set on every frame falls behind (about 1 frame in 3)")
        XCTAssertLessThanOrEqual(budget.framesSkipped, 6, "the budget keeps up: \(budget.json)")
        XCTAssertLessThan(budget.meanCropsPerFace, 6)
        XCTAssertGreaterThan(budget.meanCropsPerFace, 1.5, "but uses the time there is: \(budget.json)")
        XCTAssertLessThan(budget.latencyPercentile(95), 100, budget.json)
    }

    func testPeriodicStatsCountAsTheRunGoes() throws {
        // Every counter must move while the run goes on, not only once a stage ends
        // (`--stats` on a live stream reports every 10 s and may never see an end).
        let reports = NSLock()
        nonisolated(unsafe) var seen: [PipelineStats] = []
        let writer = CollectingWriter()
        let (p, _) = try pipeline(source: FakeSource(count: 40), engine: { FakeEngine(weights: $0) }, writer: writer) {
            $0.statsInterval = 0
            $0.periodicStats = { s in reports.withLock { seen.append(s) } }
        }
        _ = try p.run()
        let mid = try XCTUnwrap(reports.withLock { seen.dropFirst(30).first }, "a report for each line written")
        XCTAssertGreaterThan(mid.framesDecoded, 30)
        XCTAssertGreaterThan(mid.crops, 25)
        XCTAssertGreaterThan(mid.networkCalls, 0)
        XCTAssertGreaterThan(mid.decodeSeconds, 0)
        XCTAssertGreaterThan(mid.detectSeconds, 0)
        XCTAssertGreaterThan(mid.recogniseSeconds, 0)
        XCTAssertGreaterThan(mid.writeSeconds, 0)
        XCTAssertGreaterThan(mid.wallSeconds, 0)
    }

    func testRealTimeSkipsAreAccountedForOnTheNextLine() throws {
        // A live source faster than the engine: frames are dropped, never queued without bound,
        // and each line says how many were dropped before it.
        let writer = CollectingWriter()
        let (p, _) = try pipeline(source: FakeSource(count: 200, isLive: true, delay: 1000),
                                  engine: { FakeEngine(weights: $0, delay: 15_000) }, writer: writer) { $0.realtime = true }
        let stats = try p.run()
        let r = writer.results
        XCTAssertGreaterThan(stats.framesSkipped, 0)
        XCTAssertEqual(r.map(\.skipped).reduce(0, +), stats.framesSkipped)
        XCTAssertEqual(r.first.map { $0.frame - $0.skipped }, 0)
        for i in 1..<r.count { XCTAssertEqual(r[i].frame, r[i - 1].frame + r[i].skipped + 1, "line \(i)") }
        XCTAssertEqual(stats.framesAnalysed + stats.framesSkipped, stats.framesDecoded)
        XCTAssertEqual(r.map { rawClass($0) }, r.map { $0.frame % 7 })
    }

    func testASourceFailureKeepsTheFramesBeforeIt() throws {
        let writer = CollectingWriter()
        let (p, _) = try pipeline(source: FakeSource(count: 50, failAt: 20), engine: { FakeEngine(weights: $0) }, writer: writer)
        XCTAssertThrowsError(try p.run()) { error in
            guard case .source(.readFailed(_, let reason))? = error as? PipelineError else { return XCTFail("\(error)") }
            XCTAssertEqual(reason, "failed at frame 20")
        }
        XCTAssertEqual(writer.results.map(\.frame), Array(0..<20))
    }

    func testAnEngineFailureStopsTheRunWithItsError() throws {
        let writer = CollectingWriter()
        let (p, _) = try pipeline(source: FakeSource(count: 200), engine: { FakeEngine(weights: $0, failOnCall: 5) }, writer: writer)
        XCTAssertThrowsError(try p.run()) { error in
            guard case .recognizer(.backend(let reason))? = error as? PipelineError else { return XCTFail("\(error)") }
            XCTAssertEqual(reason, "fake failure on call 5")
        }
        let frames = writer.results.map(\.frame)
        XCTAssertEqual(frames, Array(0..<frames.count), "what was written is a prefix, in order")
        XCTAssertLessThan(frames.count, 200)
    }

    func testAWriterFailureStopsTheRun() throws {
        let writer = CollectingWriter(failAt: 7)
        let source = FakeSource(count: 10_000)
        let (p, _) = try pipeline(source: source, engine: { FakeEngine(weights: $0, delay: 0) }, writer: writer)
        XCTAssertThrowsError(try p.run()) { error in
            guard case .output(_, let reason)? = error as? PipelineError else { return XCTFail("\(error)") }
            XCTAssertEqual(reason, "failed at frame 7")
        }
        XCTAssertEqual(writer.results.map(\.frame), Array(0..<7))
    }

    func testStopFinishesTheFramesInFlightAndReturns() throws {
        // An endless live source, stopped from another thread once 25 lines are out, as Ctrl-C does.
        // Not in real time: a live source's real time may skip a frame on a loaded machine (every
        // 2 ms here), and what is tested is that stopping loses none.
        let source = FakeSource(count: .max, isLive: true, delay: 2000)
        nonisolated(unsafe) var stopper: Pipeline?
        let writer = CollectingWriter { n in if n == 25 { DispatchQueue.global().async { stopper?.stop() } } }
        let (p, _) = try pipeline(source: source, engine: { FakeEngine(weights: $0) }, writer: writer) { $0.realtime = false }
        stopper = p
        let stats = try p.run()
        let frames = writer.results.map(\.frame)
        XCTAssertGreaterThanOrEqual(frames.count, 25)
        XCTAssertEqual(frames, Array(0..<frames.count), "nothing read is lost")
        XCTAssertEqual(stats.framesDecoded, frames.count)
    }
}
