import Foundation
import XCTest

/// The README's bad-input table, row by row (rows for missing, empty and text files, junk weights,
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
