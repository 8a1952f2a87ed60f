import Foundation
import Pipeline
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Checks, before any work, that output paths can be written, without creating, opening or
/// truncating anything: a bad input must still leave an existing output file alone (outputs are
/// opened only once the input has opened), yet an output that cannot be written should fail at
/// once, with the OS's reason, and not after the whole input has been analysed.
///
/// Every output a command takes goes through here (`-o`, `--annotate`, `--timeline`, `--plot`, …;
/// an output folder through `checkDirectory`).
public enum OutputPath {
    /// Each path that is not nil, in order, as `check(_:)` does.
    public static func checkAll(_ paths: [String?]) throws(PipelineError) {
        for case let path? in paths { try check(path) }
    }

    /// Throws `.output(path:reason:)` with the OS's words (`No such file or directory`, `Not a
    /// directory`, `Is a directory`, `Permission denied`, `Read-only file system`, …) when `path`
    /// could not be created or overwritten as a file.
    public static func check(_ path: String) throws(PipelineError) {
        guard !path.isEmpty else { throw failure(path, ENOENT) }
        var info = stat()
        if stat(path, &info) == 0 {
            if info.st_mode & S_IFMT == S_IFDIR { throw failure(path, EISDIR) }
            guard faccessat(AT_FDCWD, path, W_OK, AT_EACCESS) == 0 else { throw failure(path, errno) }
            return
        }
        // ENOTDIR (a file on the way), EACCES (a folder that cannot be searched), ENAMETOOLONG, ELOOP.
        guard errno == ENOENT else { throw failure(path, errno) }
        try checkFolderToCreateIn(path)
    }

    /// The same for a folder that a command writes files into: it must be a writable folder, or
    /// be missing from a writable folder (the command creates it).
    public static func checkDirectory(_ path: String) throws(PipelineError) {
        guard !path.isEmpty else { throw failure(path, ENOENT) }
        var info = stat()
        if stat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else { throw failure(path, ENOTDIR) }
            guard faccessat(AT_FDCWD, path, W_OK | X_OK, AT_EACCESS) == 0 else { throw failure(path, errno) }
            return
        }
        guard errno == ENOENT else { throw failure(path, errno) }
        try checkFolderToCreateIn(path)
    }

    /// `path` is missing: the folder it would be created in must be a folder we may write in.
    private static func checkFolderToCreateIn(_ path: String) throws(PipelineError) {
        var trimmed = Substring(path)
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }  // "out/" names out
        let folder: String
        if let slash = trimmed.lastIndex(of: "/") {
            folder = slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
        } else {
            folder = "."
        }
        var info = stat()
        guard stat(folder, &info) == 0 else { throw failure(path, errno) }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw failure(path, ENOTDIR) }
        // Effective ids (AT_EACCESS), as open(2) itself checks; X_OK: the folder must be searchable too.
        guard faccessat(AT_FDCWD, folder, W_OK | X_OK, AT_EACCESS) == 0 else { throw failure(path, errno) }
    }

    private static func failure(_ path: String, _ code: Int32) -> PipelineError {
        .output(path: path, reason: String(cString: strerror(code)))
    }
}
