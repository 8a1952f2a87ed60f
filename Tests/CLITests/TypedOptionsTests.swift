import Foundation
import XCTest

/// `--smooth` and `--framing` are parsed once, by ArgumentParser, into the library's values: a bad
/// one is a usage error naming the option and saying what a good one looks like; a good one is
/// what the run uses.
final class TypedOptionsTests: XCTestCase {
    private func assertUsageError(_ args: [String], mentions: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try CLI.ferStream(args)
        XCTAssertEqual(r.status, 2, r.stderr, file: file, line: line)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "one line: \(r.stderr)", file: file, line: line)
        XCTAssertEqual(r.stdout, "", file: file, line: line)
        for m in mentions { XCTAssertTrue(r.stderr.contains(m), "'\(r.stderr)' should mention '\(m)'", file: file, line: line) }
    }

    func testABadValueNamesTheOptionAndWhatIsWrong() throws {
        try assertUsageError(["--smooth", "tau:0", "x.mp4"], mentions: ["--smooth", "'tau:0'", "tau needs 0 < S ≤ 60 seconds, e.g. tau:0.5"])
        try assertUsageError(["resmooth", "--smooth", "ema:2", "-"], mentions: ["--smooth", "ema needs 0 < A ≤ 1"])
        try assertUsageError(["--framing", "3", "x.mp4"], mentions: ["--framing", "'3'", "SCALE,CENTRE", "box"])
        // A stray field was once dropped silently (3,x,0.4 read as 3,0.4).
        try assertUsageError(["image", "--framing", "3,x,0.4", "a.png"], mentions: ["--framing", "'3,x,0.4'"])
        try assertUsageError(["eval", "--framing", "10,0.4"], mentions: ["--framing", "0 < SCALE < 10"])
    }

    func testTheFramingGivenIsTheFramingUsed() throws {
        guard FileManager.default.fileExists(atPath: CLI.model) else { throw XCTSkip("no model at \(CLI.model)") }
        guard FileManager.default.fileExists(atPath: CLI.portrait) else { throw XCTSkip("\(CLI.portrait) missing") }
        func line(_ framing: [String]) throws -> String {
            // The FER2013 network: the default is so sure this face is happy that other crops
            // round to the same four decimals.
            let r = try CLI.ferStream(["image", "--model", CLI.model, "--tta", "center"] + framing + [CLI.portrait])
            XCTAssertEqual(r.status, 0, r.stderr)
            let line = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
            let faces = line["faces"] as! [[String: Any]]
            XCTAssertEqual(faces.count, 1)
            return r.stdout  // the whole line: the same face, so only the probabilities can differ
        }
        let byDefault = try line([])
        XCTAssertEqual(try line(["--framing", "3,0.4"]), byDefault, "3,0.4 is the default")
        XCTAssertNotEqual(try line(["--framing", "box"]), byDefault, "box cuts the face out differently")
        XCTAssertNotEqual(try line(["--framing", "2,0.3"]), byDefault)
    }
}
