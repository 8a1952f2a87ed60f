import ArgumentParser
import Foundation
import Pipeline
import Recognizer
import RecognizerDNNL

/// The options that choose and run the network, shared by every command.
struct ModelOptions: ParsableArguments {
    @Option(help: "Model weights (.safetensors), a VGG19 or a ResNet18 export (its metadata says which). Default: the bundled Models/vgg19-fer2013.safetensors (or $FER_STREAM_MODEL).")
    var model: String?

    @Option(help: "Network engine: auto (oneDNN), onednn, or reference (plain Swift, slow).")
    var engine: String = "auto"

    @Option(help: "oneDNN precision: auto (int8 where the CPU has VNNI and the model is calibrated, else f32), f32, bf16, int8.")
    var precision: String = "auto"

    @Option(help: "Threads for decoding and the network (0 = all cores).")
    var threads: Int = 0

    func validate() throws {
        guard EngineKind(rawValue: engine) != nil else { throw ValidationError("--engine must be auto, onednn or reference, not '\(engine)'") }
        guard DNNLEngine.Precision(rawValue: precision) != nil else { throw ValidationError("--precision must be auto, f32, bf16 or int8, not '\(precision)'") }
        guard threads >= 0 else { throw ValidationError("--threads must be ≥ 0, not \(threads)") }
    }

    var threadCount: Int { threads == 0 ? ProcessInfo.processInfo.activeProcessorCount : threads }
    /// The model to load: `--model`, else the bundled one.
    func modelPath() throws(PipelineError) -> String {
        if let model { return model }
        do { return try Resources.defaultModelPath() } catch { throw .resource(error) }
    }

    /// Loads the weights and builds the engine; failures are one line naming the model file.
    func loadNetwork() throws(PipelineError) -> (NetworkWeights, InferenceEngine) {
        let modelPath = try modelPath()
        do {
            let weights = try NetworkWeights.load(path: modelPath)
            let network = try Engines.make(weights: weights, kind: EngineKind(rawValue: engine)!,
                                           precision: DNNLEngine.Precision(rawValue: precision)!,
                                           threads: threadCount, modelPath: modelPath)
            return (weights, network)
        } catch {
            throw .recognizer(error)
        }
    }
}
