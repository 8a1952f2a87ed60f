import FrameSource
import FaceDetection
import SafeTensors

/// Failures of a run, each one line a person can act on.
public enum PipelineError: Error, CustomStringConvertible, Sendable {
    case badOption(name: String, value: String, reason: String)
    case output(path: String, reason: String)
    /// The reader of our output went away (e.g. `| head`): not an error worth a message.
    case outputClosed
    case source(FrameSourceError)
    /// The Haar cascade (`--detector haar`) could not be loaded.
    case cascade(CascadeError)
    case recognizer(RecognizerError)
    /// The face detector's network (YuNet on oneDNN) failed to load or run: the same reader and
    /// engine as the recognizer's, but a failure named for the detector.
    case detector(RecognizerError)
    /// A bundled model or detector is nowhere it is looked for.
    case resource(ResourceNotFound)
    /// An error of a kind no stage declares: shown as it describes itself.
    case unexpected(String)

    /// Wraps an error from any stage; errors are typed per module, so this is exhaustive in practice.
    public init(_ error: any Error) {
        switch error {
        case let e as PipelineError: self = e
        case let e as FrameSourceError: self = .source(e)
        case let e as CascadeError: self = .cascade(e)
        case let e as RecognizerError: self = .recognizer(e)
        case let e as ResourceNotFound: self = .resource(e)
        default: self = .unexpected("\(error)")
        }
    }

    /// Wraps an error of the face detector: its network's errors are the detector's, not the recognizer's.
    public init(detecting error: any Error) {
        if let e = error as? RecognizerError { self = .detector(e) } else { self = PipelineError(error) }
    }

    public var description: String {
        switch self {
        case let .badOption(name, value, reason): "invalid value '\(value)' for \(name): \(reason)"
        case let .output(path, reason): "cannot write '\(path)': \(reason)"
        case .outputClosed: "output closed"
        case let .source(e): e.description
        case let .cascade(e): e.description
        case let .recognizer(e): e.description
        case let .detector(.backend(reason)): "face detector backend failed: \(reason)"
        case let .detector(e): e.description
        case let .resource(e): e.description
        case let .unexpected(text): text
        }
    }
}

/// A bundled file (the model, the face detector) that is nowhere it is looked for.
public struct ResourceNotFound: Error, CustomStringConvertible, Equatable, Sendable {
    public let file: String
    /// The environment variable that names it, e.g. `FER_STREAM_MODEL`.
    public let variable: String
    /// The directories looked in, in order.
    public let looked: [String]

    public init(file: String, variable: String, looked: [String]) {
        self.file = file; self.variable = variable; self.looked = looked
    }

    /// What is missing and where it was looked for, then `remedy` (by default: set the variable).
    /// A program with its own way to name the file puts that first, e.g. "give --model FILE or set …".
    public func description(remedy: String? = nil) -> String {
        "cannot find the bundled '\(file)': looked in \(looked.joined(separator: ", ")); \(remedy ?? "set \(variable)")"
    }

    public var description: String { description() }
}
