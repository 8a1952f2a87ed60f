import Foundation
import TestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// `--serve` end to end: the built binary on generated clips with a face, checked with curl, a
/// WebSocket client that stops reading, and a real headless Chromium (Debian's `chromium`, over
/// its DevTools protocol: Tests/CLITests/live/live_view_client.py). A browser or client that
/// cannot start fails the test (CI installs them: scripts/install-deps.sh, scripts/test-requirements.txt).
final class LiveViewCLITests: XCTestCase {
    static var client: String { CLI.root.appendingPathComponent("Tests/CLITests/live/live_view_client.py").path }

    /// fer-stream running in the background, its stdout and stderr in files.
    final class Running {
        let process = Process()
        let stdout: URL
        let stderr: URL
        let stdin = Pipe()

        init(_ arguments: [String], in dir: URL, environment: [String: String]? = nil) throws {
            stdout = dir.appendingPathComponent("stdout-\(UUID().uuidString).txt")
            stderr = dir.appendingPathComponent("stderr-\(UUID().uuidString).txt")
            FileManager.default.createFile(atPath: stdout.path, contents: nil)
            FileManager.default.createFile(atPath: stderr.path, contents: nil)
            process.executableURL = URL(fileURLWithPath: CLI.binary)
            process.arguments = arguments
            if let environment { process.environment = environment }
            process.standardOutput = try FileHandle(forWritingTo: stdout)
            process.standardError = try FileHandle(forWritingTo: stderr)
            process.standardInput = stdin
            try process.run()
        }

        var errors: String { (try? String(contentsOf: stderr, encoding: .utf8)) ?? "" }
        var lines: [String] { ((try? String(contentsOf: stdout, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }

        /// Waits (at most `seconds`) for it to exit; kills it after that.
        @discardableResult
        func wait(_ seconds: Double = 120) -> Int32 {
            let deadline = Date().addingTimeInterval(seconds)
            while process.isRunning && Date() < deadline { usleep(50_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            return process.terminationStatus
        }

        func stop() {
            if process.isRunning { kill(process.processIdentifier, SIGTERM) }
            wait(30)
        }
    }

    /// curl's output and the status it printed (`-w '%{http_code}'` last).
    static func curl(_ args: [String]) throws -> (status: Int, body: String) {
        let r = try CLI.run("/usr/bin/curl", ["-s", "--max-time", "10", "-w", "\n%{http_code}"] + args)
        let parts = r.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(parts.last ?? "") ?? 0, parts.dropLast().joined(separator: "\n"))
    }

    /// Waits until /healthz answers 200 (with `auth` headers).
    static func waitForServer(port: Int, auth: [String] = [], process: Running) throws {
        let ok = eventually(60) {
            (try? curl(auth + ["http://127.0.0.1:\(port)/healthz"]).status) == 200 || !process.process.isRunning
        }
        XCTAssertTrue(ok && process.process.isRunning, "the live view did not answer: \(process.errors)")
    }

    /// Clips of a real face, `seconds` long at 25 fps.
    static func clips(_ count: Int, in dir: URL, seconds: Int, size: Int = 320, container: String = "mp4") throws -> [String] {
        let first = try CLI.faceClip(in: dir, name: "face-1.\(container)", frames: seconds * 25, size: size)
        var paths = [first]
        for i in 1..<max(1, count) {
            let copy = dir.appendingPathComponent("face-\(i + 1).\(container)").path
            try FileManager.default.copyItem(atPath: first, toPath: copy)
            paths.append(copy)
        }
        return Array(paths.prefix(count))
    }

    /// The width and height in a JPEG's SOF segment.
    static func jpegSize(_ b: [UInt8]) -> (width: Int, height: Int)? {
        guard b.count > 4, b[0] == 0xFF, b[1] == 0xD8 else { return nil }
        var i = 2
        while i + 9 < b.count {
            guard b[i] == 0xFF else { return nil }
            let marker = b[i + 1], length = Int(b[i + 2]) << 8 | Int(b[i + 3])
            if (0xC0...0xC2).contains(marker) { return (Int(b[i + 7]) << 8 | Int(b[i + 8]), Int(b[i + 5]) << 8 | Int(b[i + 6])) }
            i += 2 + length
        }
        return nil
    }

    // MARK: - Starting

    func testAPortInUseFailsInOneLineBeforeAnythingIsAnalysed() throws {
        let dir = try CLI.tempDirectory()
        let clip = try CLI.faceClip(in: dir, frames: 10)
        let taken = try LoopbackSocket(listening: true)
        defer { taken.close() }
        let r = try CLI.ferStream(["--no-progress", "--serve", "127.0.0.1:\(taken.port)", clip])
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stdout, "", "nothing analysed")
        let lines = r.stderr.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("127.0.0.1:\(taken.port)") && r.stderr.contains("Address already in use"), r.stderr)
    }

    func testANonLoopbackAddressNeedsAToken() throws {
        let r = try CLI.ferStream(["--serve", "0.0.0.0:0", "clip.mp4"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("--serve-token"), r.stderr)
    }

    // MARK: - curl

    func testMJPEGSnapshotMetricsAndSourcesOverCurl() throws {
        let dir = try CLI.tempDirectory()
        let clip = try Self.clips(1, in: dir, seconds: 12)[0]
        let port = try freePort()
        let run = try Running(["--no-progress", "--realtime", "--serve", "127.0.0.1:\(port)", "--serve-width", "160", "-o",
                               dir.appendingPathComponent("out.ndjson").path, clip], in: dir)
        defer { run.stop() }
        try Self.waitForServer(port: port, process: run)
        let base = "http://127.0.0.1:\(port)"
        XCTAssertTrue(eventually(30) {
            guard let s = try? Self.curl(["\(base)/api/sources"]), s.status == 200,
                  let list = try? JSONSerialization.jsonObject(with: Data(s.body.utf8)) as? [[String: Any]],
                  let stats = list.first?["stats"] as? [String: Any] else { return false }
            return (stats["frames_analysed"] as? Int ?? 0) > 0
        }, "/api/sources shows the input analysing")

        // The page and nothing of the file system.
        let page = try Self.curl(["\(base)/"])
        XCTAssertEqual(page.status, 200)
        XCTAssertTrue(page.body.contains("<canvas") || page.body.contains("canvas"), "the page")
        XCTAssertFalse(page.body.contains("http://") || page.body.contains("https://"), "nothing fetched from elsewhere")
        for path in ["/etc/passwd", "/../../etc/passwd", "/sources/..%2F..%2Fetc%2Fpasswd/snapshot.jpg", "/Sources/LiveView/Page.swift"] {
            let r = try Self.curl(["--path-as-is", base + path])
            XCTAssertEqual(r.status, 404, path)
        }

        // The snapshot: a JPEG of the clip's 320×320 scaled to --serve-width 160.
        let snap = dir.appendingPathComponent("snap.jpg").path
        let snapHeaders = dir.appendingPathComponent("snap.headers").path
        let s = try Self.curl(["-o", snap, "-D", snapHeaders, "\(base)/sources/face-1/snapshot.jpg"])
        XCTAssertEqual(s.status, 200)
        let sh = try String(contentsOfFile: snapHeaders, encoding: .utf8).lowercased()
        XCTAssertTrue(sh.contains("content-type: image/jpeg"), sh)
        let size = Self.jpegSize(Array(try Data(contentsOf: URL(fileURLWithPath: snap))))
        XCTAssertEqual(size?.width, 160)
        XCTAssertEqual(size?.height, 160)

        // MJPEG: multipart/x-mixed-replace, several JPEG parts in 3 s.
        let body = dir.appendingPathComponent("mjpeg.bin").path
        let headers = dir.appendingPathComponent("mjpeg.headers").path
        _ = try CLI.run("/usr/bin/curl", ["-s", "--max-time", "3", "-D", headers, "-o", body, "\(base)/sources/face-1/mjpeg"])
        let head = try String(contentsOfFile: headers, encoding: .utf8)
        XCTAssertTrue(head.lowercased().contains("content-type: multipart/x-mixed-replace; boundary=ferstreamframe"), head)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: body))
        let marker = Data("--ferstreamframe\r\nContent-Type: image/jpeg\r\nContent-Length: ".utf8)
        var parts = 0, from = bytes.startIndex
        while let r = bytes.range(of: marker, in: from..<bytes.endIndex) {
            let rest = bytes[r.upperBound...]
            guard let end = rest.range(of: Data("\r\n\r\n".utf8)) else { break }
            let length = Int(String(decoding: rest[rest.startIndex..<end.lowerBound], as: UTF8.self)) ?? -1
            let jpeg = Array(bytes[end.upperBound..<min(bytes.endIndex, end.upperBound + max(0, length))])
            if jpeg.count == length { XCTAssertEqual(Self.jpegSize(jpeg)?.width, 160); parts += 1 }
            from = end.upperBound
        }
        XCTAssertGreaterThanOrEqual(parts, 5, "MJPEG parts in 3 s at ≤ 15 fps")

        // /metrics parses as Prometheus text (prometheus_client's parser), with the families and this input.
        let text = dir.appendingPathComponent("metrics.txt").path
        let m = try Self.curl(["-o", text, "\(base)/metrics"])
        XCTAssertEqual(m.status, 200)
        let parsed = try CLI.run("/usr/bin/env", ["python3", Self.client, "metrics", text])
        XCTAssertEqual(parsed.status, 0, parsed.stderr)
        let families = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(parsed.stdout.utf8)) as? [String: [String: Any]])
        for name in ["fer_stream_frames_decoded", "fer_stream_frames_analysed", "fer_stream_frames_skipped", "fer_stream_faces",
                     "fer_stream_crops", "fer_stream_labels", "fer_stream_sink_dropped"] {
            XCTAssertEqual(families[name]?["type"] as? String, "counter", name)
        }
        XCTAssertEqual(families["fer_stream_latency_seconds"]?["type"] as? String, "histogram")
        let analysed = (families["fer_stream_frames_analysed"]?["samples"] as? [[Any]])?.first
        XCTAssertEqual((analysed?[1] as? [String: String])?["source"], "face-1")
        XCTAssertGreaterThan(analysed?[2] as? Double ?? 0, 0)
        let labels = families["fer_stream_labels"]?["samples"] as? [[Any]] ?? []
        XCTAssertFalse(labels.isEmpty, "label counts of the face")

        // A client message over 4 KiB closes that viewer (1009, too big); the run and the server go on.
        let big = try CLI.run("/usr/bin/env", ["python3", Self.client, "oversize", "ws://127.0.0.1:\(port)/ws"])
        XCTAssertEqual(big.status, 0, big.stderr)
        XCTAssertTrue(big.stdout.hasPrefix("closed"), big.stdout)
        XCTAssertEqual(try Self.curl(["\(base)/healthz"]).status, 200)
        XCTAssertTrue(run.process.isRunning)

        run.stop()
    }

    func testATokenGuardsEveryRequestOnANonLoopbackBind() throws {
        let dir = try CLI.tempDirectory()
        let clip = try Self.clips(1, in: dir, seconds: 10)[0]
        let port = try freePort()
        var env = ProcessInfo.processInfo.environment
        env["FER_STREAM_SERVE_TOKEN"] = "t0k3n-abc"
        let run = try Running(["--no-progress", "--realtime", "--serve", "0.0.0.0:\(port)", clip], in: dir, environment: env)
        defer { run.stop() }
        let bearer = ["-H", "Authorization: Bearer t0k3n-abc"]
        try Self.waitForServer(port: port, auth: bearer, process: run)
        let base = "http://127.0.0.1:\(port)"
        for path in ["/", "/healthz", "/metrics", "/api/sources", "/sources/face-1/snapshot.jpg", "/ws"] {
            XCTAssertEqual(try Self.curl([base + path]).status, 401, "\(path) without the token")
            XCTAssertEqual(try Self.curl(["-H", "Authorization: Bearer wrong", base + path]).status, 401, "\(path) with a wrong token")
        }
        XCTAssertEqual(try Self.curl(bearer + ["\(base)/metrics"]).status, 200)
        // A browser's first load: ?token= sets the cookie, which then suffices.
        let jar = dir.appendingPathComponent("cookies.txt").path
        XCTAssertEqual(try Self.curl(["-c", jar, "\(base)/?token=t0k3n-abc"]).status, 200)
        XCTAssertEqual(try Self.curl(["-b", jar, "\(base)/api/sources"]).status, 200)
        // The WebSocket: upgraded with the token and the page's own origin; refused (Hummingbird's
        // failed upgrade: 400, no frames) from another origin or without the token.
        func upgrade(_ origin: String, auth: [String] = bearer) throws -> Int {
            try Self.curl(auth + ["--max-time", "2", "-o", "/dev/null", "-H", "Connection: Upgrade", "-H", "Upgrade: websocket",
                                    "-H", "Sec-WebSocket-Version: 13", "-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                                    "-H", "Origin: \(origin)", "\(base)/ws"]).status
        }
        XCTAssertEqual(try upgrade("http://127.0.0.1:\(port)"), 101)
        XCTAssertEqual(try upgrade("http://evil.example"), 400)
        XCTAssertEqual(try upgrade("http://127.0.0.1:\(port)", auth: []), 400)
        // Without the upgrade headers the same refusals say why.
        XCTAssertEqual(try Self.curl(bearer + ["-H", "Origin: http://evil.example", "\(base)/ws"]).status, 403)
        // A malformed request is refused; the run goes on.
        let bad = try CLI.shell("printf 'GARBAGE\\r\\n\\r\\n' | timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/\(port); cat >&3; cat <&3' | head -c 12")
        XCTAssertTrue(bad.stdout.hasPrefix("HTTP/1.1 4") || bad.stdout.isEmpty, bad.stdout)
        XCTAssertEqual(try Self.curl(bearer + ["\(base)/healthz"]).status, 200)
        XCTAssertTrue(run.process.isRunning)
    }

    /// Viewers that stop reading (a tiny receive buffer, never read) and an MJPEG client that never
    /// reads, connected before the first frame: the run still analyses every frame of the file and
    /// exits 0 (a stall would hang it until the 180 s limit). The time is printed, not compared:
    /// benchmarks/live_view.py compares it, interleaved.
    func testAViewerThatStopsReadingDoesNotStallTheRun() throws {
        let dir = try CLI.tempDirectory()
        let clip = try Self.clips(1, in: dir, seconds: 8, size: 480, container: "mkv")[0]
        let port = try freePort()
        // stdin: the server is up before the input is read, so the viewers are in place from the first frame.
        let run = try Running(["--no-progress", "--stats", "--serve", "127.0.0.1:\(port)", "-"], in: dir)
        defer { run.stop() }
        try Self.waitForServer(port: port, process: run)
        let stalled = Process()
        stalled.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        stalled.arguments = ["python3", Self.client, "stall", "ws://127.0.0.1:\(port)/ws", "--seconds", "120", "--viewers", "2",
                             "--mjpeg", "http://127.0.0.1:\(port)/sources/stdin/mjpeg"]
        let said = Pipe()
        stalled.standardOutput = said
        try stalled.run()
        defer { if stalled.isRunning { kill(stalled.processIdentifier, SIGTERM) } }
        let line = String(decoding: said.fileHandleForReading.availableData, as: UTF8.self)
        XCTAssertTrue(line.hasPrefix("stalled 3"), "the stalled viewers (2 pages, 1 MJPEG client) connected: \(line)")
        XCTAssertTrue(eventually(10) {
            (try? Self.curl(["http://127.0.0.1:\(port)/metrics"]).body.contains("fer_stream_live_viewers 3")) ?? false
        }, "3 viewers connected")

        let t0 = Date()
        let data = try Data(contentsOf: URL(fileURLWithPath: clip))
        run.stdin.fileHandleForWriting.write(data)
        try run.stdin.fileHandleForWriting.close()
        XCTAssertEqual(run.wait(180), 0, run.errors)
        let seconds = Date().timeIntervalSince(t0)
        XCTAssertEqual(run.lines.count, 200, "every frame analysed: \(run.errors)")
        // The live sink did encode for them (it was not idle), and its drops are counted, not waited for.
        let stats = run.errors.split(separator: "\n").last { $0.contains("\"frames_analysed\"") }.map(String.init) ?? ""
        XCTAssertTrue(stats.contains("\"frames_analysed\":200"), stats)
        print("stalled viewers: 200 frames in \(String(format: "%.1f", seconds)) s; \(stats)")
    }

    /// `--serve-viewers 1`: while one MJPEG client watches, another client is refused (503) and the run goes on.
    func testViewersAreBounded() throws {
        let dir = try CLI.tempDirectory()
        let clip = try Self.clips(1, in: dir, seconds: 10)[0]
        let port = try freePort()
        let run = try Running(["--no-progress", "--realtime", "--serve", "127.0.0.1:\(port)", "--serve-viewers", "1", "-o", "/dev/null", clip], in: dir)
        defer { run.stop() }
        try Self.waitForServer(port: port, process: run)
        let first = Process()
        first.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        first.arguments = ["-s", "--max-time", "6", "-o", "/dev/null", "http://127.0.0.1:\(port)/sources/face-1/mjpeg"]
        try first.run()
        defer { first.waitUntilExit() }
        XCTAssertTrue(eventually(5) {
            (try? Self.curl(["http://127.0.0.1:\(port)/metrics"]).body.contains("fer_stream_live_viewers 1")) ?? false
        })
        XCTAssertEqual(try Self.curl(["--max-time", "2", "-o", "/dev/null", "http://127.0.0.1:\(port)/sources/face-1/mjpeg"]).status, 503)
        XCTAssertEqual(try Self.curl(["http://127.0.0.1:\(port)/ws"]).status, 503)
        XCTAssertEqual(try Self.curl(["http://127.0.0.1:\(port)/healthz"]).status, 200)
        XCTAssertTrue(run.process.isRunning)
    }

    /// An input that cannot be opened is shown as ended, with its error, while the others run.
    func testAnInputThatFailsIsShownEndedWithItsError() throws {
        let dir = try CLI.tempDirectory()
        let clip = try Self.clips(1, in: dir, seconds: 10)[0]
        let missing = dir.appendingPathComponent("missing.mp4").path
        let port = try freePort()
        let run = try Running(["--no-progress", "--realtime", "--serve", "127.0.0.1:\(port)", "-o", "/dev/null", clip, missing], in: dir)
        defer { run.stop() }
        try Self.waitForServer(port: port, process: run)
        var shown: [[String: Any]] = []
        XCTAssertTrue(eventually(30) {
            guard let s = try? Self.curl(["http://127.0.0.1:\(port)/api/sources"]),
                  let list = try? JSONSerialization.jsonObject(with: Data(s.body.utf8)) as? [[String: Any]] else { return false }
            shown = list
            return list.count == 2 && list[1]["ended"] as? Bool == true && list[0]["started"] as? Bool == true
        }, "\(shown)")
        XCTAssertEqual(shown.map { $0["name"] as? String }, ["face-1", "missing"])
        XCTAssertTrue((shown[1]["error"] as? String ?? "").contains("missing.mp4"), "\(shown[1])")
        XCTAssertEqual(shown[0]["ended"] as? Bool, false, "the other input goes on")
    }

    // MARK: - Chromium

    private func browserCheck(inputs: Int, seconds: Int, screenshot: String) throws {
        let dir = try CLI.tempDirectory()
        let clips = try Self.clips(inputs, in: dir, seconds: seconds)
        let port = try freePort()
        let ndjson = dir.appendingPathComponent("out.ndjson").path
        let run = try Running(["--no-progress", "--realtime", "--files-at-once", "\(inputs)", "--serve", "127.0.0.1:\(port)", "-o", ndjson] + clips, in: dir)
        defer { run.stop() }
        try Self.waitForServer(port: port, process: run)
        let shot = dir.appendingPathComponent(screenshot).path
        let r = try CLI.run("/usr/bin/env", ["python3", Self.client, "browser", "http://127.0.0.1:\(port)/", "--tiles", "\(inputs)",
                                             "--ndjson", ndjson, "--screenshot", shot, "--seconds", "4"])
        XCTAssertEqual(r.status, 0, "the page in Chromium: \(r.stderr)\n\(r.stdout)\nfer-stream: \(run.errors)")
        print("chromium, \(inputs) inputs: \(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)); screenshot \(shot)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: shot), "a screenshot for a person to look at")
        let summary = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertGreaterThan(summary["faces_checked"] as? Int ?? 0, 0)
    }

    func testChromiumShowsOneTilePerInputWithTheNDJSONsBoxesAndLabels() throws {
        try browserCheck(inputs: 4, seconds: 60, screenshot: "live-4.png")
    }

    func testChromiumShowsEightInputsAllAdvancing() throws {
        try browserCheck(inputs: 8, seconds: 60, screenshot: "live-8.png")
    }
}
