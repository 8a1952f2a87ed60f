import Foundation
import XCTest
import TestSupport
import FERCore
@testable import Recognizer
import SafeTensors

final class RecognizerTests: XCTestCase {
    func testTenCropPositionsAreTheReferenceOnes() {
        let crops = TestTimeAugmentation.tenCrop.crops(from: 48, size: 44)
        XCTAssertEqual(crops.count, 10)
        let places = Set(crops.map { "\($0.x),\($0.y),\($0.mirrored)" })
        XCTAssertEqual(places, ["0,0,false", "4,0,false", "0,4,false", "4,4,false", "2,2,false",
                                "0,0,true", "4,0,true", "0,4,true", "4,4,true", "2,2,true"])
        XCTAssertEqual(TestTimeAugmentation.center.crops(from: 48, size: 44), [CropSpec(x: 2, y: 2, mirrored: false)])
        XCTAssertEqual(TestTimeAugmentation.flip.crops(from: 48, size: 44).map(\.mirrored), [false, true])
    }

    func testMakeInputCutsMirrorsAndNormalises() throws {
        let (path, _) = try makeTinyModel(layout: "4,M", inputSize: 8, cropFrom: 10, seed: 2)
        let weights = try NetworkWeights.load(path: path)
        // Pixel value encodes its coordinates: p = 10·y + x.
        let face = GrayImage(width: 10, height: 10, pixels: (0..<100).map { UInt8($0) })
        let r = Recognizer(weights: weights, engine: ReferenceEngine(weights: weights), tta: .tenCrop)
        let input = r.makeInput([face])
        XCTAssertEqual(input.count, 10 * 64)
        func pixel(_ v: Float) -> Int { Int(((v * 0.25 + 0.5) * 255).rounded()) }
        for (i, spec) in r.cropSpecs.enumerated() {
            let crop = Array(input[(i * 64)..<((i + 1) * 64)])
            let topLeft = pixel(crop[0]), topRight = pixel(crop[7]), bottomLeft = pixel(crop[56])
            let x0 = spec.x + (spec.mirrored ? 7 : 0), x7 = spec.x + (spec.mirrored ? 0 : 7)
            XCTAssertEqual(topLeft, 10 * spec.y + x0, "crop \(spec)")
            XCTAssertEqual(topRight, 10 * spec.y + x7, "crop \(spec)")
            XCTAssertEqual(bottomLeft, 10 * (spec.y + 7) + x0, "crop \(spec)")
        }
    }

    func testProbabilitiesAreMeanOfCropSoftmaxes() throws {
        let (path, _) = try makeTinyModel(layout: "8,M,8,M", inputSize: 8, cropFrom: 10, seed: 4)
        let weights = try NetworkWeights.load(path: path)
        let engine = ReferenceEngine(weights: weights)
        let r = Recognizer(weights: weights, engine: engine, tta: .tenCrop)
        var rng = SplitMix(seed: 11)
        let faces = (0..<2).map { _ in GrayImage(width: 10, height: 10, pixels: (0..<100).map { _ in UInt8(rng.next() % 256) }) }
        let probs = try r.probabilities(for: faces)
        let logits = try engine.logits(for: r.makeInput(faces), count: 20)
        for f in 0..<2 {
            XCTAssertEqual(probs[f].reduce(0, +), 1, accuracy: 1e-5)
            for k in 0..<7 {
                let mean = (0..<10).map { c in softmax(logits[((f * 10 + c) * 7)..<((f * 10 + c) * 7 + 7)])[k] }.reduce(0, +) / 10
                XCTAssertEqual(probs[f][k], mean, accuracy: 1e-6)
            }
        }
    }

    func testSoftmaxIsStable() {
        let p = softmax([1000, 1000, -1000] as [Float])
        XCTAssertEqual(p[0], 0.5, accuracy: 1e-6)
        XCTAssertEqual(p[2], 0, accuracy: 1e-6)
    }

    func testBadModelFilesGiveOneLineErrorsNamingTheFile() throws {
        let dir = Scratch.path("badmodels") + "/"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        func check(_ name: String, _ bytes: Data?, _ match: (RecognizerError) -> Bool) {
            let path = dir + name
            if let bytes { try? bytes.write(to: URL(fileURLWithPath: path)) }
            XCTAssertThrowsError(try NetworkWeights.load(path: path)) { error in
                guard let e = error as? RecognizerError else { return XCTFail("\(error)") }
                XCTAssertTrue(match(e), "\(name): \(e)")
                XCTAssertTrue(e.description.contains(path), e.description)
                XCTAssertFalse(e.description.contains("\n"))
            }
        }
        check("missing.safetensors", nil) { if case .cannotRead = $0 { return true }; return false }
        check("empty.safetensors", Data()) { if case .malformed = $0 { return true }; return false }
        check("text.safetensors", Data("hello, this is not a model at all".utf8)) { if case .malformed = $0 { return true }; return false }
        let (good, _) = try makeTinyModel(layout: "4,M", inputSize: 8, cropFrom: 10, seed: 8)
        let full = try Data(contentsOf: URL(fileURLWithPath: good))
        check("truncated.safetensors", full.prefix(full.count - 10)) { if case .malformed = $0 { return true }; return false }
        let (mismatch, _) = try makeTinyModel(layout: "4,M", inputSize: 8, cropFrom: 10, seed: 8, extraMeta: ["channels": "8,M"])
        check("mismatch.safetensors", try Data(contentsOf: URL(fileURLWithPath: mismatch))) { if case .badShape = $0 { return true }; return false }
        let (other, _) = try makeTinyModel(layout: "4,M", inputSize: 8, cropFrom: 10, seed: 8, extraMeta: ["format": "something-else"])
        check("other.safetensors", try Data(contentsOf: URL(fileURLWithPath: other))) { if case .incompatibleModel = $0 { return true }; return false }
    }

    /// The class list travels in the metadata (`classes`): a CK+ model's is taken as it is, and
    /// a list that could not name the outputs (too short, repeated, odd characters, another
    /// count than the classifier's outputs) is a one-line error naming the file.
    func testClassesComeFromTheMetadataAndAreChecked() throws {
        let ckplus = "anger,contempt,disgust,fear,happy,sadness,surprise"
        let (good, _) = try makeTinyModel(layout: "4,M", inputSize: 8, cropFrom: 10, seed: 21, extraMeta: ["classes": ckplus])
        let weights = try NetworkWeights.load(path: good)
        XCTAssertEqual(weights.classes, ["anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"])
        XCTAssertEqual(weights.labels, LabelSet(weights.classes))
        let probs = try Recognizer(weights: weights, engine: ReferenceEngine(weights: weights), tta: .center)
            .probabilities(for: [GrayImage(width: 10, height: 10, fill: 90)])
        XCTAssertEqual(probs[0].count, 7)
        // Another number of classes, with the classifier to match; spaces around names dropped.
        let (five, _) = try makeTinyModel(layout: "4,M", inputSize: 8, cropFrom: 10, seed: 22,
                                          extraMeta: ["classes": "calm, very happy ,sad_2,x-y,Zorn"], outputs: 5)
        XCTAssertEqual(try NetworkWeights.load(path: five).classes, ["calm", "very happy", "sad_2", "x-y", "Zorn"])
        // No `classes` at all: FER2013's.
        let (plain, _) = try makeTinyModel(layout: "4,M", inputSize: 8, cropFrom: 10, seed: 23)
        XCTAssertEqual(try NetworkWeights.load(path: plain).labels, .fer2013)

        func rejects(_ name: String, classes: String?, outputs: Int = 7, mentioning words: [String]) throws {
            var meta: [String: String] = [:]
            if let classes { meta["classes"] = classes }
            var (path, _) = try makeTinyModel(layout: "4,M", inputSize: 8, cropFrom: 10, seed: 24, extraMeta: meta, outputs: outputs)
            if classes == nil {
                // makeTinyModel always writes FER2013's list: write the file again without it.
                let file = try SafeTensorsFile(path: path)
                var metadata = file.metadata
                metadata["classes"] = nil
                path = Scratch.path(name)
                try SafeTensorsFile.encode(file.tensors, metadata: metadata).write(to: URL(fileURLWithPath: path))
            } else {
                let renamed = Scratch.path(name)
                try FileManager.default.moveItem(atPath: path, toPath: renamed)
                path = renamed
            }
            XCTAssertThrowsError(try NetworkWeights.load(path: path), name) { error in
                guard let e = error as? RecognizerError, case .incompatibleModel = e else { return XCTFail("\(name): \(error)") }
                XCTAssertTrue(e.description.contains(path), e.description)
                XCTAssertFalse(e.description.contains("\n"), e.description)
                for w in words { XCTAssertTrue(e.description.contains(w), "\(name): '\(e.description)' should say '\(w)'") }
            }
        }
        try rejects("duplicate.safetensors", classes: "anger,contempt,disgust,fear,happy,anger,surprise", mentioning: ["'anger' twice"])
        try rejects("empty-name.safetensors", classes: "anger,contempt,,fear,happy,sadness,surprise", mentioning: ["class ''"])
        try rejects("quote.safetensors", classes: "anger,con\"tempt,disgust,fear,happy,sadness,surprise", mentioning: ["con\"tempt"])
        try rejects("one-class.safetensors", classes: "anger", mentioning: ["fewer than 2"])
        try rejects("newline.safetensors", classes: "anger,con\ntempt,disgust,fear,happy,sadness,surprise", mentioning: ["con\\u{a}tempt"])
        try rejects("six.safetensors", classes: "anger,contempt,disgust,fear,happy,sadness", mentioning: ["7 outputs", "6 classes"])
        try rejects("eight.safetensors", classes: ckplus + ",neutral", mentioning: ["7 outputs", "8 classes"])
        try rejects("unnamed-eight.safetensors", classes: nil, outputs: 8, mentioning: ["8 outputs", "FER2013"])
    }

    /// Sizes in the metadata that trapped `Int(_:)` (1e30) or would overflow the layer sizes
    /// computed from them (issue 36) are one-line `incompatibleModel` errors naming the key.
    func testHostileMetadataSizesAreErrorsNotATrap() throws {
        let (good, tensors) = try makeTinyModel(layout: "4,M", inputSize: 8, cropFrom: 10, seed: 25)
        XCTAssertNoThrow(try NetworkWeights.load(path: good))
        let base = try SafeTensorsFile(path: good).metadata
        let hostile: [(key: String, value: String, extra: [String: String])] = [
            ("input_size", "1e30", [:]), ("input_size", "-1e30", [:]), ("input_size", "8.5", [:]), ("input_size", "100000000", [:]),
            ("crop_from", "3e38", [:]), ("crop_from", "-3e38", [:]),
            ("blocks", "1e30", ["format": "fer-stream-resnet18"]), ("blocks", "0", ["format": "fer-stream-resnet18"]),
        ]
        for (key, value, extra) in hostile {
            var metadata = base.merging(extra) { $1 }
            metadata[key] = value
            let path = Scratch.path("hostile-meta.safetensors")
            try SafeTensorsFile.encode(tensors, metadata: metadata).write(to: URL(fileURLWithPath: path))
            XCTAssertThrowsError(try NetworkWeights.load(path: path), "\(key)=\(value)") { error in
                guard let e = error as? RecognizerError, case .incompatibleModel = e else { return XCTFail("\(key)=\(value): \(error)") }
                XCTAssertTrue(e.description.contains("'\(key)' = '\(value)'"), e.description)
            }
        }
    }
}
