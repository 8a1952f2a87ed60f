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

/// The classes a model names: FER2013's, CK+'s, or any other, with one palette for all pictures.
final class LabelSetTests: XCTestCase {
    private let ckplus = LabelSet(["anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"])

    private func same(_ a: (red: UInt8, green: UInt8, blue: UInt8), _ b: (red: UInt8, green: UInt8, blue: UInt8)) -> Bool {
        a.red == b.red && a.green == b.green && a.blue == b.blue
    }

    func testFER2013IsTheEmotionOrder() {
        XCTAssertEqual(LabelSet.fer2013.names, Emotion.names)
        XCTAssertEqual(LabelSet.fer2013.count, 7)
        for e in Emotion.allCases { XCTAssertTrue(same(LabelSet.fer2013.colour(at: e.rawValue), e.colour), e.name) }
        XCTAssertEqual(LabelSet.fer2013.hexColour(at: Emotion.happy.rawValue), "#2ca02c")
        XCTAssertEqual(ckplus.name(at: 1), "contempt")
        XCTAssertEqual(ckplus.name(at: 9), "class 9", "an index outside the set names itself, never traps")
        XCTAssertEqual(ckplus.index(of: "sadness"), 5)
    }

    func testSynonymsShareTheEmotionsColour() {
        for (name, e) in [("anger", Emotion.angry), ("sadness", .sad), ("happiness", .happy), ("surprised", .surprise),
                          ("disgusted", .disgust), ("fearful", .fear), ("Happy", .happy), ("NEUTRAL", .neutral)] {
            let set = LabelSet(["other", name])
            XCTAssertEqual(set.emotion(at: 1), e, name)
            XCTAssertTrue(same(set.colour(at: 1), e.colour), name)
        }
        XCTAssertTrue(same(ckplus.colour(at: 0), Emotion.angry.colour), "CK+'s anger is FER2013's angry")
        XCTAssertTrue(same(ckplus.colour(at: 5), Emotion.sad.colour))
    }

    func testContemptAndUnknownClassesGetColoursOfTheirOwn() {
        let contempt = ckplus.colour(at: 1)
        XCTAssertTrue(same(contempt, (0x17, 0xbe, 0xcf)))
        XCTAssertEqual(ckplus.hexColour(at: 1), "#17becf")
        XCTAssertNil(ckplus.emotion(at: 1))
        let emotions = Emotion.allCases.map(\.colour)
        XCTAssertFalse(emotions.contains { same($0, contempt) })
        // Classes named after nothing known: a fallback colour each, all different, none an emotion's or contempt's.
        let odd = LabelSet(["cat", "dog", "owl", "bat", "elk", "yak", "emu", "gnu"])
        let colours = odd.indices.map(odd.colour(at:))
        for (i, a) in colours.enumerated() {
            XCTAssertFalse(emotions.contains { same($0, a) } || same(a, contempt), odd.names[i])
            for b in colours[(i + 1)...] { XCTAssertFalse(same(a, b), "\(odd.names[i]) shares a colour") }
        }
        // Unknown names among known ones keep the known ones' colours.
        let mixed = LabelSet(["happy", "bored", "contempt", "confused"])
        XCTAssertTrue(same(mixed.colour(at: 0), Emotion.happy.colour))
        XCTAssertTrue(same(mixed.colour(at: 2), contempt))
        XCTAssertFalse(same(mixed.colour(at: 1), mixed.colour(at: 3)))
    }
}

/// A source's short name: what topics and result files are named after.
final class SourceNameTests: XCTestCase {
    func testShortNamesAreFileNamesOrAURLsHostAndPathWithOtherCharactersReplaced() {
        let cases: [(String, String)] = [
            ("clip.mp4", "clip.mp4"),
            ("/data/interviews/2024 May/p01 (take 2).mkv", "p01__take_2_.mkv"),
            ("relative/dir/", "dir"),
            ("-", "stdin"),
            ("v4l2:/dev/video0", "video0"),
            ("rtsp://user:secret@cam1.local:554/live/ch1?token=x", "cam1.local_live_ch1"),
            ("http://[::1]:8080/a.m3u8", "__1_a.m3u8"),
            ("rtsp://cam2/", "cam2"),
            ("caméra.mp4", "cam_ra.mp4"),
            ("..", "input"),
            ("", "input"),
        ]
        for (input, short) in cases {
            XCTAssertEqual(SourceName(input).short, short, input)
            XCTAssertEqual(SourceName(input).input, input)
        }
    }
}
