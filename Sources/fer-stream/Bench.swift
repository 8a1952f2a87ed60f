import ArgumentParser
import Foundation
import FERStream

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


    @OptionGroup(title: "Model")
    var options: ModelOptions

    mutating func validate() throws {
        // batch × side² floats are allocated (a huge batch overflowed Int); inf seconds never ends.
        guard (1...1024).contains(batch) else { throw ValidationError("--batch must be 1…1024, not \(batch)") }
        guard seconds > 0, seconds <= 3600 else { throw ValidationError("--seconds must be > 0 and at most 3600, not \(seconds)") }
    }

    func run() throws {
        let (weights, network) = try options.loadNetwork()
        let threadCount = options.threadCount
        let side = weights.inputSize
        var generator = SystemRandomNumberGenerator()
        let input = (0..<(batch * side * side)).map { _ in Float.random(in: -2...2, using: &generator) }
        do {
            let cold = Date()
            _ = try network.logits(for: input, count: batch)
            let firstCall = Date().timeIntervalSince(cold)
            var calls = 0
            let start = Date()
            var times: [Double] = []
            while Date().timeIntervalSince(start) < seconds || calls < 3 {
                let t0 = Date()
                _ = try network.logits(for: input, count: batch)
                times.append(Date().timeIntervalSince(t0))
                calls += 1
            }
            let record = BenchRecord(network: weights.architecture.rawValue, engine: network.name, batch: batch, threads: threadCount,
                                     callSeconds: times, gflopPerCrop: Double(2 * weights.macsPerCrop) / 1e9,
                                     seconds: Date().timeIntervalSince(start), firstCallSeconds: firstCall)
            print(record.json)
        } catch {
            throw PipelineError.recognizer(error)
        }
    }
}
