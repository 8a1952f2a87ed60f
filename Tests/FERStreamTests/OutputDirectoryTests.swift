import Foundation
@testable import FERStream
import TestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

final class OutputDirectoryTests: XCTestCase {
    private func write(_ text: String, _ path: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    private func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    func testOneResultPerInputNamedByItsShortName() throws {
        let dir = try Scratch.directory("results").path
        let inputs = ["/data/a/clip1.mp4", "rtsp://user:pw@cam:554/live", "v4l2:/dev/video0"]
        let out = try OutputDirectory(dir, extensions: ["ndjson", "mp4"], inputs: inputs)
        XCTAssertEqual(out.resultPath(for: inputs[0], extension: "ndjson"), dir + "/clip1.mp4.ndjson")
        XCTAssertEqual(out.resultPath(for: inputs[1], extension: "mp4"), dir + "/cam_live.mp4")
        XCTAssertEqual(out.resultPath(for: inputs[2], extension: "ndjson"), dir + "/video0.ndjson")
        XCTAssertEqual(try OutputDirectory(dir + "/", extensions: ["csv"], inputs: []).resultPath(for: "x", extension: "csv"), dir + "/x.csv")
    }

    func testTwoInputsWritingTheSameFileAreRefusedNamingBoth() throws {
        let dir = try Scratch.directory("results").path
        XCTAssertThrowsError(try OutputDirectory(dir, extensions: ["ndjson", "mp4"], inputs: ["/a/x.mp4", "/b/y.mp4", "/b/x.mp4"])) { error in
            XCTAssertEqual("\(error)", "inputs '/a/x.mp4' and '/b/x.mp4' would both write '\(dir)/x.mp4.ndjson'")
        }
        // Different inputs whose short names differ only by the characters made safe.
        XCTAssertThrowsError(try OutputDirectory(dir, extensions: ["csv"], inputs: ["/a/my clip.mp4", "/b/my:clip.mp4"])) { error in
            XCTAssertEqual("\(error)", "inputs '/a/my clip.mp4' and '/b/my:clip.mp4' would both write '\(dir)/my_clip.mp4.csv'")
        }
        XCTAssertThrowsError(try OutputDirectory(dir, extensions: ["ndjson"], inputs: ["/a/x.mp4", "/a/x.mp4"])) { error in
            XCTAssertEqual("\(error)", "input '/a/x.mp4' is given twice; each input is analysed once, into '\(dir)/x.mp4.ndjson'")
        }
    }

    func testADirectoryThatCannotBeWrittenIsRefusedUpFront() throws {
        let file = Scratch.path("plain-file")
        try write("x", file)
        XCTAssertThrowsError(try OutputDirectory(file, extensions: ["ndjson"], inputs: ["a"])) { error in
            XCTAssertEqual("\(error)", "cannot write results into '\(file)': Not a directory")
        }
        XCTAssertThrowsError(try OutputDirectory("/nowhere/at/all", extensions: ["ndjson"], inputs: ["a"])) { error in
            XCTAssertEqual("\(error)", "cannot write results into '/nowhere/at/all': No such file or directory")
        }
        let long = String(repeating: "n", count: 250) + ".mp4"
        XCTAssertThrowsError(try OutputDirectory(Scratch.root.path, extensions: ["ndjson"], inputs: ["/d/" + long])) { error in
            guard case let .nameTooLong(input, name)? = error as? CorpusError else { return XCTFail("\(error)") }
            XCTAssertEqual(input, "/d/" + long)
            XCTAssertGreaterThan(name.utf8.count, Int(NAME_MAX))
        }
    }

    func testAMissingDirectoryIsMadeOnlyWhenAResultIsWritten() throws {
        let dir = Scratch.root.appendingPathComponent("new-\(UUID().uuidString)").path
        let out = try OutputDirectory(dir, extensions: ["ndjson"], inputs: ["a.mp4"])
        XCTAssertFalse(exists(dir), "checking creates nothing")
        let pending = try out.pending(for: "a.mp4", extension: "ndjson")
        var info = stat()
        XCTAssertEqual(stat(dir, &info), 0)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFDIR)
        pending.abandon()
    }

    func testAResultAppearsUnderItsNameOnlyWhenCommitted() throws {
        let dir = try Scratch.directory("results").path
        let input = "/videos/talk.mkv"
        let out = try OutputDirectory(dir, extensions: ["ndjson", "mp4"], inputs: [input])
        XCTAssertFalse(out.isDone(input))
        let json = try out.pending(for: input, extension: "ndjson"), video = try out.pending(for: input, extension: "mp4")
        let name = URL(fileURLWithPath: json.path).lastPathComponent
        XCTAssertEqual(URL(fileURLWithPath: json.path).deletingLastPathComponent().path, dir, "written in the directory: rename(2) stays on one file system")
        XCTAssertTrue(name.hasPrefix(".talk.mkv."), name)
        XCTAssertTrue(name.hasSuffix(".partial.ndjson"), name)
        XCTAssertTrue(name.contains("-\(getpid()).partial"), name)
        XCTAssertTrue(video.path.hasSuffix(".partial.mp4"), "FFmpeg picks the container by the extension: \(video.path)")
        XCTAssertEqual(json.finalPath, out.resultPath(for: input, extension: "ndjson"))

        try write("{\"frame\":0}\n", json.path)
        try write("video", video.path)
        XCTAssertFalse(out.isDone(input))
        try json.commit()
        XCTAssertEqual(try String(contentsOfFile: json.finalPath, encoding: .utf8), "{\"frame\":0}\n")
        XCTAssertFalse(exists(json.path))
        XCTAssertFalse(out.isDone(input), "done only when every result of the input is in place")
        try video.commit()
        XCTAssertTrue(out.isDone(input))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(), ["talk.mkv.mp4", "talk.mkv.ndjson"])
    }

    func testAnAbandonedResultLeavesNothingAndAnOldResultIsReplacedWhole() throws {
        let dir = try Scratch.directory("results").path
        let out = try OutputDirectory(dir, extensions: ["csv"], inputs: ["a.mp4", "b.mp4"])
        do {
            let dropped = try out.pending(for: "a.mp4", extension: "csv")
            try write("frame,t\n0,0", dropped.path)
            XCTAssertTrue(exists(dropped.path))
        }  // dropped without a commit: a failed input
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [])
        XCTAssertFalse(out.isDone("a.mp4"))

        let final = out.resultPath(for: "b.mp4", extension: "csv")
        try write("old", final)
        XCTAssertTrue(out.isDone("b.mp4"))
        let again = try out.pending(for: "b.mp4", extension: "csv")
        try write("new result", again.path)
        try again.commit()
        again.abandon()  // after a commit: the result stays
        XCTAssertEqual(try String(contentsOfFile: final, encoding: .utf8), "new result")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["b.mp4.csv"])
    }

    func testCommittingWhatWasNeverWrittenSaysSo() throws {
        let dir = try Scratch.directory("results").path
        let out = try OutputDirectory(dir, extensions: ["ndjson"], inputs: ["a.mp4"])
        let pending = try out.pending(for: "a.mp4", extension: "ndjson")
        XCTAssertThrowsError(try pending.commit()) { error in
            XCTAssertEqual("\(error)", "cannot finish '\(dir)/a.mp4.ndjson': its temporary file '\(pending.path)': No such file or directory")
        }
        XCTAssertFalse(out.isDone("a.mp4"))
        // A directory where the result should be is not a result.
        try FileManager.default.createDirectory(atPath: out.resultPath(for: "a.mp4", extension: "ndjson"), withIntermediateDirectories: false)
        XCTAssertFalse(out.isDone("a.mp4"))
    }
}
