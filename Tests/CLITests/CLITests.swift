import Foundation
import XCTest

/// The built binary on real generated videos with the shipped model: what a user sees.
final class CLITests: XCTestCase {
    override func setUpWithError() throws {
        guard FileManager.default.fileExists(atPath: CLI.model) else { throw XCTSkip("no model at \(CLI.model)") }
    }

    func testEveryFrameYieldsALineWithAStableTrackedFace() throws {
        let dir = try CLI.tempDirectory()
        let clip = try CLI.faceClip(in: dir, frames: 16)
        let timeline = dir.appendingPathComponent("timeline.svg").path
        // --hold 0 --margin 0: each label is its frame's argmax (checked below).
        let r = try CLI.ferStream(["--tta", "center", "--hold", "0", "--margin", "0", "--timeline", timeline, clip])
        XCTAssertEqual(r.status, 0, r.stderr)
        let objects = try r.lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(objects.map { $0["frame"] as? Int }, Array(0..<16))
        let times = objects.map { $0["t"] as! Double }
        for (i, t) in times.enumerated() { XCTAssertEqual(t, Double(i) / 25, accuracy: 1e-3) }
        let faces = objects.map { $0["faces"] as! [[String: Any]] }
        // A face is reported from its second consecutive detection on, so frame 0 has none.
        XCTAssertGreaterThanOrEqual(faces.filter { $0.count == 1 }.count, 12, "the face is found in most frames")
        XCTAssertEqual(Set(faces.flatMap { $0.map { $0["track"] as! Int } }).count, 1, "one face, one track id")
        // The timeline has one panel for the one track: a line per emotion.
        let svg = try String(contentsOfFile: timeline, encoding: .utf8)
        XCTAssertEqual(svg.components(separatedBy: "<polyline").count - 1, 7)
        for face in faces.flatMap({ $0 }) {
            let probs = face["probs"] as! [String: Double]
            XCTAssertEqual(probs.values.reduce(0, +), 1, accuracy: 1e-3)
            XCTAssertEqual(face["label"] as? String, probs.max { $0.value < $1.value }!.key)
            // YuNet's confidence and five landmarks, inside the face's box (eyes above the mouth).
            XCTAssertGreaterThan(face["confidence"] as! Double, 0.6)
            let box = face["box"] as! [Int], marks = face["landmarks"] as! [[Double]]
            XCTAssertEqual(marks.count, 5)
            for m in marks {
                XCTAssertTrue(Double(box[0]) <= m[0] && m[0] <= Double(box[0] + box[2]) && Double(box[1]) <= m[1] && m[1] <= Double(box[1] + box[3]), "\(m) in \(box)")
            }
            XCTAssertLessThan(marks[0][1], marks[3][1]); XCTAssertLessThan(marks[0][0], marks[1][0])
            XCTAssertNotNil(face["held"] as? Double)
        }
    }

    /// `--annotate`: the same frames at the same times as the input (also those `--every`
    /// skips), each face's box drawn in its label's colour where the NDJSON says it is.
    func testAnnotatedVideoHasTheInputsFramesAndTheLabelsDrawnIn() throws {
        let dir = try CLI.tempDirectory()
        let clip = try CLI.faceClip(in: dir, frames: 14)
        let video = dir.appendingPathComponent("annotated.mp4").path
        let r = try CLI.ferStream(["--tta", "center", "--every", "2", "--annotate", video, clip])
        XCTAssertEqual(r.status, 0, r.stderr)
        func frameTimes(_ file: String) throws -> [String] {
            let p = try CLI.run("/usr/bin/ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries", "frame=pts_time", "-of", "csv=p=0", file])
            XCTAssertEqual(p.status, 0, p.stderr)
            return p.lines
        }
        let want = try frameTimes(clip)
        XCTAssertEqual(want.count, 14)
        XCTAssertEqual(try frameTimes(video), want)

        // The last analysed frame with a face: its box's left edge has the label's colour.
        let objects = try r.lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(objects.map { $0["frame"] as! Int }, Array(stride(from: 0, to: 14, by: 2)))
        let last = try XCTUnwrap(objects.last { !($0["faces"] as! [[String: Any]]).isEmpty })
        let face = (last["faces"] as! [[String: Any]])[0]
        let box = face["box"] as! [Int]
        let n = last["frame"] as! Int
        let raw = try CLI.runData("/usr/bin/ffmpeg", ["-v", "error", "-i", video, "-vf", "select=eq(n\\,\(n)),format=rgb24", "-frames:v", "1",
                                                     "-f", "rawvideo", "-"])
        XCTAssertEqual(raw.count, 320 * 320 * 3)
        // Emotion.colour, the one palette of every picture.
        let colours: [String: (Int, Int, Int)] = ["angry": (0xd6, 0x27, 0x28), "disgust": (0x8c, 0x56, 0x4b), "fear": (0x94, 0x67, 0xbd),
                                                  "happy": (0x2c, 0xa0, 0x2c), "sad": (0x1f, 0x77, 0xb4), "surprise": (0xff, 0x7f, 0x0e),
                                                  "neutral": (0x7f, 0x7f, 0x7f)]
        let want3 = try XCTUnwrap(colours[face["label"] as! String])
        let (x, y) = (box[0] + 1, box[1] + box[3] / 2)
        let i = (y * 320 + x) * 3
        let got = (Int(raw[i]), Int(raw[i + 1]), Int(raw[i + 2]))
        for (g, w) in [(got.0, want3.0), (got.1, want3.1), (got.2, want3.2)] {
            XCTAssertEqual(Double(g), Double(w), accuracy: 45, "box edge at (\(x),\(y)) is \(got), label \(face["label"]!)")
        }
    }

    func testAnnotateToAnUnknownFormatFailsBeforeAnyWork() throws {
        let dir = try CLI.tempDirectory()
        let clip = try CLI.faceClip(in: dir, frames: 2)
        let r = try CLI.ferStream(["--annotate", dir.appendingPathComponent("out.xyz").path, clip])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stdout, "")
        XCTAssertTrue(r.stderr.contains("out.xyz") && r.stderr.contains("unknown video format"), r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
    }

    /// Following tracked faces between whole-frame scans finds the same face in the same
    /// frames, with about the same boxes, as scanning the whole frame every time.
    func testDetectingNearTrackedFacesMatchesWholeFrameScans() throws {
        let dir = try CLI.tempDirectory()
        let clip = try CLI.faceClip(in: dir, frames: 20)
        func boxes(_ detectEvery: String) throws -> [[[Int]]] {
            let r = try CLI.ferStream(["--tta", "center", "--detect-every", detectEvery, clip])
            XCTAssertEqual(r.status, 0, r.stderr)
            return try r.lines.map { line in
                let faces = (try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any])["faces"] as! [[String: Any]]
                return faces.map { $0["box"] as! [Int] }
            }
        }
        let every = try boxes("1"), tracked = try boxes("5")
        XCTAssertEqual(every.count, 20)
        XCTAssertEqual(every.map(\.count), tracked.map(\.count), "faces per frame")
        func iou(_ a: [Int], _ b: [Int]) -> Double {
            let ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])), iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
            let inter = Double(ix * iy)
            return inter / Double(a[2] * a[3] + b[2] * b[3] - ix * iy)
        }
        for (a, b) in zip(every, tracked) where a.count == 1 && b.count == 1 {
            XCTAssertGreaterThan(iou(a[0], b[0]), 0.8, "\(a[0]) vs \(b[0])")
        }
    }

    func testCSVToFileAndStdinInput() throws {
        let dir = try CLI.tempDirectory()
        let clip = try CLI.faceClip(in: dir, name: "face.mkv", frames: 6, size: 240)
        let out = dir.appendingPathComponent("out.csv").path
        let r = try CLI.ferStream(["--format", "csv", "--tta", "center", "--output", out, "-"], stdin: FileHandle(forReadingAtPath: clip))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "", "results go to the file, not stdout")
        let rows = try String(contentsOfFile: out, encoding: .utf8).components(separatedBy: "\r\n").dropLast()
        XCTAssertTrue(rows.first!.hasPrefix("frame,t,track,x,y,w,h,label,score,angry,"))
        let frameFields: [String] = rows.dropFirst().map { row in String(row.prefix { $0 != "," }) }
        XCTAssertEqual(Set(frameFields), Set((0..<6).map { String($0) }))
    }

    func testFullFrameDetectorTreatsEachFrameAsOneFace() throws {
        let dir = try CLI.tempDirectory()
        let clip = try CLI.faceClip(in: dir, frames: 3, size: 96)
        let r = try CLI.ferStream(["--detector", "full-frame", "--tta", "center", clip])
        XCTAssertEqual(r.status, 0, r.stderr)
        for line in r.lines {
            let faces = (try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any])["faces"] as! [[String: Any]]
            XCTAssertEqual(faces.count, 1)
            XCTAssertEqual(faces[0]["box"] as? [Int], [0, 0, 96, 96])
        }
    }

    func testClosedStdoutEndsQuietly() throws {
        let dir = try CLI.tempDirectory()
        let clip = try CLI.faceClip(in: dir, frames: 25, size: 96)
        let r = try CLI.shell("set -o pipefail; '\(CLI.binary)' --detector full-frame --tta center '\(clip)' 2>'\(dir.path)/err' | head -n 2 >/dev/null; echo ${PIPESTATUS[0]}")
        XCTAssertEqual(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "0")
        XCTAssertEqual(try String(contentsOfFile: dir.path + "/err", encoding: .utf8), "")
    }
}

/// Real-time mode: the source is never waited for; frames the network cannot take are skipped
/// and every skipped frame is accounted for on the next line.
final class CLIRealtimeTests: XCTestCase {
    func testSkippedFramesAreAccountedFor() throws {
        guard FileManager.default.fileExists(atPath: CLI.model) else { throw XCTSkip("no model at \(CLI.model)") }
        let dir = try CLI.tempDirectory()
        let clip = try CLI.faceClip(in: dir, frames: 50, size: 320)
        // The plain-Swift engine with 10 crops per face cannot keep up with 25 frames/s anywhere
        // (without the student, which would: --fast-model none).
        let r = try CLI.ferStream(["--realtime", "--engine", "reference", "--tta", "10crop", "--fast-model", "none", "--stats", clip])
        XCTAssertEqual(r.status, 0, r.stderr)
        let objects = try r.lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        let frames = objects.map { $0["frame"] as! Int }
        let skipped = objects.map { ($0["skipped"] as? Int) ?? 0 }
        XCTAssertEqual(frames, frames.sorted(), "in order")
        XCTAssertGreaterThan(skipped.reduce(0, +), 0, "some frames were skipped")
        // Each line's frame index is the previous one plus its skips plus one: nothing unaccounted.
        for i in 1..<frames.count { XCTAssertEqual(frames[i], frames[i - 1] + skipped[i] + 1, "line \(i)") }
        let stats = try JSONSerialization.jsonObject(with: Data(r.stderr.split(separator: "\n").last!.utf8)) as! [String: Any]
        XCTAssertEqual(stats["frames_decoded"] as? Int, 50)
        XCTAssertEqual((stats["frames_analysed"] as! Int) + (stats["skipped"] as! Int), 50)
        XCTAssertNotNil((stats["latency_ms"] as? [String: Any])?["p95"])
    }
}

/// Network sources against real servers on 127.0.0.1.
final class CLINetworkTests: XCTestCase {
    /// `python3 -m http.server` on 127.0.0.1:`port` serving `dir` (it ignores Range requests);
    /// the caller terminates it.
    static func httpServer(serving dir: URL, port: Int) throws -> Process {
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["python3", "-m", "http.server", "\(port)", "--bind", "127.0.0.1", "--directory", dir.path]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        return server
    }

    func testHTTPFileAndUnreachableHost() throws {
        guard FileManager.default.fileExists(atPath: CLI.model) else { throw XCTSkip("no model at \(CLI.model)") }
        let dir = try CLI.tempDirectory()
        _ = try CLI.faceClip(in: dir, name: "clip.mp4", frames: 10, size: 240)
        let port = 18000 + Int.random(in: 0..<2000)
        let server = try Self.httpServer(serving: dir, port: port)
        defer { server.terminate(); server.waitUntilExit() }
        // Wait (bounded) for the server to listen.
        var r = try CLI.ferStream(["--tta", "center", "--timeout", "5", "http://127.0.0.1:\(port)/clip.mp4"])
        for _ in 0..<20 where r.status != 0 {
            usleep(250_000)
            r = try CLI.ferStream(["--tta", "center", "--timeout", "5", "http://127.0.0.1:\(port)/clip.mp4"])
        }
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.lines.count, 10)

        // Nothing listens on this port: one line naming the URL, exit 1.
        let closed = try CLI.ferStream(["--timeout", "2", "http://127.0.0.1:\(port + 1)/clip.mp4"])
        XCTAssertEqual(closed.status, 1)
        XCTAssertTrue(closed.stderr.contains("127.0.0.1:\(port + 1)"), closed.stderr)
        XCTAssertEqual(closed.stderr.split(separator: "\n").count, 1, closed.stderr)
    }
}

extension CLINetworkTests {
    /// Regression: `python3 -m http.server` ignores Range requests, and an mp4 whose index is at
    /// its end (ffmpeg's default) then read as "truncated or damaged ... stops at 0.00 s". Such a
    /// file is now downloaded to a temporary file first and read whole.
    func testHTTPServerWithoutRangeAndIndexAtTheEnd() throws {
        guard FileManager.default.fileExists(atPath: CLI.model) else { throw XCTSkip("no model at \(CLI.model)") }
        let dir = try CLI.tempDirectory()
        // 75 frames of noise-textured video: far more bytes than FFmpeg's read buffer, so the
        // demuxer cannot seek back inside it.
        let clip = dir.appendingPathComponent("late-index.mp4").path
        let made = try CLI.run("/usr/bin/ffmpeg", ["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
                                                   "-vf", "noise=alls=40:allf=t", "-frames:v", "75", "-c:v", "libx264",
                                                   "-preset", "veryfast", "-crf", "12", clip])
        XCTAssertEqual(made.status, 0, made.stderr)
        let bytes = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: clip)[.size] as? Int)
        XCTAssertGreaterThan(bytes, 1_000_000)
        let atom = try CLI.run("/usr/bin/python3", ["-c", "import sys; d=open(sys.argv[1],'rb').read(); print(d.find(b'moov') > d.find(b'mdat'))", clip])
        XCTAssertEqual(atom.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "True", "the index follows the data")
        let port = 20000 + Int.random(in: 0..<2000)
        let server = try Self.httpServer(serving: dir, port: port)
        defer { server.terminate(); server.waitUntilExit() }
        let url = "http://127.0.0.1:\(port)/late-index.mp4"
        var r = try CLI.ferStream(["--detector", "full-frame", "--tta", "center", "--timeout", "5", url])
        for _ in 0..<20 where r.stderr.contains("Connection refused") {
            usleep(250_000)
            r = try CLI.ferStream(["--detector", "full-frame", "--tta", "center", "--timeout", "5", url])
        }
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.lines.count, 75, r.stderr)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory()).filter { $0.hasPrefix("fer-stream-spool-") }
        XCTAssertEqual(leftovers, [], "the temporary download is removed")
    }
}

/// Ctrl-C: stop reading, finish the frames in flight, flush, exit 0 with every line whole.
final class CLISignalTests: XCTestCase {
    func testInterruptFinishesCleanly() throws {
        guard FileManager.default.fileExists(atPath: CLI.model) else { throw XCTSkip("no model at \(CLI.model)") }
        let dir = try CLI.tempDirectory()
        // A face the slow reference engine scores 10 times per frame: the run cannot end on its own
        // before the interrupt arrives.
        let clip = try CLI.faceClip(in: dir, frames: 100, size: 320)
        let out = dir.appendingPathComponent("out.ndjson").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.binary)
        process.arguments = ["--tta", "10crop", "--engine", "reference", "--output", out, clip]
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Wait for the first lines, then interrupt.
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").isEmpty { usleep(50_000) }
        process.interrupt()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .exit)
        XCTAssertEqual(process.terminationStatus, 0)
        let text = try String(contentsOfFile: out, encoding: .utf8)
        XCTAssertTrue(text.hasSuffix("\n"), "the last line is complete")
        let frames = try text.split(separator: "\n").map { line in
            try XCTUnwrap((try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["frame"] as? Int)
        }
        XCTAssertFalse(frames.isEmpty)
        XCTAssertLessThan(frames.count, 100, "stopped early")
        XCTAssertEqual(frames, Array(0..<frames.count), "in order, none lost before the stop")
    }
}

/// Bad input: one line on stderr naming the input and the cause, and the documented exit code.
final class CLIErrorTests: XCTestCase {
    private func assertFails(_ args: [String], code: Int32, mentions: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try CLI.ferStream(args)
        XCTAssertEqual(r.status, code, "stderr: \(r.stderr)", file: file, line: line)
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, "one line: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.contains(mentions), "'\(r.stderr)' should name '\(mentions)'", file: file, line: line)
        XCTAssertEqual(r.stdout, "", file: file, line: line)
    }

    func testMissingEmptyAndNonVideoFiles() throws {
        guard FileManager.default.fileExists(atPath: CLI.model) else { throw XCTSkip("no model at \(CLI.model)") }
        let dir = try CLI.tempDirectory()
        try assertFails([dir.appendingPathComponent("missing.mp4").path], code: 1, mentions: "missing.mp4")
        let empty = dir.appendingPathComponent("empty.mp4").path
        XCTAssertTrue(FileManager.default.createFile(atPath: empty, contents: Data()))
        try assertFails([empty], code: 1, mentions: "empty.mp4")
        let text = dir.appendingPathComponent("notes.txt").path
        try "this is not a video\n".write(toFile: text, atomically: true, encoding: .utf8)
        try assertFails([text], code: 1, mentions: "notes.txt")
    }

    func testBadInputLeavesAnExistingOutputFileAlone() throws {
        guard FileManager.default.fileExists(atPath: CLI.model) else { throw XCTSkip("no model at \(CLI.model)") }
        let dir = try CLI.tempDirectory()
        let out = dir.appendingPathComponent("results.ndjson").path
        try "earlier results\n".write(toFile: out, atomically: true, encoding: .utf8)
        try assertFails(["--output", out, dir.appendingPathComponent("missing.mp4").path], code: 1, mentions: "missing.mp4")
        XCTAssertEqual(try String(contentsOfFile: out, encoding: .utf8), "earlier results\n")
    }

    func testBadModelAndCascadeFiles() throws {
        let dir = try CLI.tempDirectory()
        let junk = dir.appendingPathComponent("junk.safetensors").path
        try "junk".write(toFile: junk, atomically: true, encoding: .utf8)
        try assertFails(["--model", junk, "x.mp4"], code: 1, mentions: "junk.safetensors")
        guard FileManager.default.fileExists(atPath: CLI.model) else { throw XCTSkip("no model at \(CLI.model)") }
        try assertFails(["--detector", "haar", "--cascade", dir.appendingPathComponent("none.xml").path, "x.mp4"], code: 1, mentions: "none.xml")
        try assertFails(["--detector-model", junk, "x.mp4"], code: 1, mentions: "junk.safetensors")
        try assertFails(["--detector-model", CLI.model, "x.mp4"], code: 1, mentions: "not a YuNet face detector")
    }

    func testUsageErrorsExitTwo() throws {
        try assertFails(["--every", "0", "x.mp4"], code: 2, mentions: "--every")
        try assertFails(["--format", "xml", "x.mp4"], code: 2, mentions: "--format")
        try assertFails(["--smooth", "median:3", "x.mp4"], code: 2, mentions: "--smooth")
        try assertFails(["--no-such-flag", "x.mp4"], code: 2, mentions: "--no-such-flag")
        try assertFails([], code: 2, mentions: "input")
    }
}

/// `fer-stream image`: still images, one line each, in the stream's schema.
final class CLIImageTests: XCTestCase {
    func testPortraitHasOneFaceAndBadFilesDoNotStopTheOthers() throws {
        guard FileManager.default.fileExists(atPath: CLI.model) else { throw XCTSkip("no model at \(CLI.model)") }
        guard FileManager.default.fileExists(atPath: CLI.portrait) else { throw XCTSkip("\(CLI.portrait) missing") }
        let dir = try CLI.tempDirectory()
        let missing = dir.appendingPathComponent("missing.png").path
        let jpeg = dir.appendingPathComponent("portrait.jpg").path
        XCTAssertEqual(try CLI.run("/usr/bin/ffmpeg", ["-v", "error", "-i", CLI.portrait, "-vf", "scale=256:256", jpeg]).status, 0)
        let r = try CLI.ferStream(["image", "--tta", "center", CLI.portrait, missing, jpeg])
        XCTAssertEqual(r.status, 1, "a file failed")
        XCTAssertTrue(r.stderr.contains("missing.png"), r.stderr)
        let objects = try r.lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(objects.map { $0["file"] as? String }, [CLI.portrait, jpeg])
        let faces = objects.map { $0["faces"] as! [[String: Any]] }
        XCTAssertEqual(faces.map(\.count), [1, 1])
        // OpenCV's detectMultiScale puts this face at [177, 66, 95, 95].
        let box = faces[0][0]["box"] as! [Int]
        XCTAssertEqual(box[0], 177, accuracy: 6)
        XCTAssertEqual(box[1], 66, accuracy: 6)
        XCTAssertEqual(box[2], 95, accuracy: 8)
    }
}

/// `fer-stream eval` on a small FER2013-format file generated here (no rows of the real data set).
final class CLIEvalTests: XCTestCase {
    func testConfusionMatrixSumsToNAndThePlotIsWritten() throws {
        guard FileManager.default.fileExists(atPath: CLI.model) else { throw XCTSkip("no model at \(CLI.model)") }
        let dir = try CLI.tempDirectory()
        var csv = "emotion,pixels,Usage\n"
        for i in 0..<12 {
            let pixels = (0..<2304).map { String((($0 % 48) * 5 + ($0 / 48) * 3 + i * 17) % 256) }.joined(separator: " ")
            csv += "\(i % 7),\(pixels),PublicTest\n"
        }
        let data = dir.appendingPathComponent("small.csv").path
        try csv.write(toFile: data, atomically: true, encoding: .utf8)
        let plot = dir.appendingPathComponent("confusion.svg").path
        let r = try CLI.ferStream(["eval", "--fer2013", data, "--split", "PublicTest", "--tta", "center", "--format", "json", "--plot", plot])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(json["n"] as? Int, 12)
        let confusion = json["confusion"] as! [[Int]]
        XCTAssertEqual(confusion.joined().reduce(0, +), 12)
        XCTAssertEqual(confusion.map { $0.reduce(0, +) }, [2, 2, 2, 2, 2, 1, 1], "rows are the true labels")
        let correct = (0..<7).map { confusion[$0][$0] }.reduce(0, +)
        XCTAssertEqual(json["accuracy"] as! Double, Double(correct) / 12, accuracy: 1e-4)
        let svg = try String(contentsOfFile: plot, encoding: .utf8)
        XCTAssertTrue(svg.hasPrefix("<svg"))
        XCTAssertEqual(svg.components(separatedBy: "<rect").count - 1, 1 + 49)
        // A split the file does not have is an error that names the file.
        let none = try CLI.ferStream(["eval", "--fer2013", data, "--split", "PrivateTest"])
        XCTAssertEqual(none.status, 1)
        XCTAssertTrue(none.stderr.contains("small.csv"), none.stderr)
    }

    /// `eval --ferplus`: votes joined to the FER2013 rows of the split by row number; unknown
    /// top votes left out, contempt counted wrong, other splits' votes ignored.
    func testAgainstFERPlusVotesJoinedByRow() throws {
        guard FileManager.default.fileExists(atPath: CLI.model) else { throw XCTSkip("no model at \(CLI.model)") }
        let dir = try CLI.tempDirectory()
        var csv = "emotion,pixels,Usage\n"
        for (i, usage) in ["Training", "Training", "PublicTest", "PublicTest", "PublicTest", "PublicTest", "PrivateTest"].enumerated() {
            let pixels = (0..<2304).map { String((($0 % 48) * 5 + ($0 / 48) * 3 + i * 17) % 256) }.joined(separator: " ")
            csv += "\(i % 7),\(pixels),\(usage)\n"
        }
        let data = dir.appendingPathComponent("small.csv").path
        try csv.write(toFile: data, atomically: true, encoding: .utf8)
        // row,Usage,emotion,ferplus_image,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF
        let votes = """
            row,Usage,emotion,ferplus_image,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF
            0,Training,0,a.png,10,0,0,0,0,0,0,0,0,0
            2,PublicTest,2,b.png,0,9,0,0,0,0,0,0,1,0
            3,PublicTest,3,c.png,2,0,0,0,0,0,0,0,8,0
            4,PublicTest,4,d.png,0,0,0,0,0,0,0,7,0,3
            5,PublicTest,5,e.png,6,0,0,4,0,0,0,0,0,0
            6,PrivateTest,6,f.png,0,0,10,0,0,0,0,0,0,0

            """
        let ferplus = dir.appendingPathComponent("votes.csv").path
        try votes.write(toFile: ferplus, atomically: true, encoding: .utf8)
        let plot = dir.appendingPathComponent("confusion.svg").path
        let diagram = dir.appendingPathComponent("reliability.svg").path
        let r = try CLI.ferStream(["eval", "--ferplus", ferplus, "--fer2013", data, "--split", "PublicTest", "--tta", "center",
                                   "--format", "json", "--plot", plot, "--reliability", diagram])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(json["n"] as? Int, 3, r.stdout)
        XCTAssertEqual(json["left_out"] as? Int, 1)
        XCTAssertEqual(json["outside_model"] as? [String: Int], ["contempt": 1])
        let majority = json["majority"] as! [String: Any]
        let confusion = majority["confusion"] as! [[Int]]
        XCTAssertEqual(confusion.map { $0.reduce(0, +) }, [0, 0, 0, 1, 0, 0, 1], "rows: happy (row 2) and neutral (row 5)")
        let correct = confusion[3][3] + confusion[6][6]
        XCTAssertEqual(json["accuracy"] as! Double, Double(correct) / 3, accuracy: 1e-4, "contempt counts as wrong")
        XCTAssertGreaterThan(json["cross_entropy"] as! Double, 0)
        XCTAssertNotNil(json["ece"] as? Double)
        XCTAssertTrue(try String(contentsOfFile: plot, encoding: .utf8).hasPrefix("<svg"))
        // The reliability diagram: one bar (and one gap mark) per non-empty bin of the 4 faces counted or dropped.
        let svg = try String(contentsOfFile: diagram, encoding: .utf8)
        XCTAssertTrue(svg.hasPrefix("<svg") && svg.contains("ECE"), svg)
        XCTAssertGreaterThanOrEqual(svg.components(separatedBy: "fill=\"#4c72b0\"").count - 1, 1)
        // The text report says what was left out and why.
        let text = try CLI.ferStream(["eval", "--ferplus", ferplus, "--fer2013", data, "--split", "PublicTest", "--tta", "center"])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("FER+ majority: 3 faces (1 left out: top vote unknown or not a face); 1 contempt"), text.stdout)
        // Votes that match no row of the split: one line naming the votes file.
        let other = dir.appendingPathComponent("other.csv").path
        try votes.replacingOccurrences(of: "\n2,", with: "\n92,").replacingOccurrences(of: "\n3,", with: "\n93,")
            .replacingOccurrences(of: "\n4,", with: "\n94,").replacingOccurrences(of: "\n5,", with: "\n95,")
            .write(toFile: other, atomically: true, encoding: .utf8)
        let none = try CLI.ferStream(["eval", "--ferplus", other, "--fer2013", data, "--split", "PublicTest"])
        XCTAssertEqual(none.status, 1)
        XCTAssertTrue(none.stderr.contains("other.csv': no row matches a PublicTest row"), none.stderr)
        XCTAssertEqual(none.stderr.split(separator: "\n").count, 1, none.stderr)
        // --ferplus with --images is a usage error.
        XCTAssertNotEqual(try CLI.ferStream(["eval", "--ferplus", ferplus, "--images", dir.path]).status, 0)
    }

    func testImageFolderWithSynonymsSkipsOtherFoldersAndUnreadableFiles() throws {
        guard FileManager.default.fileExists(atPath: CLI.model) else { throw XCTSkip("no model at \(CLI.model)") }
        guard FileManager.default.fileExists(atPath: CLI.portrait) else { throw XCTSkip("\(CLI.portrait) missing") }
        let root = try CLI.tempDirectory()
        let fm = FileManager.default
        for folder in ["Happiness", "sadness", "contempt"] {
            try fm.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        try fm.copyItem(atPath: CLI.portrait, toPath: root.appendingPathComponent("Happiness/a.png").path)
        XCTAssertEqual(try CLI.run("/usr/bin/ffmpeg", ["-v", "error", "-i", CLI.portrait, "-vf", "hflip,scale=300:300",
                                                        root.appendingPathComponent("sadness/b.jpg").path]).status, 0)
        try "not an image".write(to: root.appendingPathComponent("sadness/notes.txt"), atomically: true, encoding: .utf8)
        try fm.copyItem(atPath: CLI.portrait, toPath: root.appendingPathComponent("contempt/c.png").path)
        let r = try CLI.ferStream(["eval", "--images", root.path, "--tta", "center", "--format", "json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(json["n"] as? Int, 2, "contempt skipped, the text file left out")
        XCTAssertEqual((json["confusion"] as! [[Int]]).map { $0.reduce(0, +) }, [0, 0, 0, 1, 1, 0, 0])
        XCTAssertTrue(r.stderr.contains("contempt"), r.stderr)
        XCTAssertTrue(r.stderr.contains("1 files could not be decoded"), r.stderr)
    }
}

/// A copy of the binary outside the checkout, laid out as `scripts/install.sh` installs it.
final class CLIInstalledLayoutTests: XCTestCase {
    private func prefix() throws -> URL {
        let prefix = try CLI.tempDirectory()
        let fm = FileManager.default
        try fm.createDirectory(at: prefix.appendingPathComponent("bin"), withIntermediateDirectories: true)
        try fm.createDirectory(at: prefix.appendingPathComponent("share/fer-stream"), withIntermediateDirectories: true)
        try fm.copyItem(atPath: CLI.binary, toPath: prefix.appendingPathComponent("bin/fer-stream").path)
        return prefix
    }

    func testFoundOnPATHItLooksInItsOwnShareDirectoryFirst() throws {
        // Run by bare name from `/`: argv[0] says nothing of where the binary is, and the working
        // directory has no Models/. A stand-in model in share/ proves that is where it looked first.
        let prefix = try prefix()
        let share = prefix.appendingPathComponent("share/fer-stream")
        try Data("not a model".utf8).write(to: share.appendingPathComponent("vgg19-ferplus.safetensors"))
        let env = ["PATH": prefix.path + "/bin:/usr/bin:/bin"]
        let r = try CLI.run("/bin/sh", ["-c", "cd / && exec fer-stream image /nonexistent.png"], environment: env)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains(share.path + "/vgg19-ferplus.safetensors"), r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
    }

    func testTheEnvironmentVariableOverridesTheBundledModel() throws {
        let prefix = try prefix()
        let env = ["PATH": "/usr/bin:/bin", "FER_STREAM_MODEL": "/nowhere/model.safetensors"]
        let r = try CLI.run(prefix.path + "/bin/fer-stream", ["image", "/nonexistent.png"], environment: env)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("/nowhere/model.safetensors"), r.stderr)
    }
}
