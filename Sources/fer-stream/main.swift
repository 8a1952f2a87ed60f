import ArgumentParser
import Foundation
import FERStream
#if canImport(Glibc)
import Glibc
#endif

// Exit codes: 0 success, 1 runtime failure (bad input, unreadable model, …), 2 usage error.
// ArgumentParser's own codes (64 for usage) are mapped to ours here, in one place.

/// Commands other than the default one, chosen by the first argument.
let subcommands: [String: ParsableCommand.Type] = ["bench": Bench.self, "eval": Eval.self, "image": Image.self, "resmooth": Resmooth.self]

func fail(_ message: String, code: Int32) -> Never {
    FileHandle.standardError.write(Data("fer-stream: \(message)\n".utf8))
    exit(code)
}

/// The library's message, with the option that helps added: where a bundled file is missing,
/// "…; give --model FILE or set FER_STREAM_MODEL"; for a model without int8 calibration, "--precision f32".
func message(for error: PipelineError) -> String {
    if case .recognizer(.notCalibrated) = error { return error.description + " (--precision f32)" }
    guard case .resource(let missing) = error else { return error.description }
    let option = [Resources.modelFileName: "--model", Resources.detectorFileName: "--detector-model"][missing.file]
    return missing.description(remedy: option.map { "give \($0) FILE or set \(missing.variable)" })
}

func runCommand(_ type: ParsableCommand.Type, _ arguments: [String]) -> Never {
    do {
        var command = try type.parseAsRoot(arguments)
        try command.run()
        exit(0)
    } catch let error as PipelineError {
        if case .outputClosed = error { exit(0) }
        fail(message(for: error), code: 1)
    } catch let error as RuntimeFailure {
        fail(error.message, code: 1)
    } catch {
        if type.exitCode(for: error) == .success { type.exit(withError: error) }  // --help, --version
        fail("\(type.message(for: error)) (see --help)", code: 2)
    }
}

// OpenMP's wait policy is read once, when libgomp loads (before main), so it can only be chosen
// by starting again with it in the environment. fer-stream runs two oneDNN stages at once
// (detection beside the network), each with an OpenMP team on every core; libgomp's default keeps
// idle threads spinning, which takes the cores from the other team and from any other program.
// Measured in real time on 2 cores (docs/performance.md, "Real time"): on an idle machine passive and the
// default do the same; with another job beside it, passive analysed 95–96% of a 3-face clip's
// frames against 80–88%. An environment that sets either variable is left as it is.
if getenv("OMP_WAIT_POLICY") == nil && getenv("GOMP_SPINCOUNT") == nil {
    setenv("OMP_WAIT_POLICY", "passive", 1)
    execv("/proc/self/exe", CommandLine.unsafeArgv)
    // execv returns only when it failed: go on with the default policy.
}

signal(SIGPIPE, SIG_IGN)  // a closed pipe shows up as EPIPE on write, handled as a quiet stop
let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.first == "help" {  // `fer-stream help [SUBCOMMAND]`, as --help suggests
    runCommand(arguments.dropFirst().first.flatMap { subcommands[$0] } ?? Stream.self, ["--help"])
}
if let first = arguments.first, let command = subcommands[first] {
    runCommand(command, Array(arguments.dropFirst()))
}
runCommand(Stream.self, arguments)
