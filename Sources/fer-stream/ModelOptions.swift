import ArgumentParser
import FERStream
import Foundation

/// The options that choose and run the network, shared by every command.
struct ModelOptions: ParsableArguments {
    @Option(help: "Model weights (.safetensors), a VGG19 or a ResNet18 export (its metadata says which). Default: the bundled Models/vgg19-ferplus.safetensors, labels as FER+'s annotators give them (or $FER_STREAM_MODEL); Models/vgg19-fer2013.safetensors is the one trained on FER2013's own labels.")
    var model: String?

    @Option(help: "Network engine: auto (oneDNN), onednn, or reference (plain Swift, slow).")
    var engine: EngineKind = .auto

    @Option(help: "oneDNN precision: auto (int8 from AVX2 up when the model is calibrated, else f32), f32, bf16, int8.")
    var precision: Precision = .auto

    @Option(help: "Threads for decoding and the network (0 = all cores).")
    var threads: Int = 0

    func validate() throws {
        guard threads >= 0 else { throw ValidationError("--threads must be ≥ 0, not \(threads)") }
        // OpenMP and FFmpeg take an Int32, and thousands of threads only thrash.
        guard threads <= 1024 else { throw ValidationError("--threads must be at most 1024, not \(threads)") }
    }

    /// The library's options these stand for (test-time augmentation is each command's own).
    func recognizerOptions(tta: TestTimeAugmentation = .tenCrop) -> RecognizerOptions {
        var o = RecognizerOptions()
        o.model = model
        o.engine = engine
        o.precision = precision
        o.threads = threads
        o.tta = tta
        return o
    }

    var threadCount: Int { recognizerOptions().threadCount }

    /// The model to load: `--model`, else the bundled one.
    func modelPath() throws(PipelineError) -> String { try recognizerOptions().modelPath() }

    /// Loads the weights and builds the engine; failures are one line naming the model file.
    func loadNetwork() throws(PipelineError) -> (NetworkWeights, any InferenceEngine) { try recognizerOptions().loadNetwork() }
}
