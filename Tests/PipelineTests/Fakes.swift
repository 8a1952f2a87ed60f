import FERCore
import FaceCrop
import FaceDetection
import FaceTracking
import SafeTensors
import FrameSource
import Foundation
import Pipeline
import Output
import Recognizer
import Synchronization
import XCTest

// Fakes around the pipeline's core: a source of generated frames, an engine that reads each
// crop's brightness as its class, and a writer that keeps what it is given.

/// Frames whose grey level encodes their index: level ((index + offset) % 7) · 30, read back by `FakeEngine`.
final class FakeSource: FrameProducer {
    let isLive: Bool
    let count: Int
    let failAt: Int?
    let delay: useconds_t
    /// Shifts the classes the frames encode, so that two sources' frames differ.
    let offset: Int
    private let state = Mutex((next: 0, cancelled: false))

    init(count: Int, isLive: Bool = false, failAt: Int? = nil, delay: useconds_t = 200, offset: Int = 0) {
        self.count = count; self.isLive = isLive; self.failAt = failAt; self.delay = delay; self.offset = offset
    }

    func nextFrame() throws -> Frame? {
        usleep(delay)
        let i: Int? = state.withLock { s in
            guard !s.cancelled, s.next < count else { return nil }
            defer { s.next += 1 }
            return s.next
        }
        guard let i else { return nil }
        if i == failAt { throw FrameSourceError.readFailed(input: "fake", reason: "failed at frame \(i)") }
        let level = UInt8((i + offset) % 7 * 30)
        return Frame(index: i, time: Double(i) / 25, image: GrayImage(width: 64, height: 64, pixels: [UInt8](repeating: level, count: 64 * 64)))
    }

    func cancel() { state.withLock { $0.cancelled = true } }
}

/// Logits that put each crop in the class its mean grey level encodes; records every call's size.
final class FakeEngine: InferenceEngine {
    let name = "fake"
    let side: Int, mean: Float, std: Float
    let delay: useconds_t
    /// Extra time per crop, as a real network takes.
    let perCrop: useconds_t
    let failOnCall: Int?
    private let sizes = Mutex<[Int]>([])
    var callSizes: [Int] { sizes.withLock { $0 } }

    init(weights: NetworkWeights, delay: useconds_t = 1000, perCrop: useconds_t = 0, failOnCall: Int? = nil) {
        side = weights.inputSize; mean = weights.normMean; std = weights.normStd
        self.delay = delay; self.perCrop = perCrop; self.failOnCall = failOnCall
    }

    func logits(for input: [Float], count: Int) throws(RecognizerError) -> [Float] {
        let call = sizes.withLock { $0.append(count); return $0.count }
        if call == failOnCall { throw .backend(reason: "fake failure on call \(call)") }
        usleep(delay + perCrop * useconds_t(count))
        let n = side * side
        return (0..<count).flatMap { c -> [Float] in
            let level = input[c * n..<(c + 1) * n].reduce(0, +) / Float(n) * std + mean
            let cls = Int((level * 255 / 30).rounded()) % 7
            return (0..<7).map { $0 == cls ? 10 : 0 }
        }
    }
}

final class CollectingWriter: ResultWriter {
    private let kept = Mutex<[FrameResult]>([])
    let failAt: Int?
    let onWrite: (@Sendable (Int) -> Void)?
    var results: [FrameResult] { kept.withLock { $0 } }

    init(failAt: Int? = nil, onWrite: (@Sendable (Int) -> Void)? = nil) { self.failAt = failAt; self.onWrite = onWrite }

    func write(_ result: FrameResult) throws(PipelineError) {
        if result.frame == failAt { throw .output(path: "fake", reason: "failed at frame \(result.frame)") }
        let n = kept.withLock { $0.append(result); return $0.count }
        onWrite?(n)
    }
}

/// A one-convolution network: only its metadata (input size, normalisation, classes) matters here.
func tinyWeights() throws -> NetworkWeights {
    var tensors: [(String, [Int], [Float])] = [
        ("conv0.weight", [4, 1, 3, 3], [Float](repeating: 0.1, count: 36)),
        ("conv0.bias", [4], [0, 0, 0, 0]),
        ("bn0.weight", [4], [1, 1, 1, 1]), ("bn0.bias", [4], [0, 0, 0, 0]),
        ("bn0.running_mean", [4], [0, 0, 0, 0]), ("bn0.running_var", [4], [1, 1, 1, 1]),
    ]
    tensors += [("classifier.weight", [7, 4 * 22 * 22], [Float](repeating: 0.01, count: 7 * 4 * 22 * 22)),
                ("classifier.bias", [7], [Float](repeating: 0, count: 7))]
    var header: [String: Any] = ["__metadata__": [
        "format": "fer-stream-vgg19", "channels": "4,M", "input_size": "44", "crop_from": "48", "norm_mean": "0.5",
        "norm_std": "0.25", "bn_eps": "1e-05", "classes": Emotion.names.joined(separator: ","),
    ]]
    var offset = 0
    for t in tensors {
        header[t.0] = ["dtype": "F32", "shape": t.1, "data_offsets": [offset, offset + 4 * t.2.count]]
        offset += 4 * t.2.count
    }
    var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
    while json.count % 8 != 0 { json.append(0x20) }
    var data = Data()
    withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
    data.append(json)
    for t in tensors { t.2.withUnsafeBytes { data.append(contentsOf: $0) } }
    return try NetworkWeights(file: SafeTensorsFile(data: data), path: "tiny")
}

