import ArgumentParser
import Foundation
import Pipeline
import Recognizer
import RecognizerDNNL

/// `fer-stream bench`: a quick recognizer speed figure on this machine, as JSON.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure the recognizer's crops per second on this machine (JSON on stdout).",
        discussion: "Runs the network on generated 44×44 crops for a few seconds after a warm-up. Example: fer-stream bench --batch 10"
    )

    @Option(help: "Crops per network call.")
    var batch: Int = 10

    @Option(help: "Seconds to measure for (after one warm-up call).")
    var seconds: Double = 3

    @Option(help: "Model weights (.safetensors). Default: the bundled model.")
    var model: String?

    @Option(help: "Network engine: auto (oneDNN), onednn, or reference.")
    var engine: String = "auto"

    @Option(help: "oneDNN precision: auto, f32, bf16, int8.")
    var precision: String = "auto"

    @Option(help: "Network threads (0 = all cores).")
    var threads: Int = 0

    mutating func validate() throws {
        guard batch >= 1 else { throw ValidationError("--batch must be ≥ 1, not \(batch)") }
        guard seconds > 0 else { throw ValidationError("--seconds must be > 0, not \(seconds)") }
        guard EngineKind(rawValue: engine) != nil else { throw ValidationError("--engine must be auto, onednn or reference, not '\(engine)'") }
        guard DNNLEngine.Precision(rawValue: precision) != nil else { throw ValidationError("--precision must be auto, f32, bf16 or int8, not '\(precision)'") }
        guard threads >= 0 else { throw ValidationError("--threads must be ≥ 0, not \(threads)") }
    }

    func run() throws {
        let path = model ?? Resources.defaultModelPath()
        let weights: VGG19Weights
        do { weights = try VGG19Weights.load(path: path) } catch { throw PipelineError.recognizer(error) }
        let threadCount = threads == 0 ? ProcessInfo.processInfo.activeProcessorCount : threads
        let network: InferenceEngine
        do {
            network = try Engines.make(weights: weights, kind: EngineKind(rawValue: engine)!, precision: DNNLEngine.Precision(rawValue: precision)!,
                                       threads: threadCount, modelPath: path)
        } catch { throw PipelineError.recognizer(error) }
        let side = weights.inputSize
        var generator = SystemRandomNumberGenerator()
        let input = (0..<(batch * side * side)).map { _ in Float.random(in: -2...2, using: &generator) }
        do {
            _ = try network.logits(for: input, count: batch)
            var calls = 0
            let start = Date()
            var times: [Double] = []
            while Date().timeIntervalSince(start) < seconds || calls < 3 {
                let t0 = Date()
                _ = try network.logits(for: input, count: batch)
                times.append(Date().timeIntervalSince(t0))
                calls += 1
            }
            times.sort()
            let median = times[times.count / 2]
            let total = Date().timeIntervalSince(start)
            let gflop = Double(2 * weights.macsPerCrop) / 1e9
            let cropsPerSecond = Double(batch) / median
            print(String(format: #"{"engine":"%@","batch":%d,"threads":%d,"calls":%d,"crops_per_s":%.1f,"ms_per_call_median":%.2f,"gflop_per_crop":%.3f,"gflop_per_s":%.1f,"seconds":%.2f}"#,
                         network.name, batch, threadCount, calls, cropsPerSecond, median * 1000, gflop, gflop * cropsPerSecond, total))
        } catch {
            throw PipelineError.recognizer(error)
        }
    }
}
