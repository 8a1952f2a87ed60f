import XCTest
@testable import FERCore

final class FERCoreTests: XCTestCase {
    func testIoU() {
        let a = Box(x: 0, y: 0, width: 10, height: 10)
        XCTAssertEqual(a.iou(a), 1)
        XCTAssertEqual(a.iou(Box(x: 5, y: 0, width: 10, height: 10)), 50.0 / 150.0, accuracy: 1e-12)
        XCTAssertEqual(a.iou(Box(x: 20, y: 20, width: 5, height: 5)), 0)
    }

    func testResizeIdentityAndGradient() {
        let img = GrayImage(width: 4, height: 2, pixels: [0, 10, 20, 30, 40, 50, 60, 70])
        XCTAssertEqual(img.resized(toWidth: 4, height: 2), img)
        // Halving a horizontal ramp averages neighbour pairs.
        let half = img.resized(toWidth: 2, height: 1)
        XCTAssertEqual(half.pixels, [25, 45])
    }

    func testEmotionOrder() {
        XCTAssertEqual(Emotion.names, ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"])
        XCTAssertEqual(Emotion(name: "sad"), .sad)
    }
}
