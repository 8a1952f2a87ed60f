import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// The bad-input table of docs/usage.md, row by row (rows for missing, empty and text files, junk weights,
/// a missing cascade and some flags are in `CLIErrorTests`). Every input is made here with the
/// ffmpeg CLI. A failure is one stderr line naming the input, with the documented exit code; what
/// was read before a failure is written.
final class BadInputTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        guard FileManager.default.fileExists(atPath: CLI.model) else { throw XCTSkip("no model at \(CLI.model)") }
        dir = try CLI.tempDirectory()
    }

    override func tearDown() {
        if let dir { try? FileManager.default.removeItem(at: dir) }
    }

    // MARK: - Files

    func testTruncatedFilesWriteTheFramesBeforeTheCutThenFail() throws {
        for name in ["cut.mp4", "cut.mkv"] {
            // 4 s at 25 fps; mp4 with its index in front (as for streaming), so the cut file opens.
            let full = try ffmpeg(name, ["-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-t", "4", "-c:v", "libx264",
                                         "-preset", "veryfast", "-pix_fmt", "yuv420p", "-movflags", "+faststart"])
            let data = try Data(contentsOf: URL(fileURLWithPath: full))
            try data.prefix(data.count * 3 / 10).write(to: URL(fileURLWithPath: full))
            let r = try CLI.ferStream(["--tta", "center", full])
            assertOneLine(r, code: 1, mentions: [name, "stops at", "of 4.00 s", "truncated"])
            let frames = try frameIndices(r)
            XCTAssertFalse(frames.isEmpty, "\(name): the frames before the cut are written")
            XCTAssertLessThan(frames.count, 100, name)
            XCTAssertEqual(frames, Array(0..<frames.count), name)
        }
    }

    func testCompleteFilesAreNotMistakenForTruncatedOnes() throws {
        // Audio running on after the video ends: the video's own length counts, not the file's.
        for name in ["av.mp4", "av.mkv"] {
            let clip = try ffmpeg(name, ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=25", "-f", "lavfi", "-i", "sine=duration=4",
                                         "-map", "0:v", "-map", "1:a", "-vf", "trim=duration=1", "-c:v", "libx264",
                                         "-preset", "ultrafast", "-c:a", "aac"])
            let r = try CLI.ferStream(["--tta", "center", clip])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(r.stderr, "")
            XCTAssertEqual(try frameIndices(r), Array(0..<25), name)
        }
    }

    func testAudioOnlyFile() throws {
        let audio = try ffmpeg("tone.m4a", ["-f", "lavfi", "-i", "sine=frequency=440:duration=1"])
        assertOneLine(try CLI.ferStream([audio]), code: 1, mentions: ["no video stream", "tone.m4a"])
    }

    func testVideoCodecWithoutADecoder() throws {
        // a64multi (Commodore 64 charsets) has an encoder but no decoder, and Matroska stores it
        // under a tag that FFmpeg's demuxer does not map back to a codec.
        let clip = try ffmpeg("c64.mkv", ["-f", "lavfi", "-i", "testsrc=size=320x200:rate=25", "-t", "0.2", "-c:v", "a64multi"])
        assertOneLine(try CLI.ferStream([clip]), code: 1, mentions: ["cannot decode", "c64.mkv", "tag 'a64m'", "unknown to FFmpeg"])
    }

    func testOnePixelVideoWorks() throws {
        let clip = try ffmpeg("1x1.mkv", ["-f", "lavfi", "-i", "color=c=gray:s=16x16:r=25", "-t", "0.4", "-vf", "scale=1:1", "-c:v", "ffv1"])
        let r = try CLI.ferStream(["--tta", "center", clip])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try frameIndices(r), Array(0..<10))
        XCTAssertTrue(r.lines.allSatisfy { $0.hasSuffix("\"faces\":[]}") }, r.stdout)
    }

    func test8KVideoWorks() throws {
        let clip = try ffmpeg("8k.mp4", ["-f", "lavfi", "-i", "testsrc=size=7680x4320:rate=25", "-frames:v", "3",
                                         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"])
        // No timed assertion (speed belongs to benchmarks; this VM's speed swings): the three frames
        // must come out whole, and a hang is caught by the test runner.
        let r = try CLI.ferStream(["--tta", "center", clip])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try frameIndices(r), [0, 1, 2])
    }

    func testVariableFrameRateTimesFollowThePresentationTimes() throws {
        // 1 s at 10 fps, then 1 s at 25 fps, in one stream with its own timestamps.
        let clip = try ffmpeg("vfr.mkv", ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25",
                                          "-filter_complex", "[0]trim=duration=1[a];[1]trim=duration=1,setpts=PTS-STARTPTS[b];[a][b]concat=n=2:v=1[v]",
                                          "-map", "[v]", "-fps_mode", "vfr", "-c:v", "libx264", "-preset", "ultrafast"])
        let r = try CLI.ferStream(["--tta", "center", clip])
        XCTAssertEqual(r.status, 0, r.stderr)
        let times = try r.lines.map { try XCTUnwrap((try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["t"] as? Double) }
        XCTAssertEqual(times.count, 35)
        let expected = (0..<10).map { Double($0) / 10 } + (0..<25).map { 1 + Double($0) / 25 }
        for (t, e) in zip(times, expected) { XCTAssertEqual(t, e, accuracy: 0.002) }
    }

    // MARK: - URLs and devices

    func testUnreachableHostUnknownSchemeAndMissingDevice() throws {
        // .invalid never resolves (RFC 6761).
        assertOneLine(try CLI.ferStream(["--timeout", "5", "http://no-such-host.invalid/clip.mp4"]), code: 1,
                      mentions: ["http://no-such-host.invalid/clip.mp4", "cannot resolve host 'no-such-host.invalid'"])
        assertOneLine(try CLI.ferStream(["foo://x"]), code: 1, mentions: ["'foo://x'", "Protocol not found"])
        // These machines have no camera; /dev/video99 does not exist anywhere in practice.
        assertOneLine(try CLI.ferStream(["v4l2:/dev/video99"]), code: 1, mentions: ["v4l2:/dev/video99", "No such file or directory"])
    }

    // MARK: - Model and flags

    func testWeightsCutOffOrOfTheWrongShape() throws {
        let model = try Data(contentsOf: URL(fileURLWithPath: CLI.model))
        let cut = dir.appendingPathComponent("cut.safetensors")
        try model.prefix(100_000).write(to: cut)
        assertOneLine(try CLI.ferStream(["--model", cut.path, "x.mp4"]), code: 1, mentions: ["cut.safetensors"])

        // The classifier transposed ([512, 7] for [7, 512]): same bytes, wrong shape.
        let from = Data("\"classifier.weight\":{\"dtype\":\"F16\",\"shape\":[7,512]".utf8)
        let to = Data("\"classifier.weight\":{\"dtype\":\"F16\",\"shape\":[512,7]".utf8)
        var wrong = model
        let range = try XCTUnwrap(wrong.range(of: from), "the shipped model's header changed: update this test")
        wrong.replaceSubrange(range, with: to)
        let path = dir.appendingPathComponent("transposed.safetensors")
        try wrong.write(to: path)
        assertOneLine(try CLI.ferStream(["--model", path.path, "x.mp4"]), code: 1,
                      mentions: ["transposed.safetensors", "classifier.weight", "[512, 7]", "[7, 512]"])
    }

    func testMoreBadFlagValuesExitTwo() throws {
        for (args, flag) in [(["--timeout", "0"], "--timeout"), (["--reconnect=-1"], "--reconnect"),
                             (["--rtsp-transport", "http"], "--rtsp-transport"), (["--batch", "0"], "--batch"),
                             (["--tta", "5crop"], "--tta"), (["--engine", "gpu"], "--engine"),
                             (["--precision", "fp8"], "--precision"), (["--min-face", "abc"], "--min-face")] {
            assertOneLine(try CLI.ferStream(args + ["x.mp4"]), code: 2, mentions: [flag])
        }
    }

    // MARK: - Hostile numbers (issue 36)

    func testHostileFER2013CSVIsAnErrorNotACrash() throws {
        // A pixel of 40 digits overflowed Int: "Illegal instruction", exit 132.
        let csv = dir.appendingPathComponent("bad.csv").path
        try "emotion,pixels,Usage\n3,9999999999999999999999999999999999999999 1 2,PrivateTest\n".write(toFile: csv, atomically: true, encoding: .utf8)
        assertOneLine(try CLI.ferStream(["eval", "--fer2013", csv]), code: 1, mentions: ["'\(csv)' line 2", "pixel 99999999999999999999… (40 digits) is not 0…255"])
    }

    func testHostileCascadeNumbersAreAnErrorNotACrash() throws {
        // Integers near Int's edge in a rectangle overflowed `x + w` (nodes: CascadeTests).
        let cascade = dir.appendingPathComponent("huge.xml").path
        try """
            <opencv_storage><cascade><stageType>BOOST</stageType><featureType>HAAR</featureType><height>24</height><width>24</width>
            <stages><_><stageThreshold>0</stageThreshold><weakClassifiers><_><internalNodes>-9223372036854775808 -1 0 0.5</internalNodes>
            <leafValues>1 -1</leafValues></_></weakClassifiers></_></stages>
            <features><_><rects><_>9.2e18 0 9.2e18 4 1.</_></rects></_></features></cascade></opencv_storage>
            """.write(toFile: cascade, atomically: true, encoding: .utf8)
        assertOneLine(try CLI.ferStream(["--detector", "haar", "--cascade", cascade, "x.mp4"]), code: 1, mentions: ["huge.xml", "outside"])
    }

    func testHostileNumbersInOptionsAreUsageErrors() throws {
        let huge = "9223372036854775807"
        for (args, flag) in [(["--timeout", "1e300"], "--timeout"), (["--timeout", "inf"], "--timeout"), (["--threads", "3000000000"], "--threads"),
                             (["--video-size", "99999999999999999999x1"], "--video-size"), (["--video-size", "640x"], "--video-size"),
                             (["--framerate", "1/0"], "--framerate"), (["--framerate", "1e9"], "--framerate"),
                             (["--smooth", "window:99999999999999999999"], "--smooth"), (["--smooth", "tau:1e400"], "--smooth"),
                             (["bench", "--batch", huge], "--batch"), (["bench", "--seconds", "inf"], "--seconds")] {
            assertOneLine(try CLI.ferStream(args + (args[0] == "bench" ? [] : ["x.mp4"])), code: 2, mentions: [flag])
        }
        // Int's largest value where any positive count is fine: a run like any other, no trap.
        let clip = try ffmpeg("small.mp4", ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=25", "-frames:v", "3", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"])
        let r = try CLI.ferStream(["--tta", "center", "--every", huge, "--detect-every", huge, "--batch", huge, "--min-face", huge,
                                   "--reconnect", huge, "--smooth", "window:\(huge)", "--video-size", "640x480", "--framerate", "30000/1001", clip])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try frameIndices(r), [0])
    }

    func testResmoothTakesHostileNumbersWithoutATrap() throws {
        let raw = #""raw":{"angry":0.1,"disgust":0,"fear":0,"happy":0.9,"sad":0,"surprise":0,"neutral":0}"#
        let extreme = #"{"frame":9223372036854775807,"t":-1e308,"skipped":9223372036854775807,"faces":[{"track":-9223372036854775808,"#
            + #""box":[9223372036854775807,-9223372036854775808,0,0],\#(raw),"confidence":1e308,"landmarks":[[1e308,-1e308]]}]}"#
        let input = dir.appendingPathComponent("extreme.ndjson").path
        try (extreme + "\n" + extreme + "\n").write(toFile: input, atomically: true, encoding: .utf8)
        let r = try CLI.ferStream(["resmooth", "--smooth", "window:3", input])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.lines.count, 2)
        XCTAssertTrue(r.stdout.contains(#""track":-9223372036854775808,"box":[9223372036854775807,-9223372036854775808,0,0]"#), r.stdout)
        // Numbers past what a line may hold are an error naming the file and line.
        try #"{"frame":99999999999999999999999,"t":0,"faces":[]}"#.write(toFile: input, atomically: true, encoding: .utf8)
        assertOneLine(try CLI.ferStream(["resmooth", input]), code: 1, mentions: ["extreme.ndjson", "line 1"])
    }

    // MARK: - Outputs (issue 36)

    /// Each output is checked before the input is opened (a missing input would otherwise be the
    /// error), with the OS's reason, and an existing output file is neither created nor truncated.
    func testUnwritableOutputsFailBeforeTheInputIsOpened() throws {
        let file = dir.appendingPathComponent("file.txt").path
        try "x".write(toFile: file, atomically: true, encoding: .utf8)
        let missing = dir.appendingPathComponent("missing.mp4").path
        let places = [("/nonexistent/out", "No such file or directory"), (dir.path, "Is a directory"), (file + "/out", "Not a directory")]
        for option in ["--output", "-o", "--annotate", "--timeline"] {
            for (place, reason) in places {
                let path = option == "--annotate" && place != dir.path ? place + ".mp4" : place
                assertOneLine(try CLI.ferStream([option, path, missing]), code: 1, mentions: ["cannot write '\(path)': \(reason)"])
            }
        }
        // A good -o next to a bad --timeline stays as it was; the annotated video is not created.
        let earlier = dir.appendingPathComponent("earlier.ndjson").path
        try "earlier results\n".write(toFile: earlier, atomically: true, encoding: .utf8)
        let video = dir.appendingPathComponent("never.mp4").path
        let clip = try ffmpeg("one.mp4", ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=25", "-frames:v", "2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"])
        let r = try CLI.ferStream(["-o", earlier, "--annotate", video, "--timeline", "/nonexistent/t.svg", clip])
        assertOneLine(r, code: 1, mentions: ["cannot write '/nonexistent/t.svg': No such file or directory"])
        XCTAssertEqual(try String(contentsOfFile: earlier, encoding: .utf8), "earlier results\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: video))
        // The subcommands' outputs too: eval --plot before reading the data set, image -o/--plot before any image.
        assertOneLine(try CLI.ferStream(["eval", "--fer2013", missing, "--plot", "/nonexistent/c.svg"]), code: 1,
                      mentions: ["cannot write '/nonexistent/c.svg': No such file or directory"])
        for option in ["-o", "--plot"] {
            assertOneLine(try CLI.ferStream(["image", option, dir.path, missing]), code: 1, mentions: ["cannot write '\(dir.path)': Is a directory"])
        }
    }

    func testPermissionDeniedOutputForAnOrdinaryUser() throws {
        guard geteuid() != 0 else { throw XCTSkip("running as root, who may write into a read-only folder") }
        let locked = dir.appendingPathComponent("locked")
        try FileManager.default.createDirectory(at: locked, withIntermediateDirectories: false)
        chmod(locked.path, 0o555)
        defer { chmod(locked.path, 0o755) }
        let path = locked.appendingPathComponent("t.svg").path
        assertOneLine(try CLI.ferStream(["--timeline", path, "x.mp4"]), code: 1, mentions: ["cannot write '\(path)': Permission denied"])
    }

    /// A timeline that passes the check but cannot be written at the end (a full disk: /dev/full)
    /// fails the run: exit 1 with the OS's reason, after the frames were written.
    func testTimelineWriteFailingAtTheEndExitsOne() throws {
        guard FileManager.default.isWritableFile(atPath: "/dev/full") else { throw XCTSkip("no /dev/full") }
        let clip = try ffmpeg("two.mp4", ["-f", "lavfi", "-i", "testsrc=size=160x120:rate=25", "-frames:v", "2", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"])
        let r = try CLI.ferStream(["--tta", "center", "--timeline", "/dev/full", clip])
        assertOneLine(r, code: 1, mentions: ["cannot write '/dev/full': No space left on device"])
        XCTAssertEqual(try frameIndices(r), [0, 1])
    }

    // MARK: - Helpers

    /// Makes `name` in the test's folder with `ffmpeg -y ARGS name`; returns its path.
    private func ffmpeg(_ name: String, _ args: [String]) throws -> String {
        let path = dir.appendingPathComponent(name).path
        let r = try CLI.run("/usr/bin/ffmpeg", ["-v", "error", "-y"] + args + [path])
        guard r.status == 0 else { throw XCTSkip("ffmpeg could not make \(name): \(r.stderr)") }
        return path
    }

    private func frameIndices(_ r: CLI.Result) throws -> [Int] {
        try r.lines.map { try XCTUnwrap((try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["frame"] as? Int) }
    }

    private func assertOneLine(_ r: CLI.Result, code: Int32, mentions: [String], file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.status, code, "stderr: \(r.stderr)", file: file, line: line)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "one line: \(r.stderr)", file: file, line: line)
        XCTAssertTrue(r.stderr.hasPrefix("fer-stream: "), r.stderr, file: file, line: line)
        for m in mentions { XCTAssertTrue(r.stderr.contains(m), "'\(r.stderr)' should mention '\(m)'", file: file, line: line) }
        if code == 2 { XCTAssertEqual(r.stdout, "", file: file, line: line) }
    }
}
