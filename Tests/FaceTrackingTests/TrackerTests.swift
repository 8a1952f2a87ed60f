import FaceDetection
@testable import FaceTracking
import FERCore
import Foundation
import TestSupport
import XCTest

final class TrackerTests: XCTestCase {
    private func b(_ x: Int, _ y: Int, _ s: Int = 50) -> Box { Box(x: x, y: y, width: s, height: s) }

    /// Real pixels: the astronaut's face (≈47 px) slides across a 240×180 frame, disappears for
    /// three frames, comes back, and a second (mirrored) face joins. The first face keeps
    /// track 1 throughout; the newcomer gets track 2.
    func testIdsStableForAMovingRealFace() throws {
        try Fixtures.requireCascade()
        let photo = try Fixtures.astronaut(width: 256, height: 256)
        let patch = photo.cut(Box(x: 70, y: 16, width: 84, height: 84))
        var mirrored = patch
        for y in 0..<patch.height { for x in 0..<patch.width { mirrored[x, y] = patch[patch.width - 1 - x, y] } }
        let detector = try FaceDetector(cascadePath: Fixtures.cascadePath)
        var tracker = FaceTracker()
        var log: [String] = []
        for i in 0..<12 {
            var frame = GrayImage(width: 240, height: 180, fill: 100)
            let visible = !(5...7).contains(i)
            let px = 10 + 7 * i, py = 20 + 3 * i
            if visible { frame.paste(patch, x: px, y: py) }
            if i >= 9 { frame.paste(mirrored, x: 150, y: 90) }
            let faces = tracker.update(with: detector.detect(in: frame))
            log.append("\(i): \(faces)")
            if visible {
                let first = try XCTUnwrap(faces.first, log.joined(separator: "\n"))
                XCTAssertEqual(first.track, 1, log.joined(separator: "\n"))
                // the box follows the pasted face (face at ≈ (18…65, 17…64) inside the patch)
                XCTAssertGreaterThan(first.box.iou(Box(x: px + 18, y: py + 17, width: 47, height: 47)), 0.5, "\(i): \(first)")
            } else {
                XCTAssertFalse(faces.contains { $0.track == 1 }, log.joined(separator: "\n"))
            }
            XCTAssertEqual(faces.map(\.track), i >= 9 ? [1, 2] : (visible ? [1] : []), log.joined(separator: "\n"))
        }
    }

    func testIdsSurviveShortMisses() {
        var t = FaceTracker(maxMisses: 10)
        XCTAssertEqual(t.update(with: [b(100, 100)]).map(\.track), [1])
        for _ in 0..<10 { XCTAssertEqual(t.update(with: []), []) }     // 10 misses: still alive
        XCTAssertEqual(t.update(with: [b(104, 102)]), [TrackedFace(track: 1, box: b(104, 102))])
    }

    /// A face lost and seen again near where it was, within `reuseWithin` seconds, gets its id
    /// back at once; one far away, or one that comes back too late, is a new face.
    func testLostIdReusedOnlyNearbyAndSoon() {
        var t = FaceTracker(options: .init(maxMisses: 2, minHits: 2, reuseWithin: 2))
        _ = t.update(with: [b(100, 100)], time: 0.0)
        XCTAssertEqual(t.update(with: [b(100, 100)], time: 0.1).map(\.track), [1])
        for i in 0..<3 { _ = t.update(with: [], time: 0.2 + 0.1 * Double(i)) }      // 3 misses > 2: lost at 0.4 s
        XCTAssertEqual(t.liveTrackCount, 0)
        XCTAssertEqual(t.update(with: [b(400, 100)], time: 1.0), [], "far away: a new face, on probation")
        XCTAssertEqual(t.update(with: [b(110, 104), b(400, 100)], time: 1.1).map(\.track), [1, 2],
                       "back near where it was lost: id 1 at once; the far face confirmed as 2")
        for i in 0..<3 { _ = t.update(with: [b(400, 100)], time: 1.2 + 0.1 * Double(i)) }  // track 1 lost at 1.4 s
        _ = t.update(with: [b(100, 100), b(400, 100)], time: 3.5)
        XCTAssertEqual(t.update(with: [b(100, 100), b(400, 100)], time: 3.6).map(\.track), [2, 3], "2.1 s later: a new id")
        t.reset()
        _ = t.update(with: [b(400, 100)], time: 3.7)
        XCTAssertEqual(t.update(with: [b(400, 100)], time: 3.8).map(\.track), [4], "reset forgets lost tracks; ids keep counting")
    }

    func testNewFacesGetNewIdsOrderedByTrack() {
        var t = FaceTracker()
        XCTAssertEqual(t.update(with: [b(300, 10), b(10, 10)]).map(\.track), [1, 2])
        // A third face appears first in the list; output is still ordered by track id.
        let out = t.update(with: [b(150, 150), b(12, 11), b(301, 10)])
        XCTAssertEqual(out.map(\.track), [1, 2, 3])
        XCTAssertEqual(out.map(\.box), [b(301, 10), b(12, 11), b(150, 150)])
        // Only faces seen in this frame are returned.
        XCTAssertEqual(t.update(with: [b(150, 152)]).map(\.track), [3])
    }

    /// A face that jumps by more than IoU 0.3 allows (fast motion, dropped frames) continues
    /// its track through the centre-distance fallback, if its size is similar.
    func testFastMotionFallsBackToCentreDistance() {
        var t = FaceTracker()
        _ = t.update(with: [b(100, 100, 60)])
        let moved = b(130, 110, 62)                      // IoU ≈ 0.39 → plain IoU match
        XCTAssertEqual(t.update(with: [moved]).map(\.track), [1])
        let jumped = b(160, 120, 60)                     // IoU ≈ 0.29, centres 31 px apart
        XCTAssertLessThan(moved.iou(jumped), 0.3)
        XCTAssertEqual(t.update(with: [jumped]).map(\.track), [1])
        XCTAssertEqual(t.update(with: [b(400, 120, 60)]).map(\.track), [2], "far away: a new face")
        XCTAssertEqual(t.update(with: [b(162, 120, 150)]).map(\.track), [3], "very different size: a new face")
    }

    /// Greedy one-to-one matching: two faces that come close (overlapping) keep their own ids,
    /// whatever order the detector lists them in.
    func testTwoFacesKeepTheirIds() {
        var t = FaceTracker()
        XCTAssertEqual(t.update(with: [b(100, 100), b(200, 100)]).map(\.track), [1, 2])
        var out: [TrackedFace] = []
        for step in 1...4 {
            out = t.update(with: [b(200 - 8 * step, 100 + step), b(100 + 8 * step, 100)])
        }
        XCTAssertEqual(out, [TrackedFace(track: 1, box: b(132, 100)), TrackedFace(track: 2, box: b(168, 104))])
        XCTAssertGreaterThan(b(132, 100).iou(b(168, 104)), 0.1)
    }

    func testOptionalSmoothing() {
        var raw = FaceTracker()
        _ = raw.update(with: [b(100, 100)])
        XCTAssertEqual(raw.update(with: [b(110, 100)]).first?.box, b(110, 100), "no smoothing by default")
        var smooth = FaceTracker(options: .init(smoothing: 0.5))
        _ = smooth.update(with: [b(100, 100)])
        XCTAssertEqual(smooth.update(with: [b(110, 100)]).first?.box, b(105, 100))
    }
}

final class TrackerConfirmationTests: XCTestCase {
    func testFlickeringDetectionsNeverBecomeTracksAndSteadyOnesDoAfterMinHits() {
        var tracker = FaceTracker(options: .init(minHits: 3))
        let face = Box(x: 100, y: 100, width: 80, height: 80)
        let flicker = Box(x: 400, y: 300, width: 90, height: 90)
        var reported: [[TrackedFace]] = []
        for frame in 0..<12 {
            // The false positive fires two frames in three, never three in a row.
            reported.append(tracker.update(with: frame % 3 == 2 ? [face] : [face, flicker]))
        }
        XCTAssertEqual(reported[0], [])
        XCTAssertEqual(reported[1], [])
        XCTAssertEqual(reported[2], [TrackedFace(track: 1, box: face)], "confirmed on its third hit, as id 1")
        for frame in 3..<12 { XCTAssertEqual(reported[frame], [TrackedFace(track: 1, box: face)], "frame \(frame)") }
        // A later steady face gets the next id: tentative tracks consumed none.
        let second = Box(x: 300, y: 50, width: 70, height: 70)
        _ = tracker.update(with: [face, second])
        _ = tracker.update(with: [face, second])
        XCTAssertEqual(tracker.update(with: [face, second]).map(\.track), [1, 2])
    }

    func testConfirmedTrackSurvivesMisses() {
        var tracker = FaceTracker(options: .init(maxMisses: 5, minHits: 2))
        let face = Box(x: 10, y: 10, width: 50, height: 50)
        _ = tracker.update(with: [face])
        XCTAssertEqual(tracker.update(with: [face]).map(\.track), [1])
        for _ in 0..<4 { XCTAssertEqual(tracker.update(with: []), []) }
        XCTAssertEqual(tracker.update(with: [face]).map(\.track), [1], "kept through short misses, no new probation")
    }
}

final class TrackerBirthStrengthTests: XCTestCase {
    func testWeakDetectionsOnlyContinueTracks() {
        var tracker = FaceTracker(options: .init(minHits: 1, minBirthStrength: 4))
        let face = Box(x: 100, y: 100, width: 80, height: 80)
        XCTAssertEqual(tracker.update(detections: [Detection(box: face, strength: 2)]), [], "too weak to open a track")
        XCTAssertEqual(tracker.update(detections: [Detection(box: face, strength: 9)]).map(\.track), [1])
        XCTAssertEqual(tracker.update(detections: [Detection(box: face, strength: 2)]).map(\.track), [1], "weak but continues track 1")
    }
}
