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

    /// Bad corpus options fail at once, one line each, before any input is opened.
    func testBadCorpusOptionsFailWithOneLineBeforeAnyInputIsOpened() throws {
        let dir = try CLI.tempDirectory()
        let a = dir.appendingPathComponent("x/clip.mp4").path, b = dir.appendingPathComponent("y/clip.mp4").path
        let list = dir.appendingPathComponent("list.txt").path
        try "\(a)\n\(b)\n".write(toFile: list, atomically: true, encoding: .utf8)
        let cases: [([String], String)] = [
            (["--shard", "5/3", "--inputs-from", list], "5/3"),
            (["--shard", "auto", "--inputs-from", list], "SLURM_ARRAY_TASK_ID"),
            (["--output-dir", "/proc/fer-out", "--inputs-from", list], "/proc/fer-out"),
            (["--output-dir", dir.path + "/out", "--inputs-from", list], "clip.mp4"),  // both would write out/clip.mp4.ndjson
            (["--inputs-from", dir.appendingPathComponent("missing.txt").path], "missing.txt"),
            (["--annotate", "a.mp4", a, b], "--output-dir"),
            (["--timeline", "t.svg", a, b], "--timeline"),
        ]
        for (args, named) in cases {
            let r = try CLI.run(CLI.binary, ["--no-progress"] + args, environment: ["PATH": "/usr/bin:/bin"])
            XCTAssertEqual(r.status, 1, "\(args): \(r.stderr)")
            let lines = r.stderr.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(named), "\(args): \(r.stderr)")
            XCTAssertFalse(r.stderr.contains("cannot open"), "no input was opened: \(r.stderr)")
            XCTAssertEqual(r.stdout, "")
        }
    }

    /// resmooth on a run with several inputs keeps each line's source (and smooths per source).
    func testResmoothKeepsEachLinesSource() throws {
        let dir = try CLI.tempDirectory()
        let a = try CLI.faceClip(in: dir, name: "a.mp4", frames: 12)
        let b = try CLI.faceClip(in: dir, name: "b.mp4", frames: 12, size: 256)
        let both = try CLI.ferStream(["--no-progress", a, b])
        XCTAssertEqual(both.status, 0, both.stderr)
        let file = dir.appendingPathComponent("both.ndjson").path
        try both.stdout.write(toFile: file, atomically: true, encoding: .utf8)
        let again = try CLI.ferStream(["resmooth", file])
        XCTAssertEqual(again.status, 0, again.stderr)
        // The same smoothing again, from the rounded raw scores: each line keeps its source, its
        // frame and each face's label and held time, and the probabilities move by rounding only.
        let before = try objects(both.stdout), after = try objects(again.stdout)
        XCTAssertEqual(after.count, before.count)
        for (x, y) in zip(before, after) {
            XCTAssertEqual(x["source"] as? String, y["source"] as? String)
            XCTAssertEqual(x["frame"] as? Int, y["frame"] as? Int)
            let fx = x["faces"] as? [[String: Any]] ?? [], fy = y["faces"] as? [[String: Any]] ?? []
            XCTAssertEqual(fx.map { $0["label"] as? String }, fy.map { $0["label"] as? String })
            XCTAssertEqual(fx.map { $0["held"] as? Double }, fy.map { $0["held"] as? Double })
            for (a, b) in zip(fx, fy) {
                let pa = a["probs"] as! [String: Double], pb = b["probs"] as! [String: Double]
                for (k, v) in pa { XCTAssertEqual(v, pb[k] ?? -1, accuracy: 0.0015) }
            }
        }
    }

    /// A corpus longer than the open-file limit: each input's files are closed when it is done
    /// (they were kept open to the end, and past ~100 inputs every result failed with EMFILE).
    func testACorpusOfManyInputsKeepsNoFilesOpenFromDoneOnes() throws {
        let dir = try CLI.tempDirectory()
        let clip = dir.appendingPathComponent("base.mp4").path
        let made = try CLI.run("/usr/bin/ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x64:rate=10", "-frames:v", "3",
                                                   "-c:v", "libx264", "-pix_fmt", "yuv420p", clip])
        XCTAssertEqual(made.status, 0, made.stderr)
        var names: [String] = []
        for i in 0..<150 {
            let name = dir.appendingPathComponent("c\(i).mp4").path
            try FileManager.default.createSymbolicLink(atPath: name, withDestinationPath: clip)
            names.append(name)
        }
        let list = dir.appendingPathComponent("list.txt").path
        try names.joined(separator: "\n").write(toFile: list, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("out").path
        let r = try CLI.shell("ulimit -n 100 && '\(CLI.binary)' --no-progress --output-dir '\(out)' --inputs-from '\(list)'")
        XCTAssertEqual(r.status, 0, String(r.stderr.prefix(500)))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: out).filter { $0.hasSuffix(".ndjson") }.count, 150)
    }
}
