/// Everything that can go wrong loading or running the network, as a person would want to read it.
public enum RecognizerError: Error, CustomStringConvertible, Equatable {
    case cannotRead(path: String, reason: String)
    case malformed(path: String, reason: String)
    case missingTensor(path: String, name: String)
    case badShape(path: String, name: String, expected: [Int], found: [Int])
    case unsupportedDType(path: String, name: String, dtype: String)
    case incompatibleModel(path: String, reason: String)
    /// int8 was asked for, but the model carries no activation ranges to quantise with.
    case notCalibrated(path: String)
    case badInput(reason: String)
    case backend(reason: String)

    public var description: String {
        switch self {
        case let .cannotRead(path, reason):
            "cannot read model '\(path)': \(reason)"
        case let .malformed(path, reason):
            "model '\(path)' is not a valid safetensors file: \(reason)"
        case let .missingTensor(path, name):
            "model '\(path)' lacks tensor '\(name)' (is it a fer-stream VGG19 export?)"
        case let .badShape(path, name, expected, found):
            "model '\(path)': tensor '\(name)' has shape \(found), expected \(expected)"
        case let .unsupportedDType(path, name, dtype):
            "model '\(path)': tensor '\(name)' has dtype \(dtype); only F32, F16 and BF16 are supported"
        case let .incompatibleModel(path, reason):
            "model '\(path)' is not usable: \(reason)"
        case let .notCalibrated(path):
            "model '\(path)' is not usable at int8: it has no int8 calibration (metadata int8_act_max); run it at f32 or re-export it with training/export.py"
        case let .badInput(reason):
            "recognizer input rejected: \(reason)"
        case let .backend(reason):
            "recognizer backend failed: \(reason)"
        }
    }
}
