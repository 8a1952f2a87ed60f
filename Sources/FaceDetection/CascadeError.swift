/// Why a cascade could not be loaded. `description` is one line naming the file and the cause.
public enum CascadeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No file at `path`.
    case cascadeNotFound(path: String)
    /// The file exists but could not be read (permissions, a directory, …).
    case cascadeUnreadable(path: String, reason: String)
    /// Not well-formed XML, or XML without the structure of an OpenCV cascade.
    case malformedCascade(path: String, reason: String)
    /// A well-formed cascade of a kind this module does not evaluate (LBP, HOG, the old
    /// `opencv-haar-classifier` layout, …).
    case unsupportedCascade(path: String, reason: String)

    public var description: String {
        oneLine(text)
    }

    private func oneLine(_ s: String) -> String {
        String(s.map { $0.isNewline || $0 == "\t" ? " " : $0 })
    }

    private var text: String {
        switch self {
        case .cascadeNotFound(let path):
            return "face cascade \(path): file not found"
        case .cascadeUnreadable(let path, let reason):
            return "face cascade \(path): cannot read file (\(reason))"
        case .malformedCascade(let path, let reason):
            return "face cascade \(path): malformed cascade XML: \(reason)"
        case .unsupportedCascade(let path, let reason):
            return "face cascade \(path): unsupported cascade: \(reason)"
        }
    }
}
