import Foundation
import XCTest
@testable import Annotation
import FERCore
import FrameSource
import Pipeline
import TestSupport

final class PainterTests: XCTestCase {
    private let black = YUV(y: 16, u: 128, v: 128)

    func testBT601Colours() {
        XCTAssertEqual(YUV(r: 255, g: 255, b: 255), YUV(y: 235, u: 128, v: 128))
        XCTAssertEqual(YUV(r: 0, g: 0, b: 0), YUV(y: 16, u: 128, v: 128))
        XCTAssertEqual(YUV(r: 255, g: 0, b: 0), YUV(y: 81, u: 90, v: 240))
    }

    func testFillIsClippedAndSetsChromaOfTouchedBlocks() {
        var p = Painter(ColourPicture(width: 9, height: 7, filledWith: black))
        let red = YUV(r: 255, g: 0, b: 0)
        p.fill(x: 7, y: -3, width: 10, height: 5, red)  // hangs over the top and right edges
        for y in 0..<7 {
            for x in 0..<9 {
                XCTAssertEqual(p.picture.y[y * 9 + x], x >= 7 && y < 2 ? red.y : black.y, "(\(x),\(y))")
            }
        }
        // Chroma is 5×4; columns 3 (pixels 6–7) and 4 (pixel 8), row 0 (pixel rows 0–1).
        for cy in 0..<4 {
            for cx in 0..<5 {
                XCTAssertEqual(p.picture.v[cy * 5 + cx], cx >= 3 && cy == 0 ? red.v : black.v, "chroma (\(cx),\(cy))")
            }
        }
        p.fill(x: 20, y: 20, width: 3, height: 3, red)  // entirely outside: nothing, no crash
        p.fill(x: 2, y: 2, width: 0, height: 3, red)
        XCTAssertEqual(p.picture.y.filter { $0 == red.y }.count, 4)
    }

    func testStrokeDrawsOnlyTheOutline() {
        var p = Painter(ColourPicture(width: 20, height: 20, filledWith: black))
        let c = YUV(y: 200, u: 100, v: 100)
        p.stroke(x: 2, y: 3, width: 10, height: 8, thickness: 2, c)
        let lit = p.picture.y.filter { $0 == c.y }.count
        XCTAssertEqual(lit, 10 * 8 - 6 * 4)
        XCTAssertEqual(p.picture.y[6 * 20 + 6], black.y, "inside stays")
        XCTAssertEqual(p.picture.y[3 * 20 + 2], c.y, "corner")
    }

    func testTextLightsExactlyTheGlyphPixelsScaled() {
        var p = Painter(ColourPicture(width: 40, height: 20, filledWith: black))
        let c = YUV(y: 235, u: 128, v: 128)
        p.text("#1", x: 1, y: 2, scale: 2, c)
        let bits = (PixelFont.bitmap("#") + PixelFont.bitmap("1")).map { $0.nonzeroBitCount }.reduce(0, +)
        XCTAssertEqual(p.picture.y.filter { $0 == c.y }.count, bits * 4)
        XCTAssertEqual(PixelFont.width(of: "#1", scale: 2), 22)
        XCTAssertEqual(PixelFont.bitmap("a"), PixelFont.bitmap("A"), "lower case draws as capitals")
        XCTAssertEqual(PixelFont.bitmap("é"), PixelFont.bitmap("?"))
        for (c, rows) in PixelFont.bitmaps { XCTAssertEqual(rows.count, 7, "glyph \(c)") }
    }

    func testFaceDrawingUsesTheLabelColourAndAProportionalBar() {
        let grey = YUV(y: 126, u: 128, v: 128)
        let picture = ColourPicture(width: 320, height: 240, filledWith: grey)
        var probs = [Float](repeating: 0, count: 7)
        probs[Emotion.happy.rawValue] = 0.75
        probs[Emotion.sad.rawValue] = 0.25
        let face = FaceResult(track: 3, box: Box(x: 100, y: 80, width: 80, height: 80), probs: probs, raw: probs)
        let out = VideoAnnotator.draw([face], on: picture)
        let happy = VideoAnnotator.colours[Emotion.happy.rawValue], sad = VideoAnnotator.colours[Emotion.sad.rawValue]
        XCTAssertEqual(out.y[120 * 320 + 100], happy.y, "left edge of the box")
        XCTAssertEqual(out.y[120 * 320 + 140], grey.y, "inside the box untouched")
        XCTAssertEqual(out.y[70 * 320 + 150], grey.y, "right of the tag untouched")
        // Bar under the box: 60 px happy then 20 px sad.
        let barRow = 161
        let row = Array(out.y[(barRow * 320 + 100)..<(barRow * 320 + 180)])
        XCTAssertEqual(row.filter { $0 == happy.y }.count, 60)
        XCTAssertEqual(row.filter { $0 == sad.y }.count, 20)
        XCTAssertEqual(VideoAnnotator.draw([], on: picture), picture, "no faces, no change")
    }

    /// A CK+ model's run: the label index is its contempt (FER2013's disgust at that index), drawn teal.
    func testAModelsOwnClassesTakeTheirColours() {
        let ckplus = LabelSet(["anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"])
        let picture = ColourPicture(width: 320, height: 240, filledWith: YUV(y: 126, u: 128, v: 128))
        var probs = [Float](repeating: 0, count: 7)
        probs[1] = 0.5
        probs[5] = 0.5
        let face = FaceResult(track: 1, box: Box(x: 100, y: 80, width: 80, height: 80), probs: probs, raw: probs)
        let out = VideoAnnotator.draw([face], on: picture, labels: ckplus)
        let contempt = YUV(r: 0x17, g: 0xbe, b: 0xcf), sad = VideoAnnotator.colours[Emotion.sad.rawValue]
        XCTAssertEqual(VideoAnnotator.colours(for: ckplus)[1], contempt)
        XCTAssertEqual(out.y[120 * 320 + 100], contempt.y, "left edge of the box")
        XCTAssertEqual(out.u[60 * 160 + 50], contempt.u, "left edge of the box, chroma")
        XCTAssertNotEqual(contempt.y, VideoAnnotator.colours[Emotion.disgust.rawValue].y)
        let row = Array(out.y[(161 * 320 + 100)..<(161 * 320 + 180)])
        XCTAssertEqual(row.filter { $0 == contempt.y }.count, 40)
        XCTAssertEqual(row.filter { $0 == sad.y }.count, 40, "CK+'s sadness in FER2013's sad blue")
    }
}

final class VideoEncoderTests: XCTestCase {
    private func tempPath(_ name: String) throws -> String {
        let dir = try Scratch.directory("fer-annotate")
        return dir.appendingPathComponent(name).path
    }

    /// Pictures at irregular times, encoded and decoded again: same count, same times, same colours.
    func testRoundTripKeepsFrameCountTimesAndColours() throws {
        let times = [0.0, 0.04, 0.08, 0.2, 0.24, 1.0, 1.04, 1.1]
        for ext in ["mp4", "mkv"] {
            let path = try tempPath("out.\(ext)")
            let annotator = try VideoAnnotator(path: path, frameRate: 25)
            let red = YUV(r: 255, g: 0, b: 0), blue = YUV(r: 0, g: 0, b: 255)
            for (i, t) in times.enumerated() {
                try annotator.annotate(ColourPicture(width: 64, height: 48, filledWith: i % 2 == 0 ? red : blue), time: t, faces: [])
            }
            try annotator.finish()
            try annotator.finish()  // a second finish does nothing

            var options = SourceOptions()
            options.keepsColour = true
            let source = try VideoSource(path, options: options)
            var frames: [Frame] = []
            while let f = try source.nextFrame() { frames.append(f) }
            XCTAssertEqual(frames.count, times.count, ext)
            for (f, t) in zip(frames, times) {
                XCTAssertEqual(f.time, t, accuracy: 1e-3, "\(ext) frame \(f.index)")
                let c = try XCTUnwrap(f.colour)
                XCTAssertEqual((c.width, c.height) == (64, 48), true)
                let want = f.index % 2 == 0 ? red : blue
                XCTAssertEqual(Double(c.v[100]), Double(want.v), accuracy: 12, "\(ext) frame \(f.index) colour")
                XCTAssertEqual(Double(c.u[100]), Double(want.u), accuracy: 12, "\(ext) frame \(f.index) colour")
            }
        }
    }

    func testOddSizesArePaddedAndTimesThatDoNotRiseAreMovedOn() throws {
        let path = try tempPath("odd.mkv")
        let annotator = try VideoAnnotator(path: path, frameRate: nil)
        let grey = ColourPicture(width: 33, height: 17, filledWith: YUV(y: 100, u: 128, v: 128))
        for t in [0.0, 0.5, 0.5, 0.4] { try annotator.annotate(grey, time: t, faces: []) }
        try annotator.finish()
        let source = try VideoSource(path)
        var frames: [Frame] = []
        while let f = try source.nextFrame() { frames.append(f) }
        XCTAssertEqual(frames.count, 4)
        XCTAssertEqual(frames.first.map { [$0.image.width, $0.image.height] }, [34, 18])
        XCTAssertEqual(frames.map(\.time), frames.map(\.time).sorted())
        XCTAssertEqual(Set(frames.map(\.time)).count, 4, "strictly rising")
    }

    func testUnwritableOrUnknownOutputsFailWithTheirName() {
        for path in ["/nonexistent-dir/out.mp4", Scratch.path("x.notavideo")] {
            XCTAssertThrowsError(try VideoAnnotator(path: path, frameRate: 25)) { error in
                let message = "\(error)"
                XCTAssertTrue(message.contains(path), message)
                XCTAssertFalse(message.contains("\n"))
            }
        }
    }
}
