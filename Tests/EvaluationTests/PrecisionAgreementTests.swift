import Foundation
import XCTest
import Datasets
import FERCore
import Recognizer
import RecognizerDNNL
@testable import Evaluation

/// The fast engines against the shipped model on real FER2013 PublicTest faces: int8 and bf16 must
/// pick the same class as f32 for (nearly) every face, and f32 must match the reference engine.
final class PrecisionAgreementTests: XCTestCase {
    static let modelPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Models/vgg19-fer2013.safetensors").path

    private func setUpData(count: Int) throws -> (NetworkWeights, [LabelledFace]) {
        guard FileManager.default.fileExists(atPath: Self.modelPath) else { throw XCTSkip("no model at \(Self.modelPath)") }
        let candidates: [String?] = [FER2013.defaultPath(), URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../shared/data/fer2013.csv.gz").standardized.path]
        guard let path = candidates.compactMap({ $0 }).first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw XCTSkip("FER2013 not found: set FER2013_CSV or put it at ../shared/data/fer2013.csv.gz")
        }
        return (try NetworkWeights.load(path: Self.modelPath), try FER2013.load(path: path, split: .publicTest, limit: count))
    }

    private func predictions(_ engine: InferenceEngine, _ weights: NetworkWeights, _ faces: [LabelledFace],
                             tta: TestTimeAugmentation = .center) throws -> [Int] {
        let r = Recognizer(weights: weights, engine: engine, tta: tta)
        var out: [Int] = []
        for start in stride(from: 0, to: faces.count, by: 32) {
            let probs = try r.probabilities(for: faces[start..<min(faces.count, start + 32)].map(\.image))
            out += probs.map { p in p.indices.max { p[$0] < p[$1] }! }
        }
        return out
    }

    func testInt8AndBF16AgreeWithF32OnPublicTestFaces() throws {
        let (weights, faces) = try setUpData(count: 400)
        guard let act = weights.metadata["int8_act_max"] else { throw XCTSkip("model has no int8 calibration") }
        let f32 = try predictions(DNNLEngine(weights: weights, precision: .f32, threads: 2), weights, faces)
        let int8Engine = try DNNLEngine(weights: weights, precision: .int8, threads: 2)
        try int8Engine.setCalibration(act.split(separator: ",").compactMap { Float($0) })
        let int8 = try predictions(int8Engine, weights, faces)
        let agreeInt8 = Double(zip(f32, int8).filter { $0 == $1 }.count) / Double(faces.count)
        XCTAssertGreaterThanOrEqual(agreeInt8, 0.97)
        // oneDNN has bf16 convolutions only from AVX-512 on (an AVX2-only CPU answers "unimplemented").
        let avx512 = ((try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "").contains(" avx512f")
        guard avx512 else { throw XCTSkip("bf16 part skipped: this CPU has no AVX-512 (int8 agreement \(agreeInt8) checked)") }
        let bf16 = try predictions(DNNLEngine(weights: weights, precision: .bf16, threads: 2), weights, faces)
        let agreeBF16 = Double(zip(f32, bf16).filter { $0 == $1 }.count) / Double(faces.count)
        print("argmax agreement with f32 on \(faces.count) PublicTest faces: int8 \(agreeInt8), bf16 \(agreeBF16)")
        // Measured (centre crop, one crop per face, so no averaging): epoch-8 checkpoint int8 0.9925,
        // bf16 0.9975 (the epoch-3 checkpoint, much flatter, gave int8 0.84); epoch 22 int8 0.975,
        // bf16 0.995; epoch 47 int8 0.9725, bf16 0.995 (its 10-crop int8 accuracy is at f32's:
        // 70.49 vs 70.47% PrivateTest); the four-snapshot mean int8 0.9925, bf16 1.0; the shipped
        // seven-snapshot mean int8 0.995, bf16 1.0.
        XCTAssertGreaterThanOrEqual(agreeBF16, 0.99)
    }

    /// The default configuration: int8 with 10-crop against f32 with 10-crop (averaging ten
    /// crops also averages out quantisation noise).
    func testInt8AgreesWithF32With10CropOnPublicTestFaces() throws {
        let (weights, faces) = try setUpData(count: 1000)
        guard let act = weights.metadata["int8_act_max"] else { throw XCTSkip("model has no int8 calibration") }
        let f32 = try predictions(DNNLEngine(weights: weights, precision: .f32, threads: 2), weights, faces, tta: .tenCrop)
        let int8Engine = try DNNLEngine(weights: weights, precision: .int8, threads: 2)
        try int8Engine.setCalibration(act.split(separator: ",").compactMap { Float($0) })
        let int8 = try predictions(int8Engine, weights, faces, tta: .tenCrop)
        let agree = Double(zip(f32, int8).filter { $0 == $1 }.count) / Double(faces.count)
        print("10-crop argmax agreement with f32 on \(faces.count) PublicTest faces: int8 \(agree)")
        // Measured 0.998 with the epoch-8 checkpoint, 0.995 with epoch 22, 0.994 with epoch 33,
        // 0.998 (2 of 1000 faces) with epoch 47, 0.996 and 0.999 with the four- and the shipped
        // seven-snapshot mean, whose int8 and f32 10-crop accuracies differ by under 0.1 point on
        // both test splits (Models/README.md). 0.995: at most 5 of 1000 top-1 labels may change.
        XCTAssertGreaterThanOrEqual(agree, 0.995)
    }

    func testF32EngineMatchesReferenceOnRealFaces() throws {
        let (weights, faces) = try setUpData(count: 24)
        let reference = try predictions(ReferenceEngine(weights: weights), weights, faces)
        let f32 = try predictions(DNNLEngine(weights: weights, precision: .f32, threads: 2), weights, faces)
        XCTAssertEqual(reference, f32)
    }
}
