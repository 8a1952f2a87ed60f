import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// Many inputs in one run: the list they come from (`InputList`), the part of it this process takes
// when a cluster runs many (`Shard`), and where each input's result goes (`OutputDirectory`).

/// Failures of reading an input list, choosing a shard or setting up a result directory, each one
/// line a person can act on. The messages name files, lines and environment variables, never the
/// command-line options that led here: the library has none.
public enum CorpusError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The list could not be read at all (`reason`: the OS's words).
    case inputList(path: String, reason: String)
    /// One line of the list is unusable (`line` counts from 1).
    case inputListLine(path: String, line: Int, reason: String)
    /// `I/N` that is not a shard.
    case shard(value: String, reason: String)
    /// No shard could be taken from the environment (a Slurm job array or a Kubernetes Indexed Job).
    case shardEnvironment(reason: String)
    /// The result directory cannot be written into.
    case outputDirectory(path: String, reason: String)
    /// Two inputs would write the same result file (`first == second`: one input given twice).
    case sameResult(first: String, second: String, path: String)
    /// One input's result file name is too long for the file system.
    case nameTooLong(input: String, name: String)
    /// A finished result could not be put in place, or its temporary file made.
    case commit(path: String, reason: String)

    public var description: String {
        switch self {
        case let .inputList(path, reason): "cannot read input list '\(path)': \(reason)"
        case let .inputListLine(path, line, reason): "input list '\(path)', line \(line): \(reason)"
        case let .shard(value, reason): "shard '\(value)': \(reason)"
        case let .shardEnvironment(reason): "cannot take the shard from the environment: \(reason)"
        case let .outputDirectory(path, reason): "cannot write results into '\(path)': \(reason)"
        case let .sameResult(first, second, path) where first == second:
            "input '\(first)' is given twice; each input is analysed once, into '\(path)'"
        case let .sameResult(first, second, path): "inputs '\(first)' and '\(second)' would both write '\(path)'"
        case let .nameTooLong(input, name): "input '\(input)': its result file name '\(name)' is longer than \(Int(NAME_MAX)) bytes"
        case let .commit(path, reason): "cannot finish '\(path)': \(reason)"
        }
    }
}

/// A list of inputs, one a line, as a file or on standard input.
public enum InputList {
    /// The inputs of the list at `path` (`-`: read `standardInput` to its end), in order. Trailing
    /// spaces, tabs and `\r` are trimmed (lists written on Windows work); leading ones are kept, as
    /// a file name may begin with a space. Blank lines and lines whose first non-blank character is
    /// `#` are skipped. The result may be empty: the caller knows whether other inputs were given.
    public static func read(path: String, standardInput: Int32 = STDIN_FILENO) throws(CorpusError) -> [String] {
        let bytes: [UInt8]
        if path == "-" {
            bytes = try readAll(standardInput, path)
        } else {
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw .inputList(path: path, reason: String(cString: strerror(errno))) }
            defer { close(fd) }
            bytes = try readAll(fd, path)
        }
        var inputs: [String] = []
        for (index, raw) in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            var line = raw[...]
            while let last = line.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") || last == UInt8(ascii: "\r") {
                line.removeLast()
            }
            guard let first = line.first(where: { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }),
                  first != UInt8(ascii: "#") else { continue }
            guard !line.contains(0) else {
                throw .inputListLine(path: path, line: index + 1, reason: "contains a NUL byte; is this a list of inputs, one a line?")
            }
            guard let text = String(validating: line, as: UTF8.self) else {
                throw .inputListLine(path: path, line: index + 1, reason: "is not UTF-8 text")
            }
            if text == "-" && path == "-" {
                throw .inputListLine(path: path, line: index + 1,
                                     reason: "'-' (standard input) cannot be an input: the list itself is read from standard input")
            }
            inputs.append(text)
        }
        return inputs
    }

    private static func readAll(_ fd: Int32, _ path: String) throws(CorpusError) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n == 0 { return bytes }
            if n < 0 {
                if errno == EINTR { continue }
                throw .inputList(path: path, reason: String(cString: strerror(errno)))  // EISDIR for a folder
            }
            bytes.append(contentsOf: chunk[..<n])
        }
    }
}

/// One part of an input list when many processes share it: the inputs whose position in the list
/// (from 0) is ≡ `index` (mod `count`). Every shard of the same list is disjoint from the others and
/// together they are the whole list, in whatever order the processes run.
public struct Shard: Sendable, Equatable, CustomStringConvertible {
    public let index: Int
    public let count: Int

    public init(index: Int, count: Int) throws(CorpusError) {
        guard count > 0, index >= 0, index < count else {
            throw .shard(value: "\(index)/\(count)", reason: "needs 0 ≤ I < N")
        }
        self.index = index
        self.count = count
    }

    /// `I/N`, or `auto`: from `environment` (see `fromEnvironment`).
    public static func parse(_ text: String, environment: [String: String]) throws(CorpusError) -> Shard {
        if text == "auto" { return try fromEnvironment(environment) }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) else {
            throw .shard(value: text, reason: "expected I/N, two whole numbers with 0 ≤ I < N (e.g. 0/4), or auto")
        }
        guard n > 0, i >= 0, i < n else { throw .shard(value: text, reason: "needs 0 ≤ I < N") }
        return try Shard(index: i, count: n)
    }

    /// A Slurm job array task (`SLURM_ARRAY_TASK_ID` and `SLURM_ARRAY_TASK_COUNT`, less
    /// `SLURM_ARRAY_TASK_MIN` and divided by `SLURM_ARRAY_TASK_STEP` where set, so `--array=1-8`
    /// and `--array=0-14:2` work too), or a Kubernetes Indexed Job's pod (`JOB_COMPLETION_INDEX`,
    /// and `JOB_COMPLETIONS`, which the Job's manifest must pass: Kubernetes sets no count).
    public static func fromEnvironment(_ environment: [String: String]) throws(CorpusError) -> Shard {
        if let id = environment["SLURM_ARRAY_TASK_ID"] { return try slurm(id, environment) }
        if let index = environment["JOB_COMPLETION_INDEX"] {
            guard let total = environment["JOB_COMPLETIONS"] else {
                throw .shardEnvironment(reason: "JOB_COMPLETION_INDEX is set but JOB_COMPLETIONS is not; "
                    + "the Indexed Job's manifest must pass its completions as JOB_COMPLETIONS")
            }
            let i = try number("JOB_COMPLETION_INDEX", index), n = try number("JOB_COMPLETIONS", total)
            guard i < n else {
                throw .shardEnvironment(reason: "JOB_COMPLETION_INDEX \(i) is not below JOB_COMPLETIONS \(n); "
                    + "JOB_COMPLETIONS must equal the Job's completions")
            }
            return try Shard(index: i, count: n)
        }
        let inSlurm = environment["SLURM_JOB_ID"] != nil
        throw .shardEnvironment(reason: (inSlurm ? "this Slurm job is not an array task (no SLURM_ARRAY_TASK_ID); " : "")
            + "neither a Slurm job array (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT) "
            + "nor a Kubernetes Indexed Job (JOB_COMPLETION_INDEX, JOB_COMPLETIONS) is in the environment")
    }

    private static func slurm(_ id: String, _ environment: [String: String]) throws(CorpusError) -> Shard {
        guard let total = environment["SLURM_ARRAY_TASK_COUNT"] else {
            throw .shardEnvironment(reason: "SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not")
        }
        let task = try number("SLURM_ARRAY_TASK_ID", id), n = try number("SLURM_ARRAY_TASK_COUNT", total)
        let first = try environment["SLURM_ARRAY_TASK_MIN"].map { v throws(CorpusError) in try number("SLURM_ARRAY_TASK_MIN", v) } ?? 0
        let step = try environment["SLURM_ARRAY_TASK_STEP"].map { v throws(CorpusError) in try number("SLURM_ARRAY_TASK_STEP", v) } ?? 1
        // A list of task ids with gaps (--array=1,5,9 or a resubmission of a few tasks) would
        // split the inputs differently from the full array: refuse it rather than miss inputs.
        guard step > 0, task >= first, (task - first) % step == 0, (task - first) / step < n else {
            throw .shardEnvironment(reason: "SLURM_ARRAY_TASK_ID \(task) is not one of \(n) evenly spaced tasks from "
                + "SLURM_ARRAY_TASK_MIN \(first) (step \(step)); submit the whole array as one range, e.g. --array=0-\(n - 1)")
        }
        return try Shard(index: (task - first) / step, count: n)
    }

    private static func number(_ name: String, _ value: String) throws(CorpusError) -> Int {
        guard let n = Int(value), n >= 0 else {
            throw .shardEnvironment(reason: "\(name) is '\(value)', not a whole number")
        }
        return n
    }

    /// This shard's part of `inputs`, in their order.
    public func select<T>(_ inputs: [T]) -> [T] {
        stride(from: index, to: inputs.count, by: count).map { inputs[$0] }
    }

    public var description: String { "\(index)/\(count)" }
}
