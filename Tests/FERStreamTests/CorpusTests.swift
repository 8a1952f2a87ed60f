import Foundation
@testable import FERStream
import TestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class InputListTests: XCTestCase {
    private func list(_ text: String) throws -> String {
        let path = Scratch.path("inputs.txt")
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testOneInputALineWithCommentsBlanksAndWindowsEndings() throws {
        let path = try list("# corpus\r\na.mp4\r\n\n   \n  # indented comment\nrtsp://cam/1  \t\n dir/ leading space.mp4\nlast.mkv")
        XCTAssertEqual(try InputList.read(path: path), ["a.mp4", "rtsp://cam/1", " dir/ leading space.mp4", "last.mkv"])
    }

    func testAnEmptyListIsEmpty() throws {
        XCTAssertEqual(try InputList.read(path: try list("# nothing yet\n\n")), [])
    }

    func testAMissingListNamesTheFileAndTheCause() throws {
        XCTAssertThrowsError(try InputList.read(path: "/nowhere/list.txt")) { error in
            XCTAssertEqual("\(error)", "cannot read input list '/nowhere/list.txt': No such file or directory")
        }
        let dir = try Scratch.directory("list-dir")
        XCTAssertThrowsError(try InputList.read(path: dir.path)) { error in
            XCTAssertEqual("\(error)", "cannot read input list '\(dir.path)': Is a directory")
        }
    }

    func testABadLineIsNamedByNumber() throws {
        let path = Scratch.path("bad.txt")
        try Data([UInt8]("a.mp4\n# c\n".utf8) + [0x62, 0xFF, 0x2E, 0x6D, 0x70, 0x34, 0x0A]).write(to: URL(fileURLWithPath: path))
        XCTAssertThrowsError(try InputList.read(path: path)) { error in
            XCTAssertEqual("\(error)", "input list '\(path)', line 3: is not UTF-8 text")
        }
        let binary = Scratch.path("binary.bin")
        try Data([0x61, 0x0A, 0x00, 0x01, 0x02]).write(to: URL(fileURLWithPath: binary))
        XCTAssertThrowsError(try InputList.read(path: binary)) { error in
            XCTAssertEqual(error as? CorpusError, .inputListLine(path: binary, line: 2, reason: "contains a NUL byte; is this a list of inputs, one a line?"))
        }
    }

    func testDashReadsStandardInputToItsEnd() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        // More than one read's worth, to show the list is read to its end.
        let inputs = (0..<9000).map { "clip\($0).mp4" }
        let text = inputs.joined(separator: "\n") + "\n"
        let writeEnd = fds[1]
        let writer = Thread {
            text.utf8CString.withUnsafeBufferPointer { p in
                var offset = 0, total = p.count - 1
                while offset < total { let n = write(writeEnd, p.baseAddress! + offset, total - offset); if n <= 0 { break }; offset += n }
            }
            close(writeEnd)
        }
        writer.start()
        defer { close(fds[0]) }
        XCTAssertEqual(try InputList.read(path: "-", standardInput: fds[0]), inputs)
    }

    func testDashInAListReadFromStandardInputIsRefused() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        _ = "a.mp4\n-\n".withCString { write(fds[1], $0, 8) }
        close(fds[1])
        defer { close(fds[0]) }
        XCTAssertThrowsError(try InputList.read(path: "-", standardInput: fds[0])) { error in
            XCTAssertEqual("\(error)", "input list '-', line 2: '-' (standard input) cannot be an input: the list itself is read from standard input")
        }
        // From a file, '-' is an input like any other (the run's standard input).
        XCTAssertEqual(try InputList.read(path: try list("-\n")), ["-"])
    }
}

final class ShardTests: XCTestCase {
    func testParsesIOverN() throws {
        XCTAssertEqual(try Shard.parse("0/1", environment: [:]), try Shard(index: 0, count: 1))
        XCTAssertEqual(try Shard.parse("3/4", environment: [:]).description, "3/4")
        for bad in ["4/4", "5/4", "0/0", "-1/4", "1/-4"] {
            XCTAssertThrowsError(try Shard.parse(bad, environment: [:])) { XCTAssertEqual("\($0)", "shard '\(bad)': needs 0 ≤ I < N") }
        }
        for bad in ["", "1", "1/", "/4", "a/4", "1/4/2", " 1/4", "1.0/4", "autox"] {
            XCTAssertThrowsError(try Shard.parse(bad, environment: [:])) {
                XCTAssertEqual("\($0)", "shard '\(bad)': expected I/N, two whole numbers with 0 ≤ I < N (e.g. 0/4), or auto")
            }
        }
    }

    func testShardsSplitTheListByPositionDisjointlyAndCompletely() throws {
        let inputs = (0..<11).map { "in\($0)" }
        XCTAssertEqual(try Shard(index: 1, count: 3).select(inputs), ["in1", "in4", "in7", "in10"])
        XCTAssertEqual(try Shard(index: 5, count: 6).select(["a", "b"]), [])
        for n in 1...13 {
            let parts = try (0..<n).map { i throws in try Shard(index: i, count: n).select(inputs) }
            XCTAssertEqual(parts.flatMap { $0 }.sorted(), inputs.sorted(), "N = \(n)")
            XCTAssertEqual(parts.map(\.count).max()! - parts.map(\.count).min()!, n > inputs.count ? 1 : (inputs.count % n == 0 ? 0 : 1))
        }
    }

    func testAutoFromASlurmJobArray() throws {
        // The variables as Slurm 22.05 sets them (see SlurmTests: --array=0-3 and --array=4-10:3).
        let plain = ["SLURM_JOB_ID": "9", "SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "0",
                     "SLURM_ARRAY_TASK_STEP": "1"]
        XCTAssertEqual(try Shard.parse("auto", environment: plain), try Shard(index: 2, count: 4))
        let offset = ["SLURM_ARRAY_TASK_ID": "8", "SLURM_ARRAY_TASK_COUNT": "8", "SLURM_ARRAY_TASK_MIN": "1"]
        XCTAssertEqual(try Shard.fromEnvironment(offset), try Shard(index: 7, count: 8))
        let stepped = ["SLURM_ARRAY_TASK_ID": "10", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_MIN": "4", "SLURM_ARRAY_TASK_STEP": "3"]
        XCTAssertEqual(try Shard.fromEnvironment(stepped), try Shard(index: 2, count: 3))
        let noMin = ["SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "1"]
        XCTAssertEqual(try Shard.fromEnvironment(noMin), try Shard(index: 0, count: 1))
    }

    func testAutoRefusesAnArrayWithGaps() {
        // --array=1,5,9: three tasks whose ids are not evenly spaced from the first.
        let gaps = ["SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_MIN": "1"]
        XCTAssertThrowsError(try Shard.fromEnvironment(gaps)) { error in
            XCTAssertEqual("\(error)", "cannot take the shard from the environment: SLURM_ARRAY_TASK_ID 5 is not one of 3 evenly spaced tasks "
                + "from SLURM_ARRAY_TASK_MIN 1 (step 1); submit the whole array as one range, e.g. --array=0-2")
        }
        let missingCount = ["SLURM_ARRAY_TASK_ID": "5"]
        XCTAssertThrowsError(try Shard.fromEnvironment(missingCount)) { error in
            XCTAssertEqual("\(error)", "cannot take the shard from the environment: SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not")
        }
        XCTAssertThrowsError(try Shard.fromEnvironment(["SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "2"])) { error in
            XCTAssertEqual("\(error)", "cannot take the shard from the environment: SLURM_ARRAY_TASK_ID is 'x', not a whole number")
        }
    }

    func testAutoFromAKubernetesIndexedJob() throws {
        XCTAssertEqual(try Shard.fromEnvironment(["JOB_COMPLETION_INDEX": "3", "JOB_COMPLETIONS": "5"]), try Shard(index: 3, count: 5))
        XCTAssertThrowsError(try Shard.fromEnvironment(["JOB_COMPLETION_INDEX": "3"])) { error in
            XCTAssertEqual("\(error)", "cannot take the shard from the environment: JOB_COMPLETION_INDEX is set but JOB_COMPLETIONS is not; "
                + "the Indexed Job's manifest must pass its completions as JOB_COMPLETIONS")
        }
        XCTAssertThrowsError(try Shard.fromEnvironment(["JOB_COMPLETION_INDEX": "5", "JOB_COMPLETIONS": "5"])) { error in
            XCTAssertEqual("\(error)", "cannot take the shard from the environment: JOB_COMPLETION_INDEX 5 is not below JOB_COMPLETIONS 5; "
                + "JOB_COMPLETIONS must equal the Job's completions")
        }
    }

    func testAutoWithNeitherSaysWhatItLookedFor() {
        let expected = "cannot take the shard from the environment: neither a Slurm job array (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT) "
            + "nor a Kubernetes Indexed Job (JOB_COMPLETION_INDEX, JOB_COMPLETIONS) is in the environment"
        XCTAssertThrowsError(try Shard.parse("auto", environment: ["HOME": "/root"])) { XCTAssertEqual("\($0)", expected) }
        XCTAssertThrowsError(try Shard.parse("auto", environment: ["SLURM_JOB_ID": "12"])) { error in
            XCTAssertTrue("\(error)".contains("this Slurm job is not an array task (no SLURM_ARRAY_TASK_ID); neither"), "\(error)")
        }
    }
}
