import FaceCrop
import Foundation
import FERCore
import XCTest

final class CropperTests: XCTestCase {
    /// 256×256 images whose pixel value is their x (or y) coordinate.
    private let xRamp = GrayImage(width: 256, height: 256, pixels: (0..<65536).map { UInt8($0 % 256) })
    private let yRamp = GrayImage(width: 256, height: 256, pixels: (0..<65536).map { UInt8($0 / 256) })

    /// Value of the ramp sampled at continuous coordinate u (pixel i's centre is at i + 0.5).
    private func ramp(_ u: Double) -> Double { min(max(u - 0.5, 0), 255) }

    private func assertNear(_ v: UInt8, _ expected: Double, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertLessThanOrEqual(abs(Double(v) - expected), 1.0, "\(what): \(v) vs \(expected)", file: file, line: line)
    }

    /// Box → square of side max(w,h)·1.1 centred on the box centre → 48×48; every output
    /// pixel holds the ramp value at its cell centre (both filters).
    func testKnownBoxGivesKnownSourceSquare() {
        let box = Box(x: 64, y: 64, width: 96, height: 96)
        for antialias in [true, false] {
            let c = FaceCropper(antialias: antialias)
            let r = c.sourceRect(for: box)
            XCTAssertEqual(r.x, 59.2, accuracy: 1e-9); XCTAssertEqual(r.y, 59.2, accuracy: 1e-9)
            XCTAssertEqual(r.width, 105.6, accuracy: 1e-9); XCTAssertEqual(r.height, 105.6, accuracy: 1e-9)
            let cx = c.crop(xRamp, box: box), cy = c.crop(yRamp, box: box)
            XCTAssertEqual([cx.width, cx.height], [48, 48])
            let k = 105.6 / 48
            for o in [0, 1, 23, 46, 47] {
                let expected = ramp(59.2 + k * (Double(o) + 0.5))
                for other in [0, 47] {
                    assertNear(cx[o, other], expected, "x ramp col \(o) (antialias \(antialias))")
                    assertNear(cy[other, o], expected, "y ramp row \(o) (antialias \(antialias))")
                }
            }
            // corners: top-left ≈ 60, bottom-right ≈ 163 on both ramps
            assertNear(cx[0, 0], 59.8, "corner"); assertNear(cx[47, 47], 163.2, "corner")
            assertNear(cy[0, 0], 59.8, "corner"); assertNear(cy[47, 47], 163.2, "corner")
        }
    }

    /// Non-square boxes use the longer side; margin is configurable.
    func testNonSquareBoxAndMargin() {
        let c = FaceCropper(margin: 0)
        let box = Box(x: 50, y: 80, width: 60, height: 100)
        XCTAssertEqual(c.sourceRect(for: box), Rect(x: 30, y: 80, width: 100, height: 100))
        let cx = c.crop(xRamp, box: box), cy = c.crop(yRamp, box: box)
        assertNear(cx[0, 0], ramp(30 + 100.0 / 96), "left")
        assertNear(cx[47, 0], ramp(130 - 100.0 / 96), "right")
        assertNear(cy[0, 0], ramp(80 + 100.0 / 96), "top")
        assertNear(cy[0, 47], ramp(180 - 100.0 / 96), "bottom")
        XCTAssertEqual(FaceCropper(margin: 0.5).sourceRect(for: box), Rect(x: 5, y: 55, width: 150, height: 150))
    }

    /// Parts of the square past the frame repeat the edge pixels.
    func testEdgesClamp() {
        for antialias in [true, false] {
            let c = FaceCropper(margin: 0.5, antialias: antialias)
            // top-left: square [-10, 50)²; cells 0…7 lie wholly left of / above the frame
            let tl = Box(x: 0, y: 0, width: 40, height: 40)
            let a = c.crop(xRamp, box: tl), b = c.crop(yRamp, box: tl)
            for o in 0...7 { for other in [0, 20, 47] {
                XCTAssertEqual(a[o, other], 0, "x \(o) antialias \(antialias)")
                XCTAssertEqual(b[other, o], 0, "y \(o) antialias \(antialias)")
            } }
            XCTAssertGreaterThan(a[10, 0], 0)
            // bottom-right: square [210, 270)²; cells ≥ 37 lie wholly past the frame
            let br = Box(x: 220, y: 220, width: 40, height: 40)
            let p = c.crop(xRamp, box: br), q = c.crop(yRamp, box: br)
            for o in 37...47 { for other in [0, 20, 47] {
                XCTAssertEqual(p[o, other], 255, "x \(o) antialias \(antialias)")
                XCTAssertEqual(q[other, o], 255, "y \(o) antialias \(antialias)")
            } }
            // a box entirely outside the frame still gives a (flat, edge-coloured) patch
            XCTAssertEqual(Set(c.crop(xRamp, box: Box(x: 400, y: 10, width: 30, height: 30)).pixels), [255])
        }
    }

    /// Shrinking a fine pattern: area averaging gives grey, point sampling would alias.
    func testAntialiasAvoidsAliasing() {
        let checker = GrayImage(width: 256, height: 256, pixels: (0..<65536).map { (($0 % 256) + ($0 / 256)) % 2 == 0 ? 0 : 255 })
        let box = Box(x: 0, y: 0, width: 144, height: 144)     // 3 source px per output px
        let smooth = FaceCropper(margin: 0, antialias: true).crop(checker, box: box)
        XCTAssertTrue(smooth.pixels.allSatisfy { (110...145).contains($0) }, "\(Set(smooth.pixels))")
        let aliased = FaceCropper(margin: 0, antialias: false).crop(checker, box: box)
        XCTAssertEqual(Set(aliased.pixels), [0, 255])
    }

    func testSizeAndUniformInput() {
        let flat = GrayImage(width: 100, height: 80, fill: 77)
        let c = FaceCropper(size: 64)
        let out = c.crop(flat, box: Box(x: 10, y: 10, width: 30, height: 50))
        XCTAssertEqual([out.width, out.height], [64, 64])
        XCTAssertEqual(Set(out.pixels), [77])
        // small box: enlarged bilinearly, still exact on a ramp
        let up = FaceCropper(margin: 0).crop(xRamp, box: Box(x: 100, y: 100, width: 24, height: 24))
        assertNear(up[0, 0], ramp(100 + 0.25), "up-left")
        assertNear(up[47, 0], ramp(124 - 0.25), "up-right")
    }
}

/// Aligned crops: the same face turned by an angle gives the same crop once its landmarks are
/// known; the framing follows `Alignment`.
final class AlignedCropTests: XCTestCase {
    /// A generated face-like pattern: a bright oval, dark eyes, a dark mouth; its landmarks.
    func face(turned angle: Double, centre c: Point = Point(x: 100, y: 100)) -> (GrayImage, [Point]) {
        let cs = cos(angle), sn = sin(angle)
        func rot(_ x: Double, _ y: Double) -> Point { Point(x: c.x + cs * x - sn * y, y: c.y + sn * x + cs * y) }
        var img = GrayImage(width: 200, height: 200, fill: 60)
        for y in 0..<200 {
            for x in 0..<200 {
                // Back to the face's own frame.
                let dx = Double(x) + 0.5 - c.x, dy = Double(y) + 0.5 - c.y
                let u = cs * dx + sn * dy, v = -sn * dx + cs * dy
                var value = (u * u) / (40 * 40) + (v * v) / (52 * 52) < 1 ? 200.0 : 60
                if pow(u + 16, 2) + pow(v + 12, 2) < 36 || pow(u - 16, 2) + pow(v + 12, 2) < 36 { value = 20 }
                if abs(u) < 14 && abs(v - 22) < 3 { value = 30 }
                img[x, y] = UInt8(value)
            }
        }
        return (img, [rot(-16, -12), rot(16, -12), rot(0, 5), rot(-12, 22), rot(12, 22)])
    }

    func testRotatedFaceGivesTheSameCrop() {
        let cropper = FaceCropper()
        let (upright, marks) = face(turned: 0)
        let reference = cropper.crop(upright, box: Box(x: 60, y: 48, width: 80, height: 104), landmarks: marks)
        for degrees in [-30.0, -12, 20] {
            let (turned, m) = face(turned: degrees * .pi / 180)
            let crop = cropper.crop(turned, box: Box(x: 55, y: 45, width: 90, height: 110), landmarks: m)
            let diff = zip(crop.pixels, reference.pixels).map { abs(Int($0) - Int($1)) }
            XCTAssertLessThan(Double(diff.reduce(0, +)) / Double(diff.count), 4, "\(degrees)°: mean difference")
            // The box-based crop of the turned face is not the same (it is what alignment mends).
            let boxed = FaceCropper(alignment: nil).crop(turned, box: Box(x: 55, y: 45, width: 90, height: 110), landmarks: m)
            XCTAssertGreaterThan(Double(zip(boxed.pixels, reference.pixels).map { abs(Int($0) - Int($1)) }.reduce(0, +)) / Double(diff.count), 8)
        }
    }

    func testFramingPutsEyesAndMouthWhereAlignmentSays() {
        // Eyes 32 px apart at y 88, mouth at y 122: eye–mouth distance 34.
        let (img, marks) = face(turned: 0)
        let a = FaceCropper.Alignment(scale: 2, centre: 0.5)
        let crop = FaceCropper(alignment: a).crop(img, box: Box(x: 0, y: 0, width: 1, height: 1), landmarks: marks)
        // Side 68 px → 48: the eyes' midpoint (100, 88) lands at 24 − 0.5·34·48/68 = 12 from the top.
        let row = 12, dark = (0..<48).filter { crop[$0, row] < 80 }
        XCTAssertFalse(dark.isEmpty, "the eyes are on row \(row)")
        XCTAssertTrue(dark.allSatisfy { abs($0 - 24) > 4 }, "two eyes either side of the middle: \(dark)")
        // Without five landmarks the box is used.
        XCTAssertEqual(FaceCropper().crop(img, box: Box(x: 60, y: 48, width: 80, height: 104), landmarks: []),
                       FaceCropper().crop(img, box: Box(x: 60, y: 48, width: 80, height: 104)))
    }
}
