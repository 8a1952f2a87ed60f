import Foundation
import XCTest
import FERCore
import Recognizer
import SafeTensors
import CDNNL
@testable import RecognizerDNNL

/// Deterministic pseudo-random numbers (xorshift64*), so each test sees the same model and inputs.
struct TestRandom {
    private var state: UInt64
    init(seed: UInt64) { state = seed &* 0x2545_F491_4F6C_DD1D | 1 }
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }
    /// Uniform in [0, 1).
    mutating func unit() -> Float { Float(next() >> 40) * (1 / Float(1 << 24)) }
    /// Uniform with mean 0 and variance 1 (cheap: the full model has 20 M weights).
    mutating func centred() -> Float { (unit() - 0.5) * 3.4641016 }
}

/// A random model in the export format (conv, BN and classifier tensors plus metadata), loaded
/// through `NetworkWeights` so BN folding and layout parsing are those the app uses. Weights are
/// scaled like He initialisation so activations keep their size through deep layouts.
func randomModel(layout: String, inputSize: Int, cropFrom: Int, seed: UInt64) throws -> NetworkWeights {
    var random = TestRandom(seed: seed)
    var tensors: [(String, [Int], [Float])] = []
    func vector(_ n: Int, _ f: () -> Float) -> [Float] { (0..<n).map { _ in f() } }
    var channels = 1, side = inputSize, index = 0
    for token in layout.split(separator: ",") {
        if token == "M" { side /= 2; continue }
        let width = Int(token)!
        let spread = (2 / Float(channels * 9)).squareRoot()
        tensors += [
            ("conv\(index).weight", [width, channels, 3, 3], vector(width * channels * 9) { random.centred() * spread }),
            ("conv\(index).bias", [width], vector(width) { random.centred() * 0.05 }),
            ("bn\(index).weight", [width], vector(width) { 0.8 + 0.4 * random.unit() }),
            ("bn\(index).bias", [width], vector(width) { random.centred() * 0.05 }),
            ("bn\(index).running_mean", [width], vector(width) { random.centred() * 0.05 }),
            ("bn\(index).running_var", [width], vector(width) { 0.8 + 0.4 * random.unit() }),
        ]
        channels = width
        index += 1
    }
    let features = channels * side * side
    let spread = 3 / Float(features).squareRoot()
    tensors += [("classifier.weight", [7, features], vector(7 * features) { random.centred() * spread }),
                ("classifier.bias", [7], vector(7) { random.centred() * 0.1 })]
    let metadata = ["format": "fer-stream-vgg19", "channels": layout, "input_size": "\(inputSize)", "crop_from": "\(cropFrom)",
                    "norm_mean": "0.5", "norm_std": "0.25", "bn_eps": "1e-05", "classes": Emotion.names.joined(separator: ",")]
    return try NetworkWeights(file: SafeTensorsFile(data: safetensors(tensors, metadata: metadata)), path: "random-\(seed)")
}

/// The safetensors bytes of f32 `tensors`: 8-byte header length, JSON header, raw data (whole
/// arrays appended at once, which keeps a debug build fast on 80 MB).
func safetensors(_ tensors: [(name: String, shape: [Int], values: [Float])], metadata: [String: String]) -> Data {
    var header: [String: Any] = ["__metadata__": metadata]
    var offset = 0
    for t in tensors {
        header[t.name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [offset, offset + 4 * t.values.count]]
        offset += 4 * t.values.count
    }
    var json = try! JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
    while json.count % 8 != 0 { json.append(0x20) }
    var data = Data(capacity: 8 + json.count + offset)
    withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
    data.append(json)
    for t in tensors { t.values.withUnsafeBytes { data.append(contentsOf: $0) } }
    return data
}

/// Normalised-looking crops: values of (p/255 − 0.5)/0.25 for smooth random "faces".
func randomCrops(_ count: Int, side: Int, seed: UInt64) -> [Float] {
    var random = TestRandom(seed: seed)
    var crops: [Float] = []
    for _ in 0..<count {
        let (a, b, c, d) = (random.unit() * 6, random.unit() * 6, random.unit() * 6, random.unit())
        for y in 0..<side {
            for x in 0..<side {
                let u = Float(x) / Float(side), v = Float(y) / Float(side)
                let pixel = 0.5 + 0.3 * sinf(a * u + b * v + d * 6) * cosf(c * v) + 0.1 * (random.unit() - 0.5)
                crops.append((min(max(pixel, 0), 1) - 0.5) / 0.25)
            }
        }
    }
    return crops
}

/// The full reference network (reference layout, 44×44 input, 48×48 faces) with random weights,
/// made once for all tests. The reference engine scores one crop (`crops[1]`): in a debug build
/// that alone takes about 20 s of CPU. The other crops are scored by the f32 oneDNN engine, which
/// the f32 test holds to the reference.
final class FullModel {
    nonisolated(unsafe) static let shared = try! FullModel()  // tests use it one at a time
    let weights: NetworkWeights
    /// 8 crops, one after another.
    let crops: [Float]
    let count = 8
    /// Reference logits of crop 1.
    let reference: [Float]
    /// f32 oneDNN logits of all crops at batch 8.
    private(set) lazy var f32: [Float] = try! DNNLEngine(weights: weights, precision: .f32, threads: 2).logits(for: crops, count: count)

    private init() throws {
        weights = try randomModel(layout: NetworkWeights.referenceLayout, inputSize: 44, cropFrom: 48, seed: 19)
        let crops = randomCrops(count, side: 44, seed: 7)
        self.crops = crops
        reference = try ReferenceEngine(weights: weights).logits(for: Array(crops[(44 * 44)..<(2 * 44 * 44)]), count: 1)
    }

    func crop(_ i: Int) -> [Float] { Array(crops[(i * 44 * 44)..<((i + 1) * 44 * 44)]) }
    func crops(_ range: Range<Int>) -> [Float] { Array(crops[(range.lowerBound * 44 * 44)..<(range.upperBound * 44 * 44)]) }
}

func row(_ logits: [Float], _ i: Int) -> [Float] { Array(logits[(i * 7)..<((i + 1) * 7)]) }

func argmax(_ v: ArraySlice<Float>) -> Int { v.indices.max { v[$0] < v[$1] }! - v.startIndex }

final class DNNLEngineTests: XCTestCase {
    func assertClose(_ actual: [Float], _ expected: [Float], tolerance: Float, _ what: String,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.count, expected.count, what, file: file, line: line)
        for (k, (a, e)) in zip(actual, expected).enumerated() {
            XCTAssertEqual(a, e, accuracy: tolerance * max(1, abs(e)), "\(what) [\(k)]", file: file, line: line)
        }
    }

    func testF32MatchesReferenceOnTinyModels() throws {
        // 1: 2×2 maps after two pools (dense from a map, dense from dense, pool of a dense
        //    output), then a 1×1 map (dense again), classifier on flat features.
        // 2: odd sides (10 → 5 → 2), a pool right after the first convolution.
        let cases: [(String, Int, Int)] = [("8,M,12,M,16,16,M,10", 8, 10), ("12,M,8,8,M,5", 10, 12), ("6,6,M,9", 6, 8)]
        for (n, (layout, size, from)) in cases.enumerated() {
            let weights = try randomModel(layout: layout, inputSize: size, cropFrom: from, seed: UInt64(100 + n))
            let reference = ReferenceEngine(weights: weights, threads: 1)
            for dense in [true, false] {
                let engine = try DNNLEngine(weights: weights, precision: .f32, threads: 2, denseSmallMaps: dense)
                for count in [1, 3] {
                    let input = randomCrops(count, side: size, seed: UInt64(count))
                    let expected = try reference.logits(for: input, count: count)
                    let actual = try engine.logits(for: input, count: count)
                    assertClose(actual, expected, tolerance: 1e-3, "\(layout) dense \(dense) batch \(count)")
                }
            }
        }
    }

    func testF32FullLayoutMatchesReferenceAtBatchOneAndThree() throws {
        let model = FullModel.shared
        let engine = try DNNLEngine(weights: model.weights, precision: .f32, threads: 2)
        let three = try engine.logits(for: model.crops(0..<3), count: 3)
        assertClose(row(three, 1), model.reference, tolerance: 1e-3, "crop 1 in a batch of 3")
        assertClose(try engine.logits(for: model.crop(1), count: 1), model.reference, tolerance: 1e-3, "crop 1 alone")
        for i in [0, 2] {
            assertClose(try engine.logits(for: model.crop(i), count: 1), row(three, i), tolerance: 1e-4, "crop \(i) alone vs in a batch of 3")
        }
        assertClose(row(model.f32, 1), model.reference, tolerance: 1e-3, "crop 1 in a batch of 8")
        // The 2×2 convolutions run as inner products; no reorder inside the network.
        let steps = try engine.implementations(forBatch: 1)
        XCTAssertEqual(steps.filter { $0.contains("(dense)") }.count, 4, steps.joined(separator: "\n"))
        XCTAssertFalse(steps.contains { $0.contains("ref:") }, steps.joined(separator: "\n"))
        // With AVX-512 the layouts line up with no reorder inside; AVX2 kernels want other blockings.
        if CPU.has("avx512f") { XCTAssertFalse(steps.contains { $0.contains("reorder") }, steps.joined(separator: "\n")) }
    }

    func testBatchSizesAreCachedAndRebuilt() throws {
        let weights = try randomModel(layout: "8,M,16,M,16", inputSize: 8, cropFrom: 10, seed: 5)
        let engine = try DNNLEngine(weights: weights, precision: .f32, threads: 1)
        engine.cachedBatchSizes = 2
        let reference = ReferenceEngine(weights: weights, threads: 1)
        // 4, 1, 4 (cached), 2, 3 (evicts 4), 4 (rebuilt), 1 (rebuilt).
        for count in [4, 1, 4, 2, 3, 4, 1] {
            let input = randomCrops(count, side: 8, seed: UInt64(count * 31))
            assertClose(try engine.logits(for: input, count: count), try reference.logits(for: input, count: count),
                        tolerance: 1e-3, "batch \(count)")
        }
    }

    /// Networks of all batch sizes share one workspace: a bigger batch grows it, and a smaller
    /// network built before then still runs right (on the new storage).
    func testNetworksShareAGrowingWorkspace() throws {
        let weights = try randomModel(layout: "8,M,16,M,16", inputSize: 8, cropFrom: 10, seed: 6)
        for precision in [DNNLEngine.Precision.f32, .int8] {
            let engine = try DNNLEngine(weights: weights, precision: precision, threads: 1)
            if precision == .int8 { try engine.setCalibration([Float](repeating: 4, count: weights.convs.count)) }
            for count in [1, 6, 1, 2, 9, 6] {
                let input = randomCrops(count, side: 8, seed: UInt64(count * 17))
                let fresh = try DNNLEngine(weights: weights, precision: precision, threads: 1)
                if precision == .int8 { try fresh.setCalibration([Float](repeating: 4, count: weights.convs.count)) }
                XCTAssertEqual(try engine.logits(for: input, count: count), try fresh.logits(for: input, count: count),
                               "\(precision) batch \(count) after other sizes")
            }
        }
    }

    func testBF16AgreesWithReferenceOnFullLayout() throws {
        guard CPU.has("avx512f") else { throw XCTSkip("oneDNN has no bf16 convolutions for this CPU (no AVX-512)") }
        let model = FullModel.shared
        let engine = try DNNLEngine(weights: model.weights, precision: .bf16, threads: 2)
        XCTAssertEqual(engine.name, "onednn-bf16")
        try checkLoose(engine, model, tolerance: 0.05)
        let steps = try engine.implementations(forBatch: 8)
        XCTAssertEqual(steps.filter { $0.contains("reorder") }, ["reorder for conv0 input jit:uni"], steps.joined(separator: "\n"))
        XCTAssertFalse(steps.contains { $0.contains("ref:") }, steps.joined(separator: "\n"))
    }

    func testInt8AgreesWithReferenceOnFullLayout() throws {
        let model = FullModel.shared
        let engine = try DNNLEngine(weights: model.weights, precision: .int8, threads: 2)
        // Calibrated on other crops than those scored (two calls: the ranges widen).
        try engine.calibrate(with: randomCrops(4, side: 44, seed: 70), count: 4)
        let first = try XCTUnwrap(engine.calibration)
        try engine.calibrate(with: randomCrops(4, side: 44, seed: 71), count: 4)
        let maxima = try XCTUnwrap(engine.calibration)
        XCTAssertEqual(maxima.count, model.weights.convs.count)
        XCTAssertTrue(maxima.allSatisfy { $0 > 0 })
        XCTAssertTrue(zip(first, maxima).allSatisfy { $0 <= $1 })
        try checkLoose(engine, model, tolerance: 0.1)
        let steps = try engine.implementations(forBatch: 8)
        XCTAssertFalse(steps.contains { $0.contains("ref:") }, steps.joined(separator: "\n"))
        if CPU.has("avx512f") { XCTAssertFalse(steps.contains { $0.contains("reorder") }, steps.joined(separator: "\n")) }
        if CPU.has("avx512_vnni") {
            XCTAssertTrue(steps.filter { $0.hasPrefix("conv") }.dropFirst().allSatisfy { $0.contains("vnni") || $0.contains("amx") },
                          steps.joined(separator: "\n"))
        }
    }

    /// Same argmax as the reference for crop 1 (alone and in a batch of 8) and as the f32 engine
    /// (itself held to the reference) for the other seven; logits within `tolerance` × the spread
    /// of that crop's f32 logits, the scale that decides the argmax.
    func checkLoose(_ engine: DNNLEngine, _ model: FullModel, tolerance: Float, file: StaticString = #filePath, line: UInt = #line) throws {
        let logits = try engine.logits(for: model.crops, count: model.count)
        let alone = try engine.logits(for: model.crop(1), count: 1)
        var pairs = [(alone, model.reference, "crop 1 alone vs reference"), (row(logits, 1), model.reference, "crop 1 vs reference")]
        pairs += (0..<model.count).map { (row(logits, $0), row(model.f32, $0), "crop \($0) vs f32") }
        for (actual, expected, what) in pairs {
            XCTAssertEqual(argmax(actual[...]), argmax(expected[...]), "\(engine.name) \(what): \(actual) vs \(expected)", file: file, line: line)
            let spread = expected.max()! - expected.min()!
            for k in 0..<7 {
                XCTAssertEqual(actual[k], expected[k], accuracy: tolerance * spread, "\(engine.name) \(what) class \(k)", file: file, line: line)
            }
        }
    }

    func testInt8CalibrationOnTinyModel() throws {
        let weights = try randomModel(layout: "8,M,12,M,16,16,M,10", inputSize: 8, cropFrom: 10, seed: 9)
        let input = randomCrops(6, side: 8, seed: 3)
        let expected = try ReferenceEngine(weights: weights, threads: 1).logits(for: input, count: 6)
        // Calibrates itself on its first input when nobody did.
        let engine = try DNNLEngine(weights: weights, precision: .int8, threads: 2)
        XCTAssertNil(engine.calibration)
        let first = try engine.logits(for: input, count: 6)
        let maxima = try XCTUnwrap(engine.calibration)
        for i in 0..<6 {
            let e = Array(expected[(i * 7)..<((i + 1) * 7)])
            let spread = e.max()! - e.min()!
            for k in 0..<7 { XCTAssertEqual(first[i * 7 + k], e[k], accuracy: 0.1 * spread, "crop \(i) class \(k)") }
        }
        // A calibration carried to another engine gives the same network.
        let other = try DNNLEngine(weights: weights, precision: .int8, threads: 1)
        try other.setCalibration(maxima)
        assertClose(try other.logits(for: input, count: 6), first, tolerance: 1e-5, "same calibration, another engine")
        XCTAssertThrowsError(try other.setCalibration([1, 2])) { error in
            guard case RecognizerError.badInput = error else { return XCTFail("\(error)") }
        }
    }

    func testBadInputIsRejected() throws {
        let weights = try randomModel(layout: "4,M", inputSize: 8, cropFrom: 10, seed: 1)
        for precision in [DNNLEngine.Precision.f32, .bf16, .int8] {
            let engine = try DNNLEngine(weights: weights, precision: precision, threads: 1)
            for (input, count) in [([Float](repeating: 0, count: 3), 1), ([Float](repeating: 0, count: 64), 2), ([], 0)] {
                XCTAssertThrowsError(try engine.logits(for: input, count: count)) { error in
                    guard case RecognizerError.badInput = error else { return XCTFail("\(precision): \(error)") }
                }
            }
        }
    }

    func testAutoPrecisionFollowsTheCPU() throws {
        let resolved = DNNLEngine.resolve(.auto)
        XCTAssertNotEqual(resolved, .auto)
        XCTAssertEqual(DNNLEngine.resolve(.bf16), .bf16)
        let isa = DNNLEngine.cpuISA
        // int8 from AVX2 up (with or without 8-bit dot products), f32 below.
        let avx2OrLater = isa.hasPrefix("avx2") || isa.hasPrefix("avx512")
        XCTAssertEqual(resolved, avx2OrLater ? .int8 : .f32, isa)
        let weights = try randomModel(layout: "4,M", inputSize: 8, cropFrom: 10, seed: 1)
        XCTAssertEqual(try DNNLEngine(weights: weights, precision: .auto, threads: 1).precision, resolved)
    }

    func testBackendErrorsNameTheStatus() {
        XCTAssertThrowsError(try check(dnnl_unimplemented, "convolution 3")) { error in
            XCTAssertEqual(error as? RecognizerError, .backend(reason: "oneDNN convolution 3 failed: unimplemented"))
        }
    }
}

/// What this CPU can do (the kernels oneDNN picks, and so what the tests may expect, depend on it).
enum CPU {
    static let flags: Set<Substring> = {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let line = info.split(separator: "\n").first { $0.hasPrefix("flags") } ?? ""
        return Set(line.split(separator: " "))
    }()

    static func has(_ flag: Substring) -> Bool { flags.contains(flag) }
}
