import Foundation
import Pipeline

/// Finds the files a run needs when the user names none: the bundled emotion model and face
/// detector.
public enum Resources {
    /// The default network: the VGG19 trained on FER2013's faces against FER+'s ten annotators'
    /// votes, whose labels people agree with more than with FER2013's own (Models/README.md).
    public static let modelFileName = "vgg19-ferplus.safetensors"
    /// The VGG19 trained on FER2013's own labels, still shipped (`--model`).
    public static let fer2013ModelFileName = "vgg19-fer2013.safetensors"
    public static let detectorFileName = "yunet.safetensors"
    /// The cheap network real time falls back to (`RecognizerOptions.FastModel`): a VGG of 7
    /// convolutions distilled from the default model, same classes, 7–9× its crops a second.
    public static let fastModelFileName = "student-ferplus.safetensors"

    /// A bundled file that is nowhere it is looked for.
    public typealias NotFound = ResourceNotFound

    /// `$FER_STREAM_MODEL`, else the bundled model (see `locate`).
    public static func defaultModelPath(environment: [String: String] = ProcessInfo.processInfo.environment) throws(NotFound) -> String {
        try locate(modelFileName, variable: "FER_STREAM_MODEL", environment: environment)
    }

    /// `$FER_STREAM_FAST_MODEL`, else the bundled student (see `locate`).
    public static func defaultFastModelPath(environment: [String: String] = ProcessInfo.processInfo.environment) throws(NotFound) -> String {
        try locate(fastModelFileName, variable: "FER_STREAM_FAST_MODEL", environment: environment)
    }

    /// `$FER_STREAM_DETECTOR`, else the bundled face detector (YuNet), found as the model is.
    public static func defaultDetectorPath(environment: [String: String] = ProcessInfo.processInfo.environment) throws(NotFound) -> String {
        try locate(detectorFileName, variable: "FER_STREAM_DETECTOR", environment: environment)
    }

    /// `$variable` when set (used as given, even if missing, so that its own error names it),
    /// else the first of `searchDirectories` that holds `file`.
    static func locate(_ file: String, variable: String, environment: [String: String],
                       directories: [String] = searchDirectories()) throws(NotFound) -> String {
        if let path = environment[variable], !path.isEmpty { return path }
        let fm = FileManager.default
        for dir in directories where fm.fileExists(atPath: dir + "/" + file) { return dir + "/" + file }
        throw NotFound(file: file, variable: variable, looked: directories)
    }

    /// Where bundled files are looked for, in order:
    /// 1. `share/fer-stream/` beside the executable's `bin/` (an installed copy, `scripts/install.sh`);
    /// 2. `Models/` of the source checkout the executable was built from;
    /// 3. `Models/` in a directory above the executable (a build folder inside a moved checkout);
    /// 4. `Models/` under the working directory.
    public static func searchDirectories(executable: String? = executablePath(),
                                         workingDirectory: String = FileManager.default.currentDirectoryPath) -> [String] {
        var dirs: [String] = []
        func add(_ url: URL) {
            let path = url.standardizedFileURL.path
            if !dirs.contains(path) { dirs.append(path) }
        }
        let exeDir = executable.map { URL(fileURLWithPath: $0).resolvingSymlinksInPath().deletingLastPathComponent() }
        if let exeDir { add(exeDir.appendingPathComponent("../share/fer-stream")) }
        // This file is Sources/Pipeline/Resources.swift of the checkout that was built.
        add(URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Models"))
        if var dir = exeDir {
            for _ in 0..<4 {
                dir = dir.deletingLastPathComponent()
                if FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
                    add(dir.appendingPathComponent("Models"))
                    break
                }
            }
        }
        add(URL(fileURLWithPath: workingDirectory).appendingPathComponent("Models"))
        return dirs
    }

    /// The running executable, whatever `argv[0]` says (a bare name found on `PATH`, a symlink).
    public static func executablePath() -> String? {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        return Bundle.main.executablePath
    }
}
