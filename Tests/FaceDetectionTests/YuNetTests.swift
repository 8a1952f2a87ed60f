import FaceDetection
import FaceDetectorDNNL
import FERCore
import Foundation
import TestSupport
import XCTest

/// YuNet on oneDNN against libfacedetection itself (the pinned `yuface` wheel, through
/// `scripts/yunet-reference.py`), on images generated here from the public-domain astronaut.
final class YuNetTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let modelPath = root.appendingPathComponent("Models/yunet.safetensors").path

    static let network: Result<YuNetNetwork, Error> = Result { try YuNetNetwork(path: modelPath) }

    func detector(_ options: YuNetDetector.Options = .init()) throws -> YuNetDetector {
        YuNetDetector(runner: try Self.network.get(), options: options)
    }

    /// Generated scenes: the portrait as it is, shrunk, cut off at an edge, rotated, on a bright
    /// or a noisy canvas with several copies of the face at different sizes, and an odd size.
    func scenes() throws -> [(String, GrayImage)] {
        let full = try Fixtures.astronaut()
        let small = try Fixtures.astronaut(width: 200, height: 200)
        var out: [(String, GrayImage)] = [("astronaut", full), ("small", small)]
        out.append(("cut", full.cut(Box(x: 150, y: 0, width: 250, height: 300))))
        var rng = SplitMix(seed: 7)
        var canvas = GrayImage(width: 641, height: 417, fill: 0)
        for i in canvas.pixels.indices { canvas.pixels[i] = UInt8(60 + rng.next() % 120) }
        canvas.paste(full.cut(Box(x: 150, y: 30, width: 150, height: 170)), x: 20, y: 30)
        canvas.paste(small.cut(Box(x: 58, y: 12, width: 60, height: 66)), x: 300, y: 200)
        canvas.paste(try Fixtures.astronaut(width: 110, height: 110).cut(Box(x: 32, y: 6, width: 34, height: 38)), x: 520, y: 60)
        out.append(("crowd", canvas))
        let turned = GrayImage(width: 512, height: 512, pixels: (0..<512 * 512).map { i in
            // 20° rotation about the face centre, nearest pixel, grey outside.
            let x = Double(i % 512) - 224, y = Double(i / 512) - 113
            let c = cos(0.35), s = sin(0.35)
            let sx = Int((c * x - s * y + 224).rounded()), sy = Int((s * x + c * y + 113).rounded())
            return sx >= 0 && sx < 512 && sy >= 0 && sy < 512 ? full[sx, sy] : 128
        })
        out.append(("turned", turned))
        return out
    }

    func reference(_ images: [(String, GrayImage)]) throws -> [[[Int]]] {
        // Through env(1), so that the first python3 on PATH runs (a pyenv shim picks its version).
        guard (try? Fixtures.run("env", ["python3", "-c", "import yuface"])) != nil else {
            throw XCTSkip("the reference detector is not installed (pip install -r scripts/test-requirements.txt)")
        }
        let dir = try Scratch.directory("yunet")
        var paths: [String] = []
        for (name, image) in images {
            let path = dir.appendingPathComponent("\(name).pgm").path
            var data = Data("P5\n\(image.width) \(image.height)\n255\n".utf8)
            data.append(contentsOf: image.pixels)
            try data.write(to: URL(fileURLWithPath: path))
            paths.append(path)
        }
        let out = try Fixtures.run("env", ["python3", Self.root.appendingPathComponent("scripts/yunet-reference.py").path] + paths)
        return try String(decoding: out, as: UTF8.self).split(separator: "\n").map {
            try JSONDecoder().decode([[Int]].self, from: Data($0.utf8))
        }
    }

    func testMatchesLibfacedetection() throws {
        let images = try scenes()
        let expected = try reference(images)
        XCTAssertEqual(expected.count, images.count)
        var d = try detector()
        d.options.threshold = 0.2
        var compared = 0
        for ((name, image), want) in zip(images, expected) {
            let got = try d.decode(image, width: image.width, height: image.height)
            // Scores are compared as libfacedetection reports them (·100, truncated); faces near
            // the 0.2 cut-off may fall either side of it by a rounding, so only clear ones count.
            let clear = want.filter { $0[0] >= 25 }
            let mine = got.filter { $0.score >= 0.25 }
            XCTAssertEqual(mine.count, clear.count, "\(name): \(mine.map(\.rect)) vs \(clear)")
            for w in clear {
                guard let m = mine.min(by: { abs($0.rect.x - Double(w[1])) + abs($0.rect.y - Double(w[2])) < abs($1.rect.x - Double(w[1])) + abs($1.rect.y - Double(w[2])) }) else { continue }
                XCTAssertEqual(m.score * 100, Double(w[0]), accuracy: 1.01, name)
                let values = [m.rect.x, m.rect.y, m.rect.width, m.rect.height] + m.landmarks.flatMap { [$0.x, $0.y] }
                for (v, r) in zip(values, w.dropFirst()) {
                    XCTAssertEqual(v, Double(r), accuracy: 1.01, "\(name): \(values) vs \(w)")  // truncation + f32 order
                }
                compared += 1
            }
        }
        XCTAssertGreaterThanOrEqual(compared, 6, "the scenes should hold at least six clear faces")
    }
}

/// Decoding, NMS and the whole-frame / tiled / near-track search on generated inputs.
final class YuNetDecodeTests: XCTestCase {
    func testDecodeReadsOneCell() {
        // One cell (row 1, col 2) of a stride-8 map fires; every other cell scores ~0.
        var values = [Float](repeating: -20, count: 3 * 4 * 16)
        let p = (1 * 4 + 2) * 16
        values[p] = 2; values[p + 5] = 1                          // σ(2)·σ(1) → score √(0.881·0.731)
        values[p + 1] = 0.5; values[p + 2] = -0.25                // centre (2·8 + 4, 1·8 − 2)
        values[p + 3] = log(3); values[p + 4] = log(4)            // 24 × 32
        for k in 0..<5 { values[p + 6 + 2 * k] = Float(k); values[p + 7 + 2 * k] = -Float(k) }
        let maps = [YuNetHeadMap(stride: 8, rows: 3, cols: 4, values: values)]
        let faces = YuNetDecoder.decode(maps, threshold: 0.5)
        XCTAssertEqual(faces.count, 1)
        let f = faces[0]
        XCTAssertEqual(f.score, (0.8807971 * 0.7310586).squareRoot(), accuracy: 1e-5)
        XCTAssertEqual(f.rect.x, 20 - 12, accuracy: 1e-4); XCTAssertEqual(f.rect.y, 6 - 16, accuracy: 1e-4)
        XCTAssertEqual(f.rect.width, 24, accuracy: 1e-4); XCTAssertEqual(f.rect.height, 32, accuracy: 1e-4)
        XCTAssertEqual(f.landmarks.map(\.x), [16, 24, 32, 40, 48])
        XCTAssertEqual(f.landmarks.map(\.y), [8, 0, -8, -16, -24])
        XCTAssertEqual(YuNetDecoder.decode(maps, threshold: 0.81), [], "below the threshold")
    }

    func testNMSKeepsTheBestOfOverlappingFaces() {
        func face(_ x: Double, _ score: Double) -> ScoredFace { ScoredFace(rect: Rect(x: x, y: 0, width: 100, height: 100), score: score, landmarks: []) }
        let kept = YuNetDecoder.nonMaximumSuppression([face(0, 0.8), face(10, 0.9), face(60, 0.7), face(300, 0.5), face(5, 0.9)], iou: 0.45)
        // 10@0.9 first (ties keep input order), 5@0.9 and 0@0.8 overlap it (IoU > 0.45); 60 overlaps
        // it by IoU 0.43 only, so it stays; 300 is apart.
        XCTAssertEqual(kept.map(\.rect.x), [10, 60, 300])
        XCTAssertEqual(YuNetDecoder.nonMaximumSuppression([face(0, 0.8), face(10, 0.9)], iou: 0.45, topK: 1).map(\.rect.x), [10])
    }

    func detector(minFace: Int) throws -> YuNetDetector {
        YuNetDetector(runner: try YuNetTests.network.get(), options: .init(minFaceSize: minFace))
    }

    /// The astronaut's face, `side` px, pasted at (x, y) into a grey w×h frame; its true box.
    func scene(_ w: Int, _ h: Int, side: Int, at x: Int, _ y: Int) throws -> (GrayImage, Box) {
        let k = Double(side) / 95   // the face is 95 px in the 512-px portrait
        let portrait = try Fixtures.astronaut(width: Int(512 * k), height: Int(512 * k))
        let f = Fixtures.astronautFace
        // The face with its hair, neck and shoulders around it (a detector judges a face in context).
        let cut = Box(x: Int(Double(f.x - 60) * k), y: Int(Double(f.y - 60) * k), width: Int(215 * k), height: Int(260 * k))
        var frame = GrayImage(width: w, height: h, fill: 110)
        frame.paste(portrait.cut(cut), x: x, y: y)
        return (frame, Box(x: x + Int(60 * k), y: y + Int(60 * k), width: side, height: side))
    }

    func testSmallFacesInHDAndTiledLargeFrames() throws {
        // A 28-px face in 1080p with --min-face 24: the frame runs at full scale, tiled.
        let (hd, truth) = try scene(1920, 1080, side: 28, at: 900, 500)
        let found = try detector(minFace: 24).detections(in: hd)
        XCTAssertEqual(found.count, 1, "\(found)")
        XCTAssertGreaterThan(found.first.map { $0.box.iou(truth) } ?? 0, 0.4, "\(found)")
        // With the default --min-face 40 a 28-px face is too small to look for.
        XCTAssertEqual(try detector(minFace: 40).detections(in: hd).count, 0)
        // In 4K (scale 0.6: 2304×1296, tiles 768 wide, 640 apart), a 60-px face across the first
        // tile's right edge, in the overlap, is found once.
        let (uhd, t2) = try scene(3840, 2160, side: 60, at: 1230, 900)
        let d = try detector(minFace: 40)
        XCTAssertGreaterThan(Double(uhd.width * uhd.height) * pow(d.scale(width: 3840, height: 2160), 2), 768.0 * 768, "tiled")
        let inUHD = try d.detections(in: uhd)
        XCTAssertEqual(inUHD.count, 1, "\(inUHD)")
        XCTAssertGreaterThan(inUHD.first.map { $0.box.iou(t2) } ?? 0, 0.4)
        // A face filling most of a 1080p frame (700 px) is found by the coarse pass.
        let (big, t3) = try scene(1920, 1080, side: 600, at: 500, 0)
        let inBig = try d.detections(in: big)
        XCTAssertEqual(inBig.count, 1, "\(inBig)")
        XCTAssertGreaterThan(inBig.first.map { $0.box.iou(t3) } ?? 0, 0.4)
        XCTAssertEqual(inBig.first?.landmarks.count, 5)
    }

    func testNearTrackedFacesFindsTheSameFace() throws {
        let (frame, truth) = try scene(1280, 720, side: 90, at: 400, 200)
        let d = try detector(minFace: 40)
        let whole = try XCTUnwrap(d.detections(in: frame).first)
        let near = try d.detections(in: frame, near: [Box(x: truth.x + 15, y: truth.y - 10, width: 90, height: 90)])
        XCTAssertEqual(near.count, 1)
        XCTAssertGreaterThan(near[0].box.iou(whole.box), 0.8, "\(near[0].box) vs \(whole.box)")
        XCTAssertEqual(try d.detections(in: frame, near: [Box(x: 1000, y: 500, width: 90, height: 90)]), [], "nothing there")
        XCTAssertEqual(try d.detections(in: GrayImage(width: 4, height: 4, fill: 0)), [])
    }
}
