import FaceCrop
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
