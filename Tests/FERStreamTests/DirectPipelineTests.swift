import FERStream
import Synchronization
import TestSupport
import XCTest

/// The public-domain astronaut portrait (Debian's python3-skimage), drifting a few pixels a
/// frame over a grey canvas at 25 fps: a generated clip with one face whose place is known.
private final class DriftingPortrait: FrameProducer {
    let isLive = false
    let count: Int
    private let portrait: GrayImage
    private let next = Mutex(0)

    init(count: Int) throws {
        self.count = count
        portrait = try Fixtures.astronaut()
    }

    /// Where frame `i` puts the portrait's top-left corner.
    static func offset(_ i: Int) -> (x: Int, y: Int) { (32 + 2 * i, 16 + i) }

    func nextFrame() throws -> Frame? {
        let i: Int? = next.withLock { n in
            guard n < count else { return nil }
            defer { n += 1 }
            return n
        }
        guard let i else { return nil }
        var canvas = GrayImage(width: 640, height: 576, pixels: [UInt8](repeating: 128, count: 640 * 576))
        let (x, y) = Self.offset(i)
        canvas.paste(portrait, x: x, y: y)
        return Frame(index: i, time: Double(i) / 25, image: canvas)
    }

    func cancel() { next.withLock { $0 = count } }
}

private final class Kept: ResultWriter {
    private let kept = Mutex<[FrameResult]>([])
    var results: [FrameResult] { kept.withLock { $0 } }
    func write(_ result: FrameResult) throws(PipelineError) { kept.withLock { $0.append(result) } }
}

/// A library user who builds a `Pipeline` directly, with YuNet and the default options, gets the
/// face: the tracker's settings default to the detector's own (a YuNet confidence is 0–1, and a
/// birth strength made for Haar's window counts would never be reached).
final class DirectPipelineTests: XCTestCase {
    private func run(options: PipelineOptions) throws -> [FrameResult] {
        var o = StreamOptions()
        XCTAssertEqual(o.faces.kind, .yunet)
        o.recognizer.tta = .center
        o.recognizer.threads = 2
        let kept = Kept()
        let pipeline = Pipeline(source: try DriftingPortrait(count: 8), detector: try o.faces.makeDetector(), cropper: o.faces.cropper,
                                recognizer: try o.recognizer.makeRecognizer(), writer: kept, options: options)
        XCTAssertFalse(pipeline.realtime, "generated frames that are not live run as a file")
        _ = try pipeline.run()
        return kept.results
    }

    func testAPipelineBuiltWithYuNetFindsTheFace() throws {
        let results = try run(options: PipelineOptions())
        XCTAssertEqual(results.map(\.frame), Array(0..<8))
        // A track is reported from its second sighting on; from then on, every frame has the face.
        let withFace = results.filter { !$0.faces.isEmpty }
        XCTAssertGreaterThanOrEqual(withFace.count, 6, "faces per frame: \(results.map(\.faces.count))")
        for r in withFace {
            XCTAssertEqual(r.faces.count, 1, "frame \(r.frame): \(r.faces.map(\.box))")
            let (dx, dy) = DriftingPortrait.offset(r.frame)
            let truth = Fixtures.astronautFace
            let expected = Box(x: truth.x + dx, y: truth.y + dy, width: truth.width, height: truth.height)
            XCTAssertGreaterThan(r.faces[0].box.iou(expected), 0.4, "frame \(r.frame): \(r.faces[0].box) against \(expected)")
            XCTAssertEqual(Set(withFace.map { $0.faces[0].track }).count, 1, "one face, one track")
        }
    }

    func testHaarsBirthStrengthWouldHideEveryYuNetFace() throws {
        // What the default was before it became the detector's own: no YuNet face reaches it.
        var options = PipelineOptions()
        options.tracker = FaceTracker.Options(minHits: 3, minBirthStrength: 4)
        XCTAssertTrue(try run(options: options).allSatisfy(\.faces.isEmpty), "else the test above proves nothing")
    }
}
