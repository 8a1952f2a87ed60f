import XCTest
@testable import Pipeline

final class SmoothingTests: XCTestCase {
    func testParsing() throws {
        XCTAssertEqual(try Smoothing(parsing: "ema:0.25"), .ema(alpha: 0.25))
        XCTAssertEqual(try Smoothing(parsing: "ema"), .ema(alpha: 0.3))
        XCTAssertEqual(try Smoothing(parsing: "window:5"), .window(5))
        XCTAssertEqual(try Smoothing(parsing: "none"), Smoothing.none)
        for bad in ["ema:0", "ema:1.5", "ema:x", "window:0", "window", "median:3", ""] {
            XCTAssertThrowsError(try Smoothing(parsing: bad), bad)
        }
    }

    func testEMAFollowsTheRecurrence() {
        var s = TrackSmoother(.ema(alpha: 0.5))
        XCTAssertEqual(s.smooth(track: 1, raw: [1, 0]), [1, 0])  // the first value is taken as is
        XCTAssertEqual(s.smooth(track: 1, raw: [0, 1]), [0.5, 0.5])
        XCTAssertEqual(s.smooth(track: 1, raw: [0, 1]), [0.25, 0.75])
        // Another track has its own state.
        XCTAssertEqual(s.smooth(track: 2, raw: [0, 1]), [0, 1])
    }

    func testWindowIsMeanOfLastN() {
        var s = TrackSmoother(.window(2))
        XCTAssertEqual(s.smooth(track: 1, raw: [1, 0]), [1, 0])
        XCTAssertEqual(s.smooth(track: 1, raw: [0, 1]), [0.5, 0.5])
        XCTAssertEqual(s.smooth(track: 1, raw: [0, 1]), [0, 1])  // the first vector left the window
    }

    func testNoneIsIdentity() {
        var s = TrackSmoother(.none)
        _ = s.smooth(track: 1, raw: [1, 0])
        XCTAssertEqual(s.smooth(track: 1, raw: [0.2, 0.8]), [0.2, 0.8])
    }

    func testGoneTracksAreForgotten() {
        var s = TrackSmoother(.ema(alpha: 0.5), forgetAfter: 10)
        _ = s.smooth(track: 1, raw: [1, 0])
        for _ in 0..<64 {
            _ = s.smooth(track: 2, raw: [0, 1])
            s.endFrame()
        }
        XCTAssertEqual(s.trackCount, 1)
        // A forgotten track starts afresh.
        XCTAssertEqual(s.smooth(track: 1, raw: [0, 1]), [0, 1])
    }
}
