import Foundation
import XCTest
import FERCore
@testable import Recognizer
import SafeTensors

/// The Swift reference engine against the training code's PyTorch on the shipped models: each
/// golden file (Models/<name>.golden.safetensors, made by training/export.py) holds generated crops
/// and the logits PyTorch computed for them with the exported weights. `ParityTests` checks the
/// VGG19, `FERPlusParityTests` the VGG19 trained on FER+'s votes (its golden outputs include its
/// temperature, as fer-stream applies it), `ResNet18ParityTests` the ResNet18.
class ParityTests: XCTestCase {
    static let models = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Models")
    class var modelName: String { "vgg19-fer2013" }
    class var modelPath: String { models.appendingPathComponent("\(modelName).safetensors").path }
    class var goldenPath: String { models.appendingPathComponent("\(modelName).golden.safetensors").path }

    func load() throws -> (NetworkWeights, SafeTensorsFile) {
        guard FileManager.default.fileExists(atPath: Self.modelPath), FileManager.default.fileExists(atPath: Self.goldenPath) else {
            throw XCTSkip("model or golden file \(Self.modelName) missing under \(Self.models.path)")
        }
        return (try NetworkWeights.load(path: Self.modelPath), try SafeTensorsFile(path: Self.goldenPath))
    }

    func testShippedModelLoadsWithReferenceArchitecture() throws {
        let (weights, _) = try load()
        XCTAssertEqual(weights.architecture, .vgg19)
        XCTAssertEqual(weights.convs.map(\.outChannels), [64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512, 512, 512, 512])
        XCTAssertEqual(weights.convs.filter(\.poolAfter).count, 5)
        XCTAssertEqual(weights.features, 512)
        XCTAssertEqual(weights.inputSize, 44)
        XCTAssertEqual(weights.cropFrom, 48)
        XCTAssertEqual(weights.classes, Emotion.names)
    }

    func testLogitsMatchPyTorchWithin1e3() throws {
        let (weights, golden) = try load()
        let inputs = try XCTUnwrap(golden.tensors["inputs44"]), expected = try XCTUnwrap(golden.tensors["logits44"])
        let n = inputs.shape[0]
        XCTAssertEqual(inputs.shape, [n, 44, 44])
        XCTAssertEqual(expected.shape, [n, 7])
        let scale = 1 / (255 * weights.normStd), shift = weights.normMean / weights.normStd
        let logits = try ReferenceEngine(weights: weights).logits(for: inputs.values.map { $0 * scale - shift }, count: n)
        var worst: Float = 0
        for i in 0..<(n * 7) { worst = max(worst, abs(logits[i] - expected.values[i])) }
        XCTAssertLessThanOrEqual(worst, 1e-3, "largest logit difference from PyTorch")
    }

    func testTenCropProbabilitiesMatchPyTorch() throws {
        let (weights, golden) = try load()
        let faces = try XCTUnwrap(golden.tensors["faces48"]), expected = try XCTUnwrap(golden.tensors["probs10crop"])
        let n = faces.shape[0]
        let images = (0..<n).map { f in
            GrayImage(width: 48, height: 48, pixels: faces.values[(f * 2304)..<((f + 1) * 2304)].map { UInt8($0) })
        }
        let probs = try Recognizer(weights: weights, engine: ReferenceEngine(weights: weights), tta: .tenCrop).probabilities(for: images)
        for f in 0..<n {
            for k in 0..<7 { XCTAssertEqual(probs[f][k], expected.values[f * 7 + k], accuracy: 1e-4, "face \(f) class \(k)") }
        }
    }
}

final class ResNet18ParityTests: ParityTests {
    override class var modelName: String { "resnet18-fer2013" }

    override func testShippedModelLoadsWithReferenceArchitecture() throws {
        let (weights, golden) = try load()
        XCTAssertEqual(weights.architecture, .resnet18)
        XCTAssertEqual(weights.convs.count, 20)
        XCTAssertEqual(weights.head, .averagePool(window: 4))
        XCTAssertEqual(weights.features, 512)
        XCTAssertEqual(weights.inputSize, 44)
        XCTAssertEqual(weights.classes, Emotion.names)
        XCTAssertEqual(golden.metadata["format"], "fer-stream-resnet18-golden")
    }
}

final class FERPlusParityTests: ParityTests {
    override class var modelName: String { "vgg19-ferplus" }

    /// Calibrated: a temperature in its metadata, folded into the classifier.
    func testTemperatureIsFoldedIntoTheClassifier() throws {
        let (weights, _) = try load()
        let t = try XCTUnwrap(weights.metadata["temperature"].flatMap(Float.init))
        XCTAssertEqual(weights.temperature, t)
        XCTAssertGreaterThan(t, 0)
        let plain = try SafeTensorsFile(path: Self.modelPath)
        let stored = try XCTUnwrap(plain.tensors["classifier.bias"]).values
        for (folded, raw) in zip(weights.classifierBias, stored) { XCTAssertEqual(folded, raw / t, accuracy: 1e-5) }
    }
}

/// The distilled student (format fer-stream-vgg): a VGG of its own layout, calibrated.
final class StudentParityTests: ParityTests {
    override class var modelName: String { "student-ferplus" }

    override func testShippedModelLoadsWithReferenceArchitecture() throws {
        let (weights, golden) = try load()
        XCTAssertEqual(weights.architecture, .vgg)
        XCTAssertEqual(weights.convs.map(\.outChannels), [32, 64, 128, 128, 256, 256, 256])
        XCTAssertEqual(weights.convs.filter(\.poolAfter).count, 5)
        XCTAssertEqual(weights.features, 256)
        XCTAssertEqual(weights.classes, Emotion.names)
        XCTAssertNotEqual(weights.temperature, 1)
        // At most a tenth of the VGG19's multiply-adds a crop.
        let vgg19 = try NetworkWeights.load(path: Self.models.appendingPathComponent("vgg19-ferplus.safetensors").path)
        XCTAssertLessThanOrEqual(weights.macsPerCrop * 10, vgg19.macsPerCrop)
        XCTAssertEqual(golden.metadata["format"], "fer-stream-vgg-golden")
    }
}
