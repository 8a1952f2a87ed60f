import Foundation
import XCTest
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// deploy/slurm/fer-stream-array.sbatch on a real Slurm (a private one-node cluster, `LocalSlurm`):
/// a corpus split over a job array gives what one process gives, and a second submission resumes.
/// Slurm that does not start is a failure, not a skip (CI installs slurm-wlm and munge).
final class SlurmTests: XCTestCase {
    private static let arrayScript = CLI.root.appendingPathComponent("deploy/slurm/fer-stream-array.sbatch").path

    private func startSlurm(file: StaticString = #filePath, line: UInt = #line) -> LocalSlurm? {
        do {
            return try LocalSlurm()
        } catch {
            XCTFail("\(error)", file: file, line: line)
            return nil
        }
    }

    /// The cluster itself, and what `--shard auto` reads: each array task runs once with its index,
    /// the count and the first index (and the step) of the array, and a failing task makes
    /// `sbatch --wait` fail, so the status the corpus test checks means something.
    func testAJobArrayRunsEachTaskWithItsIndexAndReportsAFailedOne() throws {
        guard let slurm = startSlurm() else { return }
        defer { slurm.stop() }
        let dir = try CLI.tempDirectory()
        let script = dir.appendingPathComponent("task.sh").path
        try """
            #!/bin/bash
            echo "$SLURM_ARRAY_TASK_ID $SLURM_ARRAY_TASK_COUNT ${SLURM_ARRAY_TASK_MIN:-unset} ${SLURM_ARRAY_TASK_STEP:-unset}" > "$OUT/$SLURM_ARRAY_TASK_ID"
            [ "$SLURM_ARRAY_TASK_ID" != "$FAIL_TASK" ] || exit 3

            """.write(toFile: script, atomically: true, encoding: .utf8)

        let plain = dir.appendingPathComponent("plain").path, stepped = dir.appendingPathComponent("stepped").path
        for d in [plain, stepped] { try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: false) }
        let ok = try slurm.sbatch(["--wait", "--array=0-3", "--chdir=\(dir.path)", "--output=\(dir.path)/plain-%a.log", script],
                                  environment: ["OUT": plain, "FAIL_TASK": "none"])
        XCTAssertEqual(ok.status, 0, "sbatch: \(ok.stdout)\(ok.stderr)\n\(slurm.logs())")
        XCTAssertEqual(try written(plain), ["0": "0 4 0 1", "1": "1 4 0 1", "2": "2 4 0 1", "3": "3 4 0 1"])

        let failed = try slurm.sbatch(["--wait", "--array=4-10:3", "--chdir=\(dir.path)", "--output=\(dir.path)/stepped-%a.log", script],
                                      environment: ["OUT": stepped, "FAIL_TASK": "7"])
        XCTAssertEqual(failed.status, 3, "sbatch --wait returns the highest task status: \(failed.stdout)\(failed.stderr)")
        XCTAssertEqual(try written(stepped), ["4": "4 3 4 3", "7": "7 3 4 3", "10": "10 3 4 3"])
    }

    /// Three array tasks over five clips write the same files, byte for byte, as one process over
    /// the same list; submitted again, the array finds every result done and leaves them alone.
    /// Needs `--shard`, `--inputs-from` and `--output-dir` in the fer-stream binary.
    func testAnArrayOverACorpusEqualsOneProcessAndASecondSubmissionSkipsWhatIsDone() throws {
        guard FileManager.default.fileExists(atPath: CLI.model) else { throw XCTSkip("no model at \(CLI.model)") }
        let dir = try CLI.tempDirectory()
        let clips = dir.appendingPathComponent("clips")
        try FileManager.default.createDirectory(at: clips, withIntermediateDirectories: false)
        // Different lengths: a result written for the wrong input would not match.
        let inputs = try (0..<5).map { try CLI.faceClip(in: clips, name: "face\($0).mp4", frames: 6 + 2 * $0, size: 240) }
        let list = dir.appendingPathComponent("inputs.txt").path
        try ("# five clips\n" + inputs.joined(separator: "\n") + "\n\n").write(toFile: list, atomically: true, encoding: .utf8)
        let options = ["--tta", "center"]  // the same settings for both runs; the centre crop only keeps the test short
        let expected = Set(inputs.map { URL(fileURLWithPath: $0).lastPathComponent + ".ndjson" })

        guard let slurm = startSlurm() else { return }
        defer { slurm.stop() }
        let arrayOut = dir.appendingPathComponent("array").path  // missing: the tasks make it
        let jobEnvironment = ["FER_STREAM": CLI.binary, "FER_INPUTS": list, "FER_OUTPUT": arrayOut]
        let first = try slurm.sbatch(["--wait", "--array=0-2", "--chdir=\(dir.path)", "--output=\(dir.path)/first-%a.log",
                                      Self.arrayScript] + options, environment: jobEnvironment, timeout: 600)
        let firstLogs = try logs(dir, "first", tasks: 3)
        guard first.status == 0 else {
            return XCTFail("sbatch: status \(first.status) \(first.stdout)\(first.stderr)\ntask logs:\n\(firstLogs.joined(separator: "\n"))\n\(slurm.logs())")
        }
        for (task, log) in firstLogs.enumerated() {
            XCTAssertTrue(log.contains("fer-stream-array: task \(task) of 3"), "task \(task) ran: \(log)")
        }

        let oneOut = dir.appendingPathComponent("one").path
        let one = try CLI.ferStream(options + ["--output-dir", oneOut, "--inputs-from", list])
        guard one.status == 0 else { return XCTFail("one process: status \(one.status) \(one.stderr)") }

        // Only final names: no temporary file is left behind by either.
        let arrayFiles = try FileManager.default.contentsOfDirectory(atPath: arrayOut)
        XCTAssertEqual(Set(arrayFiles), expected)
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: oneOut)), expected)
        for name in expected.sorted() {
            let a = try Data(contentsOf: URL(fileURLWithPath: arrayOut + "/" + name))
            let b = try Data(contentsOf: URL(fileURLWithPath: oneOut + "/" + name))
            XCTAssertFalse(a.isEmpty, "\(name) has lines")
            XCTAssertTrue(a == b, "\(name): the array's result (\(a.count) bytes) differs from one process's (\(b.count) bytes)")
        }

        let before = try expected.sorted().map { try identity(arrayOut + "/" + $0) }
        let second = try slurm.sbatch(["--wait", "--array=0-2", "--chdir=\(dir.path)", "--output=\(dir.path)/second-%a.log",
                                       Self.arrayScript] + options, environment: jobEnvironment, timeout: 600)
        let secondLogs = try logs(dir, "second", tasks: 3).joined(separator: "\n")
        XCTAssertEqual(second.status, 0, "sbatch: \(second.stdout)\(second.stderr)\ntask logs:\n\(secondLogs)")
        XCTAssertEqual(try expected.sorted().map { try identity(arrayOut + "/" + $0) }, before, "done results are not written again")
        XCTAssertEqual(Set(try FileManager.default.contentsOfDirectory(atPath: arrayOut)), expected)
        let lines = secondLogs.split(separator: "\n").map { $0.lowercased() }
        for input in inputs {
            let short = URL(fileURLWithPath: input).lastPathComponent.lowercased()
            XCTAssertTrue(lines.contains { $0.contains("skip") && $0.contains(short) }, "a task says it skipped \(input):\n\(secondLogs)")
        }
    }

    /// Each file in `dir`, its name → its content without the final newline.
    private func written(_ dir: String) throws -> [String: String] {
        var files: [String: String] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) {
            files[name] = try String(contentsOfFile: dir + "/" + name, encoding: .utf8).trimmingCharacters(in: .newlines)
        }
        return files
    }

    /// The task logs `<prefix>-<task>.log` in `dir`; a missing one reads as such.
    private func logs(_ dir: URL, _ prefix: String, tasks: Int) throws -> [String] {
        (0..<tasks).map { task in
            let path = dir.appendingPathComponent("\(prefix)-\(task).log").path
            return (try? String(contentsOfFile: path, encoding: .utf8)) ?? "(no log \(path): task \(task) did not run)"
        }
    }

    /// A file's inode and modification time: both stay the same unless the file is written or replaced.
    private struct FileIdentity: Equatable {
        let inode: UInt
        let seconds: Int
        let nanoseconds: Int
    }

    private func identity(_ path: String) throws -> FileIdentity {
        var info = stat()
        guard stat(path, &info) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        return FileIdentity(inode: UInt(info.st_ino), seconds: info.st_mtim.tv_sec, nanoseconds: info.st_mtim.tv_nsec)
    }
}
