import FERStream
import Foundation
import TestSupport
import XCTest

// Still pictures through the library, with the bundled model and detector, on pictures made here
// with the ffmpeg CLI from the public-domain portrait python3-skimage ships.

private let portrait = "/usr/lib/python3/dist-packages/skimage/data/astronaut.png"

/// Runs ffmpeg to make `name` (a PNG) from `arguments`; the path.
private func picture(_ name: String, _ arguments: [String]) throws -> String {
    let path = Scratch.path(name)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/ffmpeg")
    p.arguments = ["-y", "-v", "error"] + arguments + ["-frames:v", "1", path]
    try p.run()
    p.waitUntilExit()
    XCTAssertEqual(p.terminationStatus, 0, "ffmpeg \(arguments)")
    return path
}

final class FaceAnalyzerTests: XCTestCase {
    /// Two faces: the portrait at 400×400 and, beside it, a mirrored 260 px copy on grey.
    private func twoFaces() throws -> GrayImage {
        guard FileManager.default.fileExists(atPath: portrait) else { throw XCTSkip("\(portrait) is absent (Debian package python3-skimage)") }
        let path = try picture("two-faces.png", ["-i", portrait, "-i", portrait, "-filter_complex",
                                                 "[0]scale=400:400[a];[1]scale=260:260,hflip,pad=400:400:70:70:gray[b];[a][b]hstack"])
        return try VideoSource.firstPicture(of: path)
    }

    func testEachFaceWithBoxLandmarksAndTheMeanOfAllTenCrops() throws {
        let image = try twoFaces()
        let analyzer = try FaceAnalyzer()
        XCTAssertEqual(analyzer.labels, .fer2013)
        XCTAssertEqual(analyzer.recognizer.cropsPerFace, 10, "10 crops by default, as `fer-stream image`")
        let faces = try analyzer.faces(in: image)
        XCTAssertEqual(faces.map(\.track), [1, 2])
        // One face in each half, each with YuNet's five landmarks inside its box.
        XCTAssertEqual(Set(faces.map { ($0.box.x + $0.box.width / 2) / 400 }), [0, 1], "\(faces.map(\.box))")
        let happy = try XCTUnwrap(analyzer.labels.names.firstIndex(of: "happy"))
        for face in faces {
            XCTAssertEqual(face.landmarks.count, 5)
            for p in face.landmarks {
                XCTAssertTrue(Double(face.box.x) <= p.x && p.x <= Double(face.box.x + face.box.width), "\(p) outside \(face.box)")
            }
            XCTAssertGreaterThanOrEqual(face.confidence ?? 0, 0.6, "only detections strong enough to open a track")
            XCTAssertEqual(face.probs, face.raw, "nothing smoothed")
            XCTAssertEqual(face.probs.reduce(0, +), 1, accuracy: 1e-4)
            XCTAssertEqual(face.label, happy, "the portrait smiles: \(face.probs)")
            XCTAssertNil(face.held)
        }
        // The probabilities are the mean over the whole crop set, each crop scored on its own here.
        let found = try analyzer.detect(in: image)
        XCTAssertEqual(found.map(\.detection.box), faces.map(\.box))
        for (f, face) in zip(found, faces) {
            let perCrop = try (0..<10).map { try analyzer.recognizer.cropProbabilities(for: [f.crop], crops: [[$0]])[0][0] }
            for (p, q) in zip(face.probs, Recognizer.mean(perCrop)) { XCTAssertEqual(p, q, accuracy: 1e-5) }
            XCTAssertNotEqual(perCrop[4], perCrop[0], "the crops differ, so the mean says which were taken")
            XCTAssertEqual(f.crop.width, 48)
        }
    }

    func testAPictureWithoutAFaceHasNone() throws {
        let image = try VideoSource.firstPicture(of: try picture("no-face.png", ["-f", "lavfi", "-i", "testsrc=size=320x240"]))
        let analyzer = try FaceAnalyzer(recognizer: { var o = RecognizerOptions(); o.tta = .center; return o }())
        XCTAssertEqual(try analyzer.faces(in: image), [])
        // Weak detections are there for a caller that asks; the confident ones are among them.
        let weak = try analyzer.detect(in: image, includingWeak: true).map(\.detection)
        XCTAssertTrue(try analyzer.detect(in: image).allSatisfy { weak.contains($0.detection) })
    }

    func testFullFrameTakesTheWholePictureAsTheFace() throws {
        var faces = DetectorOptions()
        faces.kind = .fullFrame
        var network = RecognizerOptions()
        network.tta = .flip
        let analyzer = try FaceAnalyzer(recognizer: network, faces: faces)
        XCTAssertEqual(analyzer.recognizer.cropsPerFace, 2)
        var pixels = [UInt8](repeating: 0, count: 64 * 48)
        for i in pixels.indices { pixels[i] = UInt8(truncatingIfNeeded: (i % 64) * 3 + i / 64) }
        let result = try analyzer.faces(in: GrayImage(width: 64, height: 48, pixels: pixels))
        XCTAssertEqual(result.map { $0.box }, [Box(x: 0, y: 0, width: 64, height: 48)])
        XCTAssertNil(result.first?.confidence)
    }

    func testAMissingDetectorModelFailsWithOneLineNamingIt() throws {
        var faces = DetectorOptions()
        faces.model = Scratch.path("no-such-yunet.safetensors")
        XCTAssertThrowsError(try FaceAnalyzer(faces: faces)) { error in
            XCTAssertTrue("\(error)".contains("no-such-yunet.safetensors"), "\(error)")
            XCTAssertFalse("\(error)".contains("\n"))
        }
    }
}
