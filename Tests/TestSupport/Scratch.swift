import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where tests write the files they make: one directory per test process, removed when the
/// process exits, so test runs leave nothing behind in the temporary directory.
public enum Scratch {
    public static let root: URL = {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("fer-stream-tests-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(8))")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(at: Scratch.root) }
        return url
    }()

    /// A fresh, empty directory under `root`.
    public static func directory(_ prefix: String) throws -> URL {
        let url = root.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A path for a new file under `root` (not created).
    public static func path(_ name: String) -> String {
        root.appendingPathComponent("\(UUID().uuidString)-\(name)").path
    }
}
