import FERStream
import Foundation
import Synchronization
import TestSupport
import XCTest

// The library end to end with the real model (the bundled VGG19, found as a library user finds
// it) on frames the test supplies: each frame is one face (`full-frame` detection).

/// Generated 64×64 pictures, a different smooth pattern per frame; can fail at a given frame and
/// records whether it was cancelled.
private final class GeneratedFrames: FrameProducer {
    let isLive = false
    let count: Int
    let failAt: Int?
    private let state = Mutex((next: 0, cancelled: false))

    init(count: Int, failAt: Int? = nil) {
        self.count = count
        self.failAt = failAt
    }

    var wasCancelled: Bool { state.withLock { $0.cancelled } }

    func nextFrame() throws -> Frame? {
        let i: Int? = state.withLock { s in
            guard !s.cancelled, s.next < count else { return nil }
            defer { s.next += 1 }
            return s.next
        }
        guard let i else { return nil }
        if i == failAt { throw FrameSourceError.readFailed(input: "generated", reason: "cut off at frame \(i)") }
        var pixels = [UInt8](repeating: 0, count: 64 * 64)
        for y in 0..<64 { for x in 0..<64 { pixels[y * 64 + x] = UInt8((x * (i % 5 + 1) + y * 3 + i * 7) % 256) } }
        return Frame(index: i, time: Double(i) / 25, image: GrayImage(width: 64, height: 64, pixels: pixels))
    }

    func cancel() { state.withLock { $0.cancelled = true } }
}

final class EmotionStreamTests: XCTestCase {
    private var options: StreamOptions {
        var o = StreamOptions()
        o.faces.kind = .fullFrame
        o.recognizer.tta = .center
        o.recognizer.threads = 2
        return o
    }

    func testResultsComeInOrderOnePerFrame() async throws {
        let frames = GeneratedFrames(count: 30)
        let stream = try EmotionStream(frames: frames, options: options)
        XCTAssertEqual(stream.labels, .fer2013)
        var seen: [FrameResult] = []
        for try await result in stream.results(buffer: 2) { seen.append(result) }
        XCTAssertEqual(seen.map(\.frame), Array(0..<30))
        for r in seen {
            XCTAssertEqual(r.faces.count, 1)
            let face = try XCTUnwrap(r.faces.first)
            XCTAssertEqual(face.probs.count, 7)
            XCTAssertEqual(face.probs.reduce(0, +), 1, accuracy: 1e-3)
            XCTAssertTrue(stream.labels.indices.contains(face.label))
        }
        XCTAssertEqual(stream.summary.all.map(\.frames), [30], "the summary covers what was delivered")
    }

    func testTheSameFramesGiveTheSameResultsAsTheBlockingRun() async throws {
        let viaSequence = try EmotionStream(frames: GeneratedFrames(count: 12), options: options)
        var a: [FrameResult] = []
        for try await r in viaSequence.results() { a.append(r) }
        let blocking = try EmotionStream(frames: GeneratedFrames(count: 12), options: options)
        let kept = Kept()
        let stats = try blocking.run(writer: kept)
        XCTAssertEqual(stats.framesAnalysed, 12)
        // Frames are batched as they happen to wait, and oneDNN's kernels differ by batch size in
        // the last bits: the same faces and labels, probabilities equal to 1e-5.
        let b = kept.results
        XCTAssertEqual(a.map(\.frame), b.map(\.frame))
        for (x, y) in zip(a, b) {
            XCTAssertEqual(x.faces.map(\.track), y.faces.map(\.track))
            XCTAssertEqual(x.faces.map(\.box), y.faces.map(\.box))
            XCTAssertEqual(x.faces.map(\.label), y.faces.map(\.label))
            for (f, g) in zip(x.faces, y.faces) {
                for (p, q) in zip(f.probs + f.raw, g.probs + g.raw) { XCTAssertEqual(p, q, accuracy: 1e-5, "frame \(x.frame)") }
            }
        }
    }

    func testBreakingOffStopsTheRun() async throws {
        let frames = GeneratedFrames(count: 1_000_000)
        let stream = try EmotionStream(frames: frames, options: options)
        var n = 0
        for try await _ in stream.results(buffer: 1) {
            n += 1
            if n == 3 { break }
        }
        XCTAssertEqual(n, 3)
        // The iterator is gone: the source is told to stop (waited for, not timed).
        for _ in 0..<200 where !frames.wasCancelled { try await Task.sleep(nanoseconds: 50_000_000) }
        XCTAssertTrue(frames.wasCancelled, "breaking out of the loop cancels the source")
    }

    func testCancellingTheTaskStopsTheRun() async throws {
        let frames = GeneratedFrames(count: 1_000_000)
        let stream = try EmotionStream(frames: frames, options: options)
        let counted = Mutex(0)
        let task = Task {
            for try await _ in stream.results(buffer: 1) { counted.withLock { $0 += 1 } }
        }
        while counted.withLock({ $0 }) < 2 { try await Task.sleep(nanoseconds: 10_000_000) }
        task.cancel()
        _ = await task.result  // ends: no hang
        XCTAssertTrue(frames.wasCancelled)
    }

    func testASourceFailureComesAfterTheFramesBeforeIt() async throws {
        let stream = try EmotionStream(frames: GeneratedFrames(count: 20, failAt: 6), options: options)
        var seen: [Int] = []
        do {
            for try await r in stream.results() { seen.append(r.frame) }
            XCTFail("the failure must be thrown")
        } catch {
            XCTAssertEqual(seen, Array(0..<6))
            XCTAssertTrue(error.description.contains("cut off at frame 6"), error.description)
        }
    }

    func testAStreamRunsOnce() throws {
        let stream = try EmotionStream(frames: GeneratedFrames(count: 2), options: options)
        _ = try stream.run(writer: Kept())
        XCTAssertThrowsError(try stream.run(writer: Kept())) { error in
            XCTAssertTrue("\(error)".contains("runs once"), "\(error)")
        }
    }

    func testABadInputFailsOnOpenWithOneLineNamingIt() throws {
        let missing = Scratch.path("no-such-clip.mp4")
        XCTAssertThrowsError(try EmotionStream(missing, options: options)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("no-such-clip.mp4"), text)
            XCTAssertFalse(text.contains("\n"))
        }
        var bad = options
        bad.recognizer.model = Scratch.path("no-such-model.safetensors")
        XCTAssertThrowsError(try EmotionStream(frames: GeneratedFrames(count: 1), options: bad)) { error in
            XCTAssertTrue("\(error)".contains("no-such-model.safetensors"), "\(error)")
        }
    }

    func testAVideoFileDecodedThroughTheLibrary() async throws {
        let path = Scratch.path("library-clip.mp4")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/ffmpeg")
        p.arguments = ["-y", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=96x72:rate=10", "-frames:v", "15",
                       "-pix_fmt", "yuv420p", "-c:v", "libx264", path]
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let stream = try EmotionStream(path, options: options)
        XCTAssertFalse(stream.isLive)
        XCTAssertEqual(stream.frameRate ?? 0, 10, accuracy: 0.01)
        var frames: [Int] = []
        for try await r in stream.results() { frames.append(r.frame) }
        XCTAssertEqual(frames, Array(0..<15))
    }
}

/// Keeps what it is given.
private final class Kept: ResultWriter {
    private let kept = Mutex<[FrameResult]>([])
    var results: [FrameResult] { kept.withLock { $0 } }
    func write(_ result: FrameResult) throws(PipelineError) { kept.withLock { $0.append(result) } }
}
