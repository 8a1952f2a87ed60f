import Foundation

/// Finds the files a run needs when the user names none.
public enum Resources {
    public static let modelFileName = "vgg19-fer2013.safetensors"
    public static let detectorFileName = "yunet.safetensors"

    /// The bundled model: `$FER_STREAM_MODEL`, else `Models/` in the source tree the executable
    /// was built in (walking up from it, e.g. from .build/release), else an installed
    /// `share/fer-stream/` beside the executable's `bin/`, else `Models/` under the working directory.
    public static func defaultModelPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        bundled(modelFileName, override: environment["FER_STREAM_MODEL"])
    }

    /// The bundled face detector (YuNet), found as the model is (`$FER_STREAM_DETECTOR` first).
    public static func defaultDetectorPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        bundled(detectorFileName, override: environment["FER_STREAM_DETECTOR"])
    }

    private static func bundled(_ modelFileName: String, override: String?) -> String {
        if let path = override, !path.isEmpty { return path }
        let fm = FileManager.default
        var candidates: [String] = []
        let exe = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        for _ in 0..<6 {
            candidates.append(dir.appendingPathComponent("Models/\(modelFileName)").path)
            dir = dir.deletingLastPathComponent()
        }
        candidates.append(exe.deletingLastPathComponent().appendingPathComponent("../share/fer-stream/\(modelFileName)").standardized.path)
        candidates.append(fm.currentDirectoryPath + "/Models/\(modelFileName)")
        return candidates.first(where: { fm.fileExists(atPath: $0) }) ?? "Models/\(modelFileName)"
    }
}
