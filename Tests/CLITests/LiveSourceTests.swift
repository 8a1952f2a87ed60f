import Foundation
import XCTest
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Live RTSP input against a real RTSP server on 127.0.0.1 (scripts/rtsp-test-server.py, GStreamer),
/// started and killed by the tests: real-time reading, reconnecting after the server dies, and
/// failing fast when nothing answers.
final class LiveSourceTests: XCTestCase {
    override func setUpWithError() throws {
        guard FileManager.default.fileExists(atPath: CLI.model) else { throw XCTSkip("no model at \(CLI.model)") }
        let check = try CLI.run("/usr/bin/python3", [RTSPServer.script, "--check"])
        guard check.status == 0 else {
            throw XCTSkip("no RTSP test server: \(check.stderr.isEmpty ? "/usr/bin/python3 cannot run it" : check.stderr) "
                          + "(scripts/install-deps.sh installs python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good)")
        }
    }

    func testStreamIsReadInRealTimeAndStopsCleanlyOnInterrupt() throws {
        let server = try RTSPServer(port: try freePort())
        defer { server.stop() }
        let run = try LiveRun(["--tta", "center", "--timeout", "5", server.url])
        defer { run.kill() }
        let started = Date()
        XCTAssertTrue(run.waitFor(lines: 25, timeout: 20), "lines arrive while the stream plays; stderr: \(run.stderr)")
        let elapsed = Date().timeIntervalSince(started)
        run.interrupt()
        let status = run.wait(timeout: 15)
        XCTAssertEqual(status, 0, run.stderr)
        XCTAssertTrue(run.stdout.hasSuffix("\n"), "the last line is whole")
        let objects = try parse(run.stdout)
        XCTAssertGreaterThanOrEqual(objects.count, 25)
        let frames = objects.map { $0["frame"] as! Int }
        let times = objects.map { $0["t"] as! Double }
        assertStrictlyRising(frames, "frame")
        assertStrictlyRising(times, "t")
        // Every frame is accounted for: shown, or counted as skipped on the next line.
        for i in 1..<objects.count {
            XCTAssertEqual(frames[i], frames[i - 1] + ((objects[i]["skipped"] as? Int) ?? 0) + 1, "line \(i)")
        }
        // A live stream cannot run ahead of the clock: 25 lines took at least ~1 s of stream time
        // at 25 frames/s, and the stream time read is no more than the wall time spent (plus the
        // server's small start-up buffer).
        XCTAssertGreaterThanOrEqual(times.last!, 0.9)
        XCTAssertLessThan(times[24], elapsed + 1.5, "read at the stream's pace, not faster")
    }

    /// Regression: on live input `--annotate` wrote a 48-byte file with no moov atom (the live
    /// source's frames had lost their colour pictures) and still exited 0.
    func testLiveAnnotationStoppedByInterruptIsPlayable() throws {
        let server = try RTSPServer(port: try freePort())
        defer { server.stop() }
        let out = Scratch.path("live-annotated.mp4")
        defer { try? FileManager.default.removeItem(atPath: out) }
        let run = try LiveRun(["--tta", "center", "--timeout", "5", "--annotate", out, server.url])
        defer { run.kill() }
        XCTAssertTrue(run.waitFor(lines: 25, timeout: 25), "stderr: \(run.stderr)")
        run.interrupt()
        XCTAssertEqual(run.wait(timeout: 20), 0, run.stderr)
        let lines = try parse(run.stdout).count
        let probe = try CLI.run("/usr/bin/ffprobe", ["-v", "error", "-count_frames", "-select_streams", "v:0",
                                                     "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", out])
        XCTAssertEqual(probe.status, 0, "ffprobe: \(probe.stderr)")
        let frames = Int(probe.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        // Every picture shown on stdout is in the video (skipped ones are neither).
        XCTAssertGreaterThanOrEqual(frames, lines - 1, "annotated frames vs \(lines) NDJSON lines")
        XCTAssertGreaterThanOrEqual(frames, 20)
    }

    func testServerKilledAndRestartedMidStreamIsReconnected() throws {
        let port = try freePort()
        var server = try RTSPServer(port: port)
        defer { server.stop() }
        let run = try LiveRun(["--tta", "center", "--timeout", "3", "--reconnect", "6", server.url])
        defer { run.kill() }
        XCTAssertTrue(run.waitFor(lines: 20, timeout: 20), "stderr: \(run.stderr)")
        server.kill()
        let linesBeforeRestart = run.lineCount
        Thread.sleep(forTimeInterval: 1)  // the port stays closed for a while: at least one try fails
        server = try RTSPServer(port: port)
        XCTAssertTrue(run.waitFor(lines: linesBeforeRestart + 20, timeout: 25), "carries on after the restart; stderr: \(run.stderr)")
        run.interrupt()
        XCTAssertEqual(run.wait(timeout: 15), 0, run.stderr)

        let log = run.stderr
        XCTAssertTrue(log.contains("fer-stream: \(server.url): ") && log.contains("; reconnecting"), log)
        XCTAssertTrue(log.contains("reconnect try 1 of 6 failed"), "a try while the server was down: \(log)")
        XCTAssertTrue(log.contains("reconnected (try"), log)
        let objects = try parse(run.stdout)
        XCTAssertGreaterThan(objects.count, linesBeforeRestart + 10, "lines after the restart")
        assertStrictlyRising(objects.map { $0["frame"] as! Int }, "frame")
        assertStrictlyRising(objects.map { $0["t"] as! Double }, "t")
    }

    func testNothingListeningFailsFastWithOneLine() throws {
        // A closed port: refused at once.
        let closed = "rtsp://127.0.0.1:\(try freePort())/live"
        var started = Date()
        let refused = try CLI.ferStream(["--tta", "center", "--timeout", "2", "--reconnect", "0", closed])
        XCTAssertLessThan(Date().timeIntervalSince(started), 10)
        XCTAssertEqual(refused.status, 1, refused.stderr)
        XCTAssertEqual(refused.stderr.split(separator: "\n").count, 1, refused.stderr)
        XCTAssertTrue(refused.stderr.contains(closed), refused.stderr)
        XCTAssertEqual(refused.stdout, "")

        // A port that accepts connections but never answers: the timeout ends the wait.
        let silent = try LoopbackSocket(listening: true)
        defer { silent.close() }
        let url = "rtsp://127.0.0.1:\(silent.port)/live"
        started = Date()
        let timedOut = try CLI.ferStream(["--tta", "center", "--timeout", "2", "--reconnect", "0", url])
        let took = Date().timeIntervalSince(started)
        XCTAssertGreaterThanOrEqual(took, 1.9, "waited for the timeout")
        XCTAssertLessThan(took, 12, "but not much longer (model loading included)")
        XCTAssertEqual(timedOut.status, 1, timedOut.stderr)
        XCTAssertEqual(timedOut.stderr.split(separator: "\n").count, 1, timedOut.stderr)
        XCTAssertTrue(timedOut.stderr.contains(url), timedOut.stderr)
        XCTAssertEqual(timedOut.stdout, "")
    }

    // MARK: - Helpers

    private func parse(_ text: String) throws -> [[String: Any]] {
        try text.split(separator: "\n").map { line in
            try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not JSON: \(line)")
        }
    }

    private func assertStrictlyRising<T: Comparable>(_ values: [T], _ name: String, file: StaticString = #filePath, line: UInt = #line) {
        for i in values.indices.dropFirst() where values[i] <= values[i - 1] {
            XCTFail("\(name) does not rise at line \(i): \(values[i - 1]) then \(values[i])", file: file, line: line)
            return
        }
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on right now (the kernel's pick for port 0).
func freePort() throws -> Int {
    try LoopbackSocket(listening: false).port  // closed again when the socket goes
}

/// scripts/rtsp-test-server.py on a port, serving `url` until stopped or killed.
final class RTSPServer {
    static var script: String { CLI.root.appendingPathComponent("scripts/rtsp-test-server.py").path }
    let url: String
    private let process = Process()

    /// Starts the server and waits (bounded) until it listens.
    init(port: Int) throws {
        url = "rtsp://127.0.0.1:\(port)/live"
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [Self.script, "\(port)"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        // It prints its URL once it listens; EOF first means it failed to start.
        var printed = Data()
        let reader = out.fileHandleForReading
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline, !printed.contains(UInt8(ascii: "\n")) {
            let chunk = reader.availableData
            if chunk.isEmpty { break }
            printed.append(chunk)
        }
        guard String(decoding: printed, as: UTF8.self).hasPrefix(url) else {
            stop()
            throw XCTSkip("the RTSP test server did not start on port \(port)")
        }
    }

    /// SIGKILL: the connections drop as when a server crashes.
    func kill() {
        guard process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }
}

/// fer-stream running in the background, its output collected as it comes.
final class LiveRun: @unchecked Sendable {
    private let process = Process()
    private let lock = NSLock()
    private var out = Data()
    private var err = Data()
    private var openPipes = 2

    init(_ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: CLI.binary)
        process.arguments = arguments
        let outPipe = Pipe(), errPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        process.standardInput = FileHandle.nullDevice
        outPipe.fileHandleForReading.readabilityHandler = { [weak self] h in self?.take(h) { $0.out.append($1) } }
        errPipe.fileHandleForReading.readabilityHandler = { [weak self] h in self?.take(h) { $0.err.append($1) } }
        try process.run()
    }

    private func take(_ h: FileHandle, _ append: (LiveRun, Data) -> Void) {
        let d = h.availableData
        lock.withLock {
            if d.isEmpty { h.readabilityHandler = nil; openPipes -= 1 } else { append(self, d) }
        }
    }

    var stdout: String { lock.withLock { String(decoding: out, as: UTF8.self) } }
    var stderr: String { lock.withLock { String(decoding: err, as: UTF8.self) } }
    var lineCount: Int { lock.withLock { out.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) } } }

    /// Waits until `lines` whole lines were written; false on timeout or if the process ended first.
    func waitFor(lines: Int, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if lineCount >= lines { return true }
            if !process.isRunning { return lineCount >= lines }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return false
    }

    func interrupt() { if process.isRunning { process.interrupt() } }

    /// The exit status, or nil (and the process killed) if it did not end within `timeout`.
    func wait(timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        guard !process.isRunning else { kill(); return nil }
        // Until both pipes reached their end: the last bytes are in.
        while lock.withLock({ openPipes > 0 }) && Date() < deadline + 5 { Thread.sleep(forTimeInterval: 0.02) }
        return process.terminationStatus
    }

    func kill() {
        guard process.isRunning else { return }
        Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
