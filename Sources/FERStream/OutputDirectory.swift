import Foundation
import Output
import Pipeline
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A directory holding one result per input: `DIR/<short name>.<extension>` for each extension
/// (`ndjson` or `csv`, and `mp4` for an annotated copy), where the short name is `SourceName.short`.
///
/// A result is written under a hidden temporary name (`Pending`) and renamed into place once the
/// input is complete, so a result under its final name is always whole; `isDone` then lets a
/// rerun skip it, which is how a killed or resubmitted run resumes.
public struct OutputDirectory: Sendable {
    public let path: String
    public let extensions: [String]

    /// Checks, without creating anything, that `path` is a writable directory (or can be made in
    /// a writable one), and that no two of `inputs` would write the same file. Give every input of
    /// the run, not only one shard's: each shard then refuses the same clash, at once.
    public init(_ path: String, extensions: [String], inputs: [String]) throws(CorpusError) {
        do {
            try OutputPath.checkDirectory(path)
        } catch {
            if case let .output(_, reason) = error { throw .outputDirectory(path: path, reason: reason) }
            throw .outputDirectory(path: path, reason: error.description)
        }
        self.path = path
        self.extensions = extensions
        var owner: [String: String] = [:]  // file name → the input that writes it
        for input in inputs {
            for name in extensions.map({ Self.fileName(input, $0) }) {
                if let other = owner[name] { throw .sameResult(first: other, second: input, path: join(name)) }
                owner[name] = input
                // The temporary name is the longer one; one that cannot be made fails here, not after the work.
                let temporary = Self.temporaryName(name)
                guard temporary.utf8.count <= Int(NAME_MAX) else { throw .nameTooLong(input: input, name: temporary) }
            }
        }
    }

    /// Where `input`'s result with `fileExtension` ends up.
    public func resultPath(for input: String, extension fileExtension: String) -> String {
        join(Self.fileName(input, fileExtension))
    }

    /// True when every result of `input` (one per extension) is in place: a rerun skips it.
    public func isDone(_ input: String) -> Bool {
        !extensions.isEmpty && extensions.allSatisfy { ext in
            var info = stat()
            return stat(resultPath(for: input, extension: ext), &info) == 0 && info.st_mode & S_IFMT == S_IFREG
        }
    }

    /// A temporary file in the directory for `input`'s result with `fileExtension`, which the
    /// caller writes at `pending.path` (nothing is created there yet) and then commits. The
    /// directory is created here if it is missing.
    public func pending(for input: String, extension fileExtension: String) throws(CorpusError) -> Pending {
        if mkdir(path, 0o777) != 0 && errno != EEXIST {
            throw .outputDirectory(path: path, reason: String(cString: strerror(errno)))
        }
        let name = Self.fileName(input, fileExtension)
        return Pending(path: join(Self.temporaryName(name)), finalPath: join(name))
    }

    private func join(_ name: String) -> String {
        path.hasSuffix("/") ? path + name : path + "/" + name
    }

    static func fileName(_ input: String, _ fileExtension: String) -> String {
        SourceName.short(for: input) + "." + fileExtension
    }

    /// `.<name without extension>.<host>-<pid>.partial.<extension>`: hidden, unique per process
    /// even when several machines share the directory, and still ending in the extension, which
    /// FFmpeg picks the container by.
    static func temporaryName(_ name: String) -> String {
        let dot = name.lastIndex(of: ".") ?? name.endIndex
        let stem = String(name[..<dot]), suffix = String(name[dot...])
        return "." + stem + "." + hostAndProcess + ".partial" + suffix
    }

    private static let hostAndProcess: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        let named = gethostname(&buffer, buffer.count - 1) == 0
        let host = named ? String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "host"
        return SourceName.short(for: host) + "-\(getpid())"
    }()
}

/// One result being written: its temporary path, renamed to `finalPath` by `commit()`. Dropped
/// without a commit (the input failed, or the run is stopping), the temporary file is removed.
public final class Pending: Sendable {
    /// Where to write the result.
    public let path: String
    /// Where it appears once committed.
    public let finalPath: String
    /// True once committed or abandoned: the file is no longer ours to remove.
    private let settled = Mutex(false)

    init(path: String, finalPath: String) {
        self.path = path
        self.finalPath = finalPath
    }

    /// Puts the finished result in place with rename(2), which replaces `finalPath` atomically:
    /// the name holds the old file or the whole new one, never part of one. The data is flushed to
    /// disk first, so that after a crash of the machine the name does not hold an empty file.
    /// Call it once the writer has closed the file.
    public func commit() throws(CorpusError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .commit(path: finalPath, reason: "its temporary file '\(path)': \(String(cString: strerror(errno)))") }
        _ = fsync(fd)  // fails only where fsync means nothing (e.g. some FUSE file systems)
        close(fd)
        guard rename(path, finalPath) == 0 else {
            let reason = String(cString: strerror(errno))
            abandon()
            throw .commit(path: finalPath, reason: reason)
        }
        settled.withLock { $0 = true }
    }

    /// Removes the temporary file (if the writer made it) and forgets it.
    public func abandon() {
        let first = settled.withLock { done in
            defer { done = true }
            return !done
        }
        if first { unlink(path) }
    }

    deinit { abandon() }
}

extension OutputDirectory {
    /// An annotated copy of each input in the directory: its container (`mp4`, `mkv`, …) and how
    /// to make the sink that writes it at a path (e.g. a `VideoAnnotator`, which this library
    /// leaves to the caller).
    public struct AnnotatedCopy: Sendable {
        public let fileExtension: String
        public let make: @Sendable (EmotionStream, _ path: String) throws(PipelineError) -> any FrameSink

        public init(fileExtension: String, make: @escaping @Sendable (EmotionStream, _ path: String) throws(PipelineError) -> any FrameSink) {
            self.fileExtension = fileExtension
            self.make = make
        }
    }

    /// What a `StreamGroup` does with `source` in a resumable corpus run: skip it when its results
    /// are in place (`skipped` is told the result's path); else write its `format` result (and an
    /// `annotated` copy) under temporary names beside the `alongside` sinks (e.g. publishers), and
    /// move them into place when the input completes; a failed or interrupted input leaves none
    /// under a final name. `extensions` should be `format`'s and the copy's.
    public func plan(for source: SourceName, format: OutputFormat, labels: LabelSet, annotated: AnnotatedCopy? = nil,
                     alongside: @escaping @Sendable (EmotionStream) -> [any FrameSink] = { _ in [] },
                     skipped: @escaping @Sendable (_ result: String) -> Void = { _ in }) -> StreamGroup.Plan {
        let input = source.input
        if isDone(input) {
            skipped(resultPath(for: input, extension: format.rawValue))
            return .skip
        }
        let pending = Mutex<[Pending]>([])
        return .run(sinks: { stream throws(PipelineError) in
            let result = try self.pendingResult(for: input, extension: format.rawValue)
            pending.withLock { $0.append(result) }
            var sinks: [any FrameSink] = [WriterSink(format.writer(into: try LineSink(path: result.path), labels: labels, tagged: false))]
            sinks += alongside(stream)
            if let annotated {
                let copy = try self.pendingResult(for: input, extension: annotated.fileExtension)
                pending.withLock { $0.append(copy) }
                sinks.append(try annotated.make(stream, copy.path))
            }
            return sinks
        }, done: { _, failure, interrupted throws(PipelineError) in
            // A complete input's files move into place; an incomplete one leaves none under a final name.
            for p in pending.withLock({ $0 }) {
                if failure != nil || interrupted { p.abandon(); continue }
                do throws(CorpusError) { try p.commit() } catch { throw .output(path: p.finalPath, reason: error.description) }
            }
        })
    }

    /// `pending(for:extension:)` with its failure as the run's: the result's path and why.
    private func pendingResult(for input: String, extension fileExtension: String) throws(PipelineError) -> Pending {
        do { return try pending(for: input, extension: fileExtension) } catch {
            throw .output(path: resultPath(for: input, extension: fileExtension), reason: error.description)
        }
    }
}
