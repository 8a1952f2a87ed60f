import Foundation
import TestSupport
import XCTest

/// Several inputs in one process: one network for all, each input its own pipeline.
final class ManyInputsTests: XCTestCase {
    private func objects(_ text: String) throws -> [[String: Any]] {
        try text.split(separator: "\n").map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
    }

    /// Labels and probabilities of each face per frame, for comparing runs (batches of other
    /// sizes may move the last digit, so probabilities compare within 0.002).
    private func faces(_ line: [String: Any]) -> [(Int, String, [String: Double])] {
        (line["faces"] as? [[String: Any]] ?? []).map { f in
            (f["track"] as! Int, f["label"] as! String, (f["raw"] as! [String: Any]).compactMapValues { $0 as? Double })
        }
    }

    func testEachInputsLinesNameTheirSourceAndMatchARunOfThatInputAlone() throws {
        let dir = try CLI.tempDirectory()
        let a = try CLI.faceClip(in: dir, name: "a.mp4", frames: 20)
        let b = try CLI.faceClip(in: dir, name: "b.mp4", frames: 14, size: 256)
        let both = try CLI.ferStream(["--no-progress", "--stats", "--precision", "f32", a, b])
        XCTAssertEqual(both.status, 0, both.stderr)
        let lines = try objects(both.stdout)
        for (input, frames) in [(a, 20), (b, 14)] {
            let mine = lines.filter { $0["source"] as? String == input }
            XCTAssertEqual(mine.map { $0["frame"] as! Int }, Array(0..<frames), "\(input): every frame, in order")
            let alone = try CLI.ferStream(["--no-progress", "--precision", "f32", input])
            XCTAssertEqual(alone.status, 0, alone.stderr)
            let single = try objects(alone.stdout)
            XCTAssertNil(single.first?["source"], "one input: no source field")
            XCTAssertEqual(single.count, mine.count)
            XCTAssertTrue(mine.contains { !faces($0).isEmpty }, "the face is found")
            for (x, y) in zip(mine, single) {
                let fx = faces(x), fy = faces(y)
                XCTAssertEqual(fx.map(\.0), fy.map(\.0))
                XCTAssertEqual(fx.map(\.1), fy.map(\.1), "frame \(x["frame"]!): the same labels")
                for (px, py) in zip(fx.map(\.2), fy.map(\.2)) {
                    for (k, v) in px { XCTAssertEqual(v, py[k] ?? -1, accuracy: 0.002) }
                }
            }
        }
        // --stats: a line per input, then the total.
        let stats = try objects(both.stderr.split(separator: "\n").filter { $0.hasPrefix("{") }.joined(separator: "\n"))
        XCTAssertEqual(stats.compactMap { $0["source"] as? String }, [a, b])
        let total = try XCTUnwrap(stats.last)
        XCTAssertEqual(total["sources"] as? Int, 2)
        XCTAssertEqual(total["frames_analysed"] as? Int, 34)
    }

    func testAFailingInputEndsOnlyItselfAndTheRunExitsOne() throws {
        let dir = try CLI.tempDirectory()
        let a = try CLI.faceClip(in: dir, name: "good.mp4", frames: 10)
        let missing = dir.appendingPathComponent("missing.mp4").path
        let corrupt = dir.appendingPathComponent("corrupt.mp4").path
        try Data(repeating: 0x42, count: 5000).write(to: URL(fileURLWithPath: corrupt))
        let r = try CLI.ferStream(["--no-progress", "--format", "csv", missing, a, corrupt])
        XCTAssertEqual(r.status, 1, r.stderr)
        let errors = r.stderr.split(separator: "\n")
        XCTAssertTrue(errors.contains { $0.hasPrefix("fer-stream: \(missing): ") }, r.stderr)
        XCTAssertTrue(errors.contains { $0.hasPrefix("fer-stream: \(corrupt): ") }, r.stderr)
        XCTAssertTrue(errors.contains { $0.contains("2 of 3 inputs failed") }, r.stderr)
        // CSV: a source column first; the good input complete.
        let rows = r.stdout.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        XCTAssertTrue(rows.first?.hasPrefix("source,frame,t,track") ?? false, rows.first ?? "")
        let frames = rows.dropFirst().filter { $0.hasPrefix(a + ",") }.map { Int($0.split(separator: ",")[1])! }
        XCTAssertEqual(Array(Set(frames)).sorted(), Array(0..<10))
    }

    /// Ctrl-C in a corpus run: the inputs stop, and one cut short leaves no result under its
    /// final name (a rerun does it again) while one that was complete is kept.
    func testAnInterruptedInputLeavesNoResultAndACompleteOneIsKept() throws {
        let dir = try CLI.tempDirectory()
        let short = try CLI.faceClip(in: dir, name: "short.mp4", frames: 5)
        let long = try CLI.faceClip(in: dir, name: "long.mp4", frames: 250)  // 10 s, read in real time
        let out = dir.appendingPathComponent("out").path
        let run = Process()
        run.executableURL = URL(fileURLWithPath: CLI.binary)
        run.arguments = ["--no-progress", "--realtime", "--output-dir", out, short, long]
        run.standardError = FileHandle.nullDevice
        try run.run()
        XCTAssertTrue(eventually(20) { FileManager.default.fileExists(atPath: out + "/short.mp4.ndjson") }, "the short input completes")
        sleep(1)
        kill(run.processIdentifier, SIGINT)
        run.waitUntilExit()
        XCTAssertEqual(run.terminationStatus, 0)
        let files = try FileManager.default.contentsOfDirectory(atPath: out)
        XCTAssertEqual(files, ["short.mp4.ndjson"], "no result and no temporary file for the interrupted input")
        XCTAssertEqual(try String(contentsOfFile: out + "/short.mp4.ndjson", encoding: .utf8).split(separator: "\n").count, 5)
    }
}
