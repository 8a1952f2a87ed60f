import Foundation
import Synchronization
import XCTest
import FERCore
import FrameSource
@testable import Pipeline
import TestSupport

/// Reconnecting on real decoded streams: two generated clips stand in for a live stream that ends
/// and comes back (no network needed, nothing timed).
final class ReconnectingSourceTests: XCTestCase {
    private func clip(_ name: String, frames: Int) throws -> String {
        let path = Scratch.path("reconnect-\(name).mp4")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/ffmpeg")
        p.arguments = ["-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-frames:v", "\(frames)",
                       "-pix_fmt", "yuv420p", "-c:v", "libx264", path]
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func testIndicesAndTimesCarryOnAcrossAReconnectAndTriesRunOut() throws {
        let a = try clip("a", frames: 6), b = try clip("b", frames: 4)
        let opens = Mutex(0)
        let logs = Mutex<[String]>([])
        let sleeps = Mutex<[Double]>([])
        let source = ReconnectingSource(first: try VideoSource(a), maxAttempts: 3, live: true,
                                        log: { line in logs.withLock { $0.append(line) } },
                                        sleep: { s in sleeps.withLock { $0.append(s) } }) {
            if opens.withLock({ $0 += 1; return $0 }) == 1 { return try VideoSource(b) }
            throw FrameSourceError.openFailed(input: "stream", reason: "Connection refused")
        }
        var frames: [Frame] = []
        XCTAssertThrowsError(try { while let f = try source.nextFrame() { frames.append(f) } }()) { error in
            XCTAssertEqual(error as? FrameSourceError, .openFailed(input: "stream", reason: "Connection refused"))
        }
        XCTAssertEqual(frames.map(\.index), Array(0..<10), "indices keep counting")
        for i in 1..<frames.count { XCTAssertGreaterThan(frames[i].time, frames[i - 1].time, "time never steps back") }
        XCTAssertEqual(frames[6].time, frames[5].time + 0.1, accuracy: 1e-6, "the second stream follows on")
        XCTAssertEqual(opens.withLock { $0 }, 4, "one good reopen, then 3 failed tries")
        XCTAssertEqual(sleeps.withLock { $0 }, [0.5, 0.5, 1, 2], "back-off doubles, reset after the good reopen")
        let lines = logs.withLock { $0 }
        XCTAssertTrue(lines.contains { $0.contains("reconnected") }, "\(lines)")
    }

    /// Regression: the rebased frames of a live source lost their colour picture, so a live
    /// `--annotate` wrote an empty, unplayable file.
    func testColourPicturesSurviveTheRebase() throws {
        let a = try clip("a", frames: 3), b = try clip("b", frames: 2)
        let opens = Mutex(0)
        var options = SourceOptions()
        options.keepsColour = true
        let opened = options
        let source = ReconnectingSource(first: try VideoSource(a, options: options), maxAttempts: 1, live: true,
                                        log: { _ in }, sleep: { _ in }) {
            if opens.withLock({ $0 += 1; return $0 }) == 1 { return try VideoSource(b, options: opened) }
            throw FrameSourceError.openFailed(input: "stream", reason: "gone")
        }
        var frames: [Frame] = []
        XCTAssertThrowsError(try { while let f = try source.nextFrame() { frames.append(f) } }())
        XCTAssertEqual(frames.count, 5)
        for f in frames {
            let colour = try XCTUnwrap(f.colour, "frame \(f.index) has no colour picture")
            XCTAssertEqual(colour.width, 64)
            XCTAssertEqual(colour.height, 48)
        }
    }

    func testFilesAreNotReopened() throws {
        let a = try clip("a", frames: 3)
        let opens = Mutex(0)
        let source = ReconnectingSource(first: try VideoSource(a), maxAttempts: 3, log: { _ in }, sleep: { _ in }) {
            opens.withLock { $0 += 1 }
            return try VideoSource(a)
        }
        var count = 0
        while try source.nextFrame() != nil { count += 1 }
        XCTAssertEqual(count, 3)
        XCTAssertEqual(opens.withLock { $0 }, 0)
    }
}
