@testable import FaceDetection
import FERCore
import Foundation
import Synchronization
import XCTest
import TestSupport

final class DetectorTests: XCTestCase {
    nonisolated(unsafe) static var cachedDetector: FaceDetector?

    func detector(_ options: FaceDetector.Options = .init()) throws -> FaceDetector {
        try Fixtures.requireCascade()
        if Self.cachedDetector == nil { Self.cachedDetector = try FaceDetector(cascadePath: Fixtures.cascadePath) }
        var d = Self.cachedDetector!
        d.options = options
        return d
    }

    /// A real portrait: exactly one face, where the astronaut's face is.
    func testFindsTheAstronautsFace() throws {
        let image = try Fixtures.astronaut()
        let faces = try detector().detect(in: image)   // detected at 320×320
        XCTAssertEqual(faces.count, 1, "\(faces)")
        let face = try XCTUnwrap(faces.first)
        XCTAssertGreaterThan(face.iou(Fixtures.astronautFace), 0.6, "\(face)")
        // The box is a face-sized square in original pixels.
        XCTAssertEqual(face.width, face.height, accuracy: 2)
        XCTAssertTrue((80...115).contains(face.width), "\(face)")
        // A real face fires strongly enough to open a track in the pipeline (minBirthStrength 4).
        let strength = try XCTUnwrap(try detector().detections(in: image).first?.strength)
        XCTAssertGreaterThan(strength, 4)
    }

    /// OpenCV 4.6's `detectMultiScale(img, 1.1, 0)` raw hits (x,y,side) on the same grey pixels
    /// (ffmpeg's RGB→grey of astronaut.png), for windows of 60–125 px.
    static let openCVRawHits: Set<[Int]> = [
        [161, 60, 110], [162, 51, 121], [162, 56, 121], [165, 55, 110], [165, 60, 110], [165, 64, 110], [170, 55, 110],
        [170, 60, 110], [170, 64, 110], [171, 58, 100], [171, 67, 100], [171, 68, 91], [171, 72, 91], [175, 55, 110],
        [175, 58, 100], [175, 63, 100], [175, 64, 110], [175, 67, 100], [175, 68, 91], [175, 71, 100], [175, 72, 91],
        [178, 65, 91], [178, 68, 91], [178, 72, 91], [180, 58, 100], [180, 67, 100], [180, 69, 83], [180, 72, 83],
        [182, 65, 91], [182, 68, 91], [182, 76, 91], [183, 69, 83], [184, 67, 100], [186, 69, 83], [188, 72, 75],
        [188, 75, 75], [191, 72, 75], [191, 74, 68], [191, 80, 68], [195, 80, 62], [4, 380, 100], [5, 372, 110],
    ]

    /// Same raw hits as OpenCV (both scan implementations), and the same grouped face as
    /// OpenCV with minNeighbors 3: [177, 66, 95, 95].
    func testMatchesOpenCVOnTheAstronaut() throws {
        let image = try Fixtures.astronaut()
        let d = try detector(.init(minFaceSize: 60, maxFaceSize: 125, minNeighbors: 3, detectionWidth: 0))
        for mode in [FaceDetector.ScanMode.vector, .scalar] {
            let raw = Set(d.rawDetections(in: image, scan: mode).boxes.map { [$0.x, $0.y, $0.width] })
            // Exact on the reference machine; leave room for another ffmpeg's RGB→grey rounding.
            let common = raw.intersection(Self.openCVRawHits).count
            XCTAssertGreaterThanOrEqual(common, Self.openCVRawHits.count * 9 / 10, "\(mode): \(raw.subtracting(Self.openCVRawHits)) / \(Self.openCVRawHits.subtracting(raw))")
            XCTAssertLessThanOrEqual(raw.count, Self.openCVRawHits.count + 4)
        }
        let faces = d.detect(in: image)
        XCTAssertEqual(faces.count, 1, "\(faces)")
        XCTAssertGreaterThan(faces.first.map { $0.iou(Box(x: 177, y: 66, width: 95, height: 95)) } ?? 0, 0.95, "\(faces)")
    }

    /// Boxes come back in the frame's pixels whatever the detection scale: the same face
    /// pasted into a 640×480 frame (detected at 320×240) lands where it was pasted.
    func testBoxesAreInFramePixels() throws {
        let photo = try Fixtures.astronaut()
        let faceRegion = Box(x: 146, y: 36, width: 155, height: 155)   // the face with some context
        var frame = GrayImage(width: 640, height: 480, fill: 90)
        frame.paste(photo.cut(faceRegion), x: 400, y: 250)
        let faces = try detector().detect(in: frame)
        XCTAssertEqual(faces.count, 1, "\(faces)")
        let expected = Box(x: 400 + 176 - 146, y: 250 + 66 - 36, width: 95, height: 95)
        XCTAssertGreaterThan(faces.first?.iou(expected) ?? 0, 0.6, "\(faces) vs \(expected)")
    }

    func testNoFacesOnAPlainFrame() throws {
        for fill: UInt8 in [0, 128, 255] {
            XCTAssertEqual(try detector().detect(in: GrayImage(width: 320, height: 240, fill: fill)), [])
        }
    }

    func testNoFacesOnNoise() throws {
        var rng = SplitMix(seed: 42)
        let noise = GrayImage(width: 320, height: 240, pixels: (0..<(320 * 240)).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
        XCTAssertEqual(try detector().detect(in: noise), [])
        // Smooth random blobs (noise averaged over 8×8 cells, upscaled): still no face.
        let blobs = GrayImage(width: 40, height: 30, pixels: (0..<1200).map { _ in UInt8(truncatingIfNeeded: rng.next()) })
            .resized(toWidth: 320, height: 240)
        XCTAssertEqual(try detector().detect(in: blobs), [])
    }

    func testTinyAndEmptyFrames() throws {
        let d = try detector()
        XCTAssertEqual(d.detect(in: GrayImage(width: 0, height: 0)), [])
        XCTAssertEqual(d.detect(in: GrayImage(width: 10, height: 300, fill: 7)), [])
        XCTAssertEqual(d.detect(in: GrayImage(width: 23, height: 23, fill: 7)), [])
    }

    /// The 8-wide vector scan visits the same windows and accepts the same ones as the plain
    /// one-window-at-a-time scan.
    func testVectorScanEqualsScalarScan() throws {
        // The photo on a flat letterbox (flat windows take a shortcut in the vector scan).
        var image = GrayImage(width: 280, height: 210, fill: 20)
        image.paste(try Fixtures.astronaut(width: 200, height: 200), x: 50, y: 5)
        let d = try detector(.init(minFaceSize: 0, minNeighbors: 0, detectionWidth: 0))
        let fast = d.rawDetections(in: image, scan: .vector).boxes
        let slow = d.rawDetections(in: image, scan: .scalar).boxes
        func key(_ b: Box) -> [Int] { [b.width, b.y, b.x] }
        XCTAssertFalse(fast.isEmpty)
        XCTAssertEqual(fast.sorted { key($0).lexicographicallyPrecedes(key($1)) }, slow.sorted { key($0).lexicographicallyPrecedes(key($1)) })
    }

    func testDetectionScaleAndMinimumFace() throws {
        let d = try detector()
        XCTAssertEqual(d.detectionScale(width: 640, height: 480), 0.5)
        XCTAssertEqual(d.detectionScale(width: 200, height: 100), 1)
        XCTAssertEqual(d.effectiveMinFaceSize(width: 640, height: 480), 48)
        XCTAssertEqual(d.effectiveMinFaceSize(width: 1920, height: 1080), 144)
        XCTAssertEqual(d.effectiveMinFaceSize(width: 320, height: 240), 40)
        var o = FaceDetector.Options(); o.detectionWidth = 0
        XCTAssertEqual(try detector(o).detectionScale(width: 1920, height: 1080), 1)
    }

    /// minFaceSize / maxFaceSize bound the reported face size.
    func testFaceSizeLimits() throws {
        let image = try Fixtures.astronaut()
        XCTAssertEqual(try detector(.init(minFaceSize: 130)).detect(in: image), [])
        XCTAssertEqual(try detector(.init(maxFaceSize: 70)).detect(in: image), [])
        XCTAssertEqual(try detector(.init(minFaceSize: 60, maxFaceSize: 140)).detect(in: image).count, 1)
    }

    func testDetectorEnum() throws {
        let img = GrayImage(width: 64, height: 48, fill: 3)
        XCTAssertEqual(try Detector.fullFrame.detect(in: img), [Box(x: 0, y: 0, width: 64, height: 48)])
        XCTAssertEqual(try Detector.fullFrame.detect(in: GrayImage(width: 0, height: 0)), [])
        let photo = try Fixtures.astronaut(width: 256, height: 256)
        let haar = try Detector.haar(detector())
        XCTAssertEqual(try haar.detect(in: photo), try detector().detect(in: photo))
    }

    /// Looking only near a known face finds it again, with about the box and strength of a
    /// whole-frame scan, also when the face has moved a little; near nothing, nothing.
    func testDetectionsNearAKnownFace() throws {
        let image = try Fixtures.astronaut()
        let d = try detector()
        let whole = try XCTUnwrap(d.detections(in: image).first)
        let b = whole.box
        for (dx, dy) in [(0, 0), (b.width / 5, 0), (0, -b.height / 5)] {
            let known = Box(x: b.x + dx, y: b.y + dy, width: b.width, height: b.height)
            let near = d.detections(in: image, near: [known])
            XCTAssertEqual(near.count, 1, "near \(known): \(near)")
            let found = try XCTUnwrap(near.first)
            XCTAssertGreaterThan(found.box.iou(b), 0.8, "\(found.box) vs \(b)")
            XCTAssertEqual(found.strength, whole.strength, accuracy: whole.strength * 0.35)
        }
        // Two overlapping known boxes around one face: one detection.
        XCTAssertEqual(d.detections(in: image, near: [b, Box(x: b.x + 4, y: b.y + 4, width: b.width, height: b.height)]).count, 1)
        // The top-right corner (sky), a degenerate box, a box off the frame: nothing.
        XCTAssertEqual(d.detections(in: image, near: [Box(x: 400, y: 0, width: 95, height: 95)]).map(\.box), [])
        XCTAssertEqual(d.detections(in: image, near: [Box(x: 10, y: 10, width: 0, height: 0), Box(x: 900, y: 900, width: 50, height: 50)]), [])
        // Much smaller or larger than the known box: not looked for.
        XCTAssertEqual(d.detections(in: image, near: [Box(x: b.x - b.width, y: b.y - b.height, width: 3 * b.width, height: 3 * b.height)]).count, 0)
        XCTAssertEqual(try Detector.haar(d).detections(in: image, near: [b]), d.detections(in: image, near: [b]))
        XCTAssertEqual(try Detector.fullFrame.detections(in: image, near: [b]).map(\.box), [Box(x: 0, y: 0, width: image.width, height: image.height)])
    }

    /// The detector is a Sendable value that can be used from several threads at once.
    func testConcurrentUse() throws {
        let image = try Fixtures.astronaut(width: 256, height: 256)
        let d = try detector(.init(detectionWidth: 160))
        let expected = d.detect(in: image)
        let results = Mutex<[Int: [Box]]>([:])
        DispatchQueue.concurrentPerform(iterations: 4) { i in
            let boxes = d.detect(in: image)
            results.withLock { $0[i] = boxes }
        }
        let all = results.withLock { $0 }
        XCTAssertEqual(all.count, 4)
        for r in all.values { XCTAssertEqual(r, expected) }
    }

    // MARK: grouping

    func testGroupingAveragesClustersAboveThreshold() {
        let cluster = [Box(x: 100, y: 100, width: 50, height: 50), Box(x: 102, y: 98, width: 50, height: 50),
                       Box(x: 98, y: 101, width: 52, height: 52), Box(x: 101, y: 100, width: 48, height: 48)]
        let lonely = [Box(x: 300, y: 10, width: 30, height: 30), Box(x: 302, y: 11, width: 30, height: 30)]
        // 4 members: kept when minNeighbors < 4; the 2-member cluster is dropped.
        XCTAssertEqual(groupRectangles(cluster + lonely, minNeighbors: 3), [Box(x: 100, y: 100, width: 50, height: 50)])
        XCTAssertEqual(groupRectangles(cluster + lonely, minNeighbors: 4), [])
        XCTAssertEqual(Set(groupRectangles(cluster + lonely, minNeighbors: 1)),
                       [Box(x: 100, y: 100, width: 50, height: 50), Box(x: 301, y: 10, width: 30, height: 30)])
        // minNeighbors 0: raw boxes unchanged (OpenCV).
        XCTAssertEqual(groupRectangles(lonely, minNeighbors: 0), lonely)
    }

    func testGroupingIsTransitiveAndDropsInnerBoxes() {
        // A chain of boxes each similar to the next forms one cluster.
        let chain = (0..<6).map { Box(x: 100 + 8 * $0, y: 100, width: 50, height: 50) }
        XCTAssertEqual(groupRectangles(chain, minNeighbors: 2), [Box(x: 120, y: 100, width: 50, height: 50)])
        // A small well-supported cluster inside a much better supported big one is dropped.
        let big = Array(repeating: Box(x: 100, y: 100, width: 100, height: 100), count: 10)
        let small = Array(repeating: Box(x: 130, y: 130, width: 30, height: 30), count: 4)
        XCTAssertEqual(groupRectangles(big + small, minNeighbors: 2), [Box(x: 100, y: 100, width: 100, height: 100)])
        // …but kept when it has comparable support.
        let small2 = Array(repeating: Box(x: 130, y: 130, width: 30, height: 30), count: 12)
        XCTAssertEqual(groupRectangles(big + small2, minNeighbors: 2).count, 2)
    }
}
