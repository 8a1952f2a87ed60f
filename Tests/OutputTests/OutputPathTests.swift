import Foundation
import XCTest
@testable import Output
@testable import Pipeline
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// `OutputPath`: outputs are checked before any work with the OS's reason, and checking creates,
/// opens and truncates nothing (issue 36).
final class OutputPathTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws { dir = try Scratch.directory("output-path") }

    /// The reason of the `.output` error `check` throws; nil when it throws none.
    private func reason(_ check: () throws -> Void) -> String? {
        do { try check(); return nil } catch {
            guard case let .output(_, reason)? = error as? PipelineError else { XCTFail("\(error)"); return nil }
            return reason
        }
    }

    func testAWritablePlaceIsAcceptedAndNothingIsCreatedOrTruncated() throws {
        let new = dir.appendingPathComponent("new.svg").path
        XCTAssertNil(reason { try OutputPath.check(new) })
        XCTAssertFalse(FileManager.default.fileExists(atPath: new), "checking must not create the file")
        let old = dir.appendingPathComponent("old.ndjson").path
        try "earlier results\n".write(toFile: old, atomically: true, encoding: .utf8)
        XCTAssertNil(reason { try OutputPath.checkAll([nil, old, new, nil]) })
        XCTAssertEqual(try String(contentsOfFile: old, encoding: .utf8), "earlier results\n")
        XCTAssertNil(reason { try OutputPath.check("/dev/null") })
        // A relative name is created in the working directory.
        let cwd = FileManager.default.currentDirectoryPath
        defer { _ = FileManager.default.changeCurrentDirectoryPath(cwd) }
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(dir.path))
        XCTAssertNil(reason { try OutputPath.check("relative.csv") })
    }

    func testEachReasonIsTheOSOwn() throws {
        let file = dir.appendingPathComponent("file").path
        try "x".write(toFile: file, atomically: true, encoding: .utf8)
        let cases: [(String, String)] = [
            ("/nonexistent/t.svg", "No such file or directory"),
            (dir.appendingPathComponent("missing/deeper/t.svg").path, "No such file or directory"),
            (dir.path, "Is a directory"),
            (dir.path + "/", "Is a directory"),
            (file + "/t.svg", "Not a directory"),
            ("", "No such file or directory"),
            (dir.appendingPathComponent(String(repeating: "n", count: 300)).path, "File name too long"),
        ]
        for (path, expected) in cases {
            XCTAssertEqual(reason { try OutputPath.check(path) }, expected, path)
        }
        do {
            try OutputPath.check("/nonexistent/t.svg")
            XCTFail("no error")
        } catch {
            XCTAssertEqual(error.description, "cannot write '/nonexistent/t.svg': No such file or directory")
        }
    }

    func testPermissionDeniedForAnOrdinaryUser() throws {
        // root may write anywhere (access(2) says so too): the check is only meaningful for others.
        guard geteuid() != 0 else { throw XCTSkip("running as root, who may write to read-only files and folders") }
        let locked = dir.appendingPathComponent("locked")
        try FileManager.default.createDirectory(at: locked, withIntermediateDirectories: false)
        let readOnly = dir.appendingPathComponent("read-only.csv").path
        try "x".write(toFile: readOnly, atomically: true, encoding: .utf8)
        chmod(locked.path, 0o555)
        chmod(readOnly, 0o444)
        defer { chmod(locked.path, 0o755) }
        XCTAssertEqual(reason { try OutputPath.check(locked.appendingPathComponent("t.svg").path) }, "Permission denied")
        XCTAssertEqual(reason { try OutputPath.check(readOnly) }, "Permission denied")
        XCTAssertEqual(reason { try OutputPath.checkDirectory(locked.path) }, "Permission denied")
    }

    func testDirectories() throws {
        let file = dir.appendingPathComponent("file").path
        try "x".write(toFile: file, atomically: true, encoding: .utf8)
        XCTAssertNil(reason { try OutputPath.checkDirectory(dir.path) })
        let missing = dir.appendingPathComponent("to-be-made").path
        XCTAssertNil(reason { try OutputPath.checkDirectory(missing) })
        XCTAssertFalse(FileManager.default.fileExists(atPath: missing), "checking must not create the folder")
        XCTAssertEqual(reason { try OutputPath.checkDirectory(file) }, "Not a directory")
        XCTAssertEqual(reason { try OutputPath.checkDirectory("/nonexistent/out") }, "No such file or directory")
    }
}
