import Foundation
import XCTest
import FERCore
import Recognizer
import SafeTensors
@testable import RecognizerDNNL

/// A random ResNet in the export format (`fer-stream-resnet18`: stem, blocks with projection
/// shortcuts where the shape changes, the final average pool), loaded through `NetworkWeights`.
func randomResNet(stages: String, blocks: Int, pool: String = "topleft4", inputSize: Int, cropFrom: Int, seed: UInt64) throws -> NetworkWeights {
    var random = TestRandom(seed: seed)
    var tensors: [(String, [Int], [Float])] = []
    func vector(_ n: Int, _ f: () -> Float) -> [Float] { (0..<n).map { _ in f() } }
    func conv(_ name: String, _ bn: String, out: Int, in c: Int, kernel k: Int, gain: Float = 1) {
        let spread = gain * (2 / Float(c * k * k)).squareRoot()
        tensors += [
            ("\(name).weight", [out, c, k, k], vector(out * c * k * k) { random.centred() * spread }),
            ("\(bn).weight", [out], vector(out) { 0.8 + 0.4 * random.unit() }),
            ("\(bn).bias", [out], vector(out) { random.centred() * 0.05 }),
            ("\(bn).running_mean", [out], vector(out) { random.centred() * 0.05 }),
            ("\(bn).running_var", [out], vector(out) { 0.8 + 0.4 * random.unit() }),
        ]
    }
    let plan = stages.split(separator: ",").map { $0.split(separator: ":").map { Int($0)! } }
    var channels = plan[0][0], side = inputSize
    conv("conv", "bn", out: channels, in: 1, kernel: 3)
    for (s, stage) in plan.enumerated() {
        for b in 0..<blocks {
            let stride = b == 0 ? stage[1] : 1
            let name = "layer\(s + 1).\(b)"
            conv("\(name).conv1", "\(name).bn1", out: stage[0], in: channels, kernel: 3)
            // A small second conv keeps the sum of many blocks from growing without bound.
            conv("\(name).conv2", "\(name).bn2", out: stage[0], in: stage[0], kernel: 3, gain: 0.5)
            if stride != 1 || channels != stage[0] {
                conv("\(name).shortcut_conv", "\(name).shortcut_bn", out: stage[0], in: channels, kernel: 1)
            }
            channels = stage[0]
            side = (side + 2 - 3) / stride + 1
        }
    }
    let window = pool == "global" ? side : 4
    let finalSide = (side - window) / window + 1
    let features = channels * finalSide * finalSide
    let spread = 3 / Float(features).squareRoot()
    tensors += [("classifier.weight", [7, features], vector(7 * features) { random.centred() * spread }),
                ("classifier.bias", [7], vector(7) { random.centred() * 0.1 })]
    let metadata = ["format": "fer-stream-resnet18", "architecture": "resnet18", "stages": stages, "blocks": "\(blocks)",
                    "pool": pool, "input_size": "\(inputSize)", "crop_from": "\(cropFrom)",
                    "norm_mean": "0.5", "norm_std": "0.25", "bn_eps": "1e-05", "classes": Emotion.names.joined(separator: ",")]
    return try NetworkWeights(file: SafeTensorsFile(data: safetensors(tensors, metadata: metadata)), path: "random-resnet-\(seed)")
}

/// The residual network on oneDNN against the reference engine: the sum post-op (in place in the
/// shortcut's slot), projection shortcuts (signed in int8), strides, the final average pool.
final class ResNetEngineTests: XCTestCase {
    func testGraphOfTheReferenceResNet18() throws {
        let weights = try randomResNet(stages: NetworkWeights.referenceStages, blocks: 2, inputSize: 44, cropFrom: 48, seed: 3)
        XCTAssertEqual(weights.architecture, .resnet18)
        // Stem, 8 blocks × 2 convolutions, 3 projection shortcuts.
        XCTAssertEqual(weights.convs.count, 20)
        XCTAssertEqual(weights.convs.filter { $0.addend != nil }.count, 8)
        XCTAssertEqual(weights.convs.filter { !$0.relu }.map(\.kernel), [1, 1, 1])
        XCTAssertEqual(weights.convs.map(\.outputSide).last, 6)
        XCTAssertEqual(weights.head, .averagePool(window: 4))
        XCTAssertEqual(weights.finalSide, 1)
        XCTAssertEqual(weights.features, 512)
        // About 1.5× the VGG19's work (the 2.1 GFLOP per crop counts a MAC as 2).
        XCTAssertEqual(Double(weights.macsPerCrop) / 1e9, 1.03, accuracy: 0.08)
    }

    func testF32MatchesReference() throws {
        // Identity and projection shortcuts, strides 1 and 2, odd sides (9 → 5 → 3), both pools.
        for (n, (stages, blocks, pool, size)) in [("8:1,12:2,16:2", 2, "topleft4", 18), ("6:1,10:2", 1, "global", 9),
                                                   ("8:2,8:1", 2, "topleft4", 16)].enumerated() {
            let weights = try randomResNet(stages: stages, blocks: blocks, pool: pool, inputSize: size, cropFrom: size + 2, seed: UInt64(40 + n))
            let reference = ReferenceEngine(weights: weights, threads: 1)
            let engine = try DNNLEngine(weights: weights, precision: .f32, threads: 2)
            for count in [1, 3] {
                let input = randomCrops(count, side: size, seed: UInt64(count + 5))
                let expected = try reference.logits(for: input, count: count)
                let actual = try engine.logits(for: input, count: count)
                for (k, (a, e)) in zip(actual, expected).enumerated() {
                    XCTAssertEqual(a, e, accuracy: 1e-3 * max(1, abs(e)), "\(stages) \(pool) batch \(count) [\(k)]")
                }
            }
            let steps = try engine.implementations(forBatch: 3)
            XCTAssertEqual(steps.filter { $0.contains("+ residual") }.count, weights.convs.filter { $0.addend != nil }.count, steps.joined(separator: "\n"))
            XCTAssertFalse(steps.contains { $0.contains("ref:") }, steps.joined(separator: "\n"))
        }
    }

    func testReducedPrecisionsAgreeWithReference() throws {
        let weights = try randomResNet(stages: "16:1,32:2,64:2", blocks: 2, inputSize: 20, cropFrom: 22, seed: 8)
        let input = randomCrops(6, side: 20, seed: 12)
        let expected = try ReferenceEngine(weights: weights, threads: 1).logits(for: input, count: 6)
        var precisions: [DNNLEngine.Precision] = [.int8]
        if CPU.has("avx512f") { precisions.append(.bf16) }
        for precision in precisions {
            let engine = try DNNLEngine(weights: weights, precision: precision, threads: 2)
            if precision == .int8 {
                try engine.calibrate(with: randomCrops(8, side: 20, seed: 13), count: 8)
                let maxima = try XCTUnwrap(engine.calibration)
                XCTAssertEqual(maxima.count, weights.convs.count)
                XCTAssertTrue(maxima.allSatisfy { $0 > 0 })
            }
            let actual = try engine.logits(for: input, count: 6)
            for i in 0..<6 {
                let e = Array(expected[(i * 7)..<((i + 1) * 7)]), a = Array(actual[(i * 7)..<((i + 1) * 7)])
                let spread = e.max()! - e.min()!
                for k in 0..<7 { XCTAssertEqual(a[k], e[k], accuracy: 0.1 * spread, "\(precision) crop \(i) class \(k)") }
            }
            let steps = try engine.implementations(forBatch: 6)
            XCTAssertFalse(steps.contains { $0.contains("ref:") }, "\(precision)\n" + steps.joined(separator: "\n"))
        }
    }
}
