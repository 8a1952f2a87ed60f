import Foundation
@testable import Output
import XCTest

final class ProgressLineTests: XCTestCase {
    func testLineShowsDoneTotalRateAndETA() {
        XCTAssertEqual(ProgressLine.line(done: 120, total: 300, elapsed: 4), "frame 120/300 (40%)  30.0 frames/s  ETA 0:06")
        XCTAssertEqual(ProgressLine.line(done: 50, total: nil, elapsed: 2), "frame 50  25.0 frames/s")
    }

    func testNothingIsDrawnWhenStderrIsNotATerminal() {
        // Tests run with stderr redirected.
        if isatty(STDERR_FILENO) == 0 { XCTAssertNil(ProgressLine(totalFrames: 10)) }
        XCTAssertNotNil(ProgressLine(totalFrames: 10, force: true))
    }
}
