import Foundation
import XCTest
import TestSupport
import FERCore
@testable import Recognizer
import SafeTensors

/// A small random network in the export's naming, written to a temp file, so the engine can be
/// checked against a direct convolution without the trained model.
func makeTinyModel(layout: String, inputSize: Int, cropFrom: Int, seed: UInt64, extraMeta: [String: String] = [:],
                   outputs: Int = 7) throws -> (path: String, tensors: [String: Tensor]) {
    var rng = SplitMix(seed: seed)
    var tensors: [String: Tensor] = [:]
    var channels = 1, side = inputSize, i = 0
    for token in layout.split(separator: ",") {
        if token == "M" { side /= 2; continue }
        let out = Int(token)!
        tensors["conv\(i).weight"] = Tensor(shape: [out, channels, 3, 3], values: (0..<(out * channels * 9)).map { _ in rng.normal() * 0.4 })
        tensors["conv\(i).bias"] = Tensor(shape: [out], values: (0..<out).map { _ in rng.normal() * 0.1 })
        tensors["bn\(i).weight"] = Tensor(shape: [out], values: (0..<out).map { _ in 0.5 + rng.uniform() })
        tensors["bn\(i).bias"] = Tensor(shape: [out], values: (0..<out).map { _ in rng.normal() * 0.1 })
        tensors["bn\(i).running_mean"] = Tensor(shape: [out], values: (0..<out).map { _ in rng.normal() * 0.1 })
        tensors["bn\(i).running_var"] = Tensor(shape: [out], values: (0..<out).map { _ in 0.5 + rng.uniform() })
        channels = out; i += 1
    }
    let features = channels * side * side
    tensors["classifier.weight"] = Tensor(shape: [outputs, features], values: (0..<(outputs * features)).map { _ in rng.normal() * 0.2 })
    tensors["classifier.bias"] = Tensor(shape: [outputs], values: (0..<outputs).map { _ in rng.normal() * 0.1 })
    var meta = ["format": "fer-stream-vgg19", "channels": layout, "input_size": "\(inputSize)", "crop_from": "\(cropFrom)",
                "norm_mean": "0.5", "norm_std": "0.25", "bn_eps": "1e-05", "classes": Emotion.names.joined(separator: ",")]
    meta.merge(extraMeta) { $1 }
    let path = Scratch.path("tiny-\(seed).safetensors")
    try SafeTensorsFile.encode(tensors, metadata: meta).write(to: URL(fileURLWithPath: path))
    return (path, tensors)
}

/// Conv → BN (unfolded, eval) → ReLU → pool, done the obvious way, per image.
func directForward(tensors: [String: Tensor], layout: String, image: [Float], side s: Int) -> [Float] {
    var act = image, channels = 1, side = s, i = 0
    for token in layout.split(separator: ",") {
        if token == "M" {
            let h = side / 2
            var out = [Float](repeating: 0, count: channels * h * h)
            for c in 0..<channels { for y in 0..<h { for x in 0..<h {
                let a = c * side * side + 2 * y * side + 2 * x
                out[c * h * h + y * h + x] = max(act[a], act[a + 1], act[a + side], act[a + side + 1])
            } } }
            act = out; side = h; continue
        }
        let outC = Int(token)!
        let w = tensors["conv\(i).weight"]!.values, b = tensors["conv\(i).bias"]!.values
        let g = tensors["bn\(i).weight"]!.values, be = tensors["bn\(i).bias"]!.values
        let mu = tensors["bn\(i).running_mean"]!.values, va = tensors["bn\(i).running_var"]!.values
        var out = [Float](repeating: 0, count: outC * side * side)
        for o in 0..<outC { for y in 0..<side { for x in 0..<side {
            var sum: Float = b[o]
            for c in 0..<channels { for dy in 0..<3 { for dx in 0..<3 {
                let yy = y + dy - 1, xx = x + dx - 1
                if yy >= 0 && yy < side && xx >= 0 && xx < side {
                    sum += w[((o * channels + c) * 3 + dy) * 3 + dx] * act[c * side * side + yy * side + xx]
                }
            } } }
            let bn = (sum - mu[o]) / (va[o] + 1e-5).squareRoot() * g[o] + be[o]
            out[o * side * side + y * side + x] = max(bn, 0)
        } } }
        act = out; channels = outC; i += 1
    }
    let cw = tensors["classifier.weight"]!.values, cb = tensors["classifier.bias"]!.values
    return (0..<7).map { k in cb[k] + zip(cw[(k * act.count)..<((k + 1) * act.count)], act).map(*).reduce(0, +) }
}

final class ReferenceEngineTests: XCTestCase {
    func testEngineMatchesDirectConvolutionAcrossBatchAndTiles() throws {
        // Odd widths (12, 5) exercise the GEMM's row and column remainders; 3 images span blocks.
        let layout = "12,M,8,8,M,5"
        let (path, tensors) = try makeTinyModel(layout: layout, inputSize: 10, cropFrom: 12, seed: 7)
        let weights = try NetworkWeights.load(path: path)
        XCTAssertEqual(weights.convs.count, 4)
        XCTAssertEqual(weights.features, 5 * 2 * 2)
        var rng = SplitMix(seed: 99)
        let n = 3
        let input = (0..<(n * 100)).map { _ in rng.normal() }
        for threads in [1, 2] {
            let logits = try ReferenceEngine(weights: weights, threads: threads).logits(for: input, count: n)
            XCTAssertEqual(logits.count, n * 7)
            for img in 0..<n {
                let expected = directForward(tensors: tensors, layout: layout, image: Array(input[(img * 100)..<((img + 1) * 100)]), side: 10)
                for k in 0..<7 {
                    XCTAssertEqual(logits[img * 7 + k], expected[k], accuracy: 1e-4 * max(1, abs(expected[k])), "image \(img) class \(k)")
                }
            }
        }
    }

    func testBatchResultsDoNotDependOnBatchmates() throws {
        let (path, _) = try makeTinyModel(layout: "16,M,16,M", inputSize: 12, cropFrom: 14, seed: 3)
        let engine = ReferenceEngine(weights: try NetworkWeights.load(path: path))
        var rng = SplitMix(seed: 5)
        let a = (0..<144).map { _ in rng.normal() }, b = (0..<144).map { _ in rng.normal() }
        let alone = try engine.logits(for: a, count: 1)
        let together = try engine.logits(for: b + a, count: 2)
        for k in 0..<7 { XCTAssertEqual(alone[k], together[7 + k], accuracy: 1e-5) }
    }

    func testWrongInputSizeIsRejected() throws {
        let (path, _) = try makeTinyModel(layout: "4,M", inputSize: 8, cropFrom: 10, seed: 1)
        let engine = ReferenceEngine(weights: try NetworkWeights.load(path: path))
        XCTAssertThrowsError(try engine.logits(for: [0, 1, 2], count: 1)) { error in
            guard case RecognizerError.badInput = error else { return XCTFail("\(error)") }
        }
    }
}
