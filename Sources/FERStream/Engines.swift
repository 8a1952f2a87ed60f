import Recognizer
import SafeTensors
import RecognizerDNNL

/// Which implementation runs the network.
public enum EngineKind: String, CaseIterable, Sendable {
    /// oneDNN at the precision this CPU runs best.
    case auto
    case onednn
    /// The plain-Swift oracle: correct and slow.
    case reference
}

public enum Engines {
    /// Builds the engine for `weights`. int8 takes its activation ranges from the model's
    /// `int8_act_max` metadata (computed by training/export.py on Training rows); `auto` falls
    /// back to f32 for a model without them, an explicit int8 request fails.
    public static func make(weights: NetworkWeights, kind: EngineKind, precision: DNNLEngine.Precision,
                            threads: Int, modelPath: String) throws(RecognizerError) -> InferenceEngine {
        if kind == .reference { return ReferenceEngine(weights: weights, threads: threads) }
        var resolved = DNNLEngine.resolve(precision)
        let calibration = weights.metadata["int8_act_max"].map { $0.split(separator: ",").compactMap { Float($0) } }
        if resolved == .int8 && calibration == nil {
            guard precision == .auto else {
                throw .notCalibrated(path: modelPath)
            }
            resolved = .f32
        }
        let engine = try DNNLEngine(weights: weights, precision: resolved, threads: threads)
        if resolved == .int8, let calibration {
            do { try engine.setCalibration(calibration) } catch {
                throw .incompatibleModel(path: modelPath, reason: "its int8_act_max metadata is unusable: \(error)")
            }
        }
        return engine
    }
}
