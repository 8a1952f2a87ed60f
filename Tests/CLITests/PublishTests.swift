import Foundation
import TestSupport
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// `--publish` end to end: the built binary on a generated clip, against mosquitto and
/// redis-server started on loopback (a service that cannot start fails the test).
final class PublishTests: XCTestCase {
    private func objects(_ lines: [String]) throws -> [[String: Any]] {
        try lines.map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
    }

    /// Per track, how many times its label changed from one analysed frame to the next.
    private func labelChanges(_ lines: [[String: Any]]) -> [Int: Int] {
        var last: [Int: String] = [:], changes: [Int: Int] = [:]
        for line in lines {
            for face in line["faces"] as? [[String: Any]] ?? [] {
                let track = face["track"] as! Int, label = face["label"] as! String
                if let before = last[track], before != label { changes[track, default: 0] += 1 }
                last[track] = label
                changes[track, default: 0] += 0
            }
        }
        return changes
    }

    private func redis(_ port: Int, _ args: [String]) throws -> String {
        let r = try CLI.run(try XCTUnwrap(Service.find("redis-cli")), ["-p", "\(port)"] + args)
        XCTAssertEqual(r.status, 0, r.stderr)
        return r.stdout
    }

    func testEveryAnalysedFrameAndEveryLabelChangeReachMQTTAndRedis() throws {
        let dir = try CLI.tempDirectory()
        let clip = try CLI.faceClip(in: dir, name: "face.mp4", frames: 40)
        let broker = try started(Service.mosquitto())
        let server = try started(Service.redis())
        let subscriber = try Subscriber(port: broker.port, topic: "fer/#")
        defer { subscriber.stop(); broker.stop(); server.stop() }
        XCTAssertTrue(eventually(10) { portAccepts(broker.port) })
        usleep(300_000)  // the subscription is in place before anything is published

        let r = try CLI.ferStream(["--no-progress", "--stats", "--publish", "mqtt://127.0.0.1:\(broker.port)/fer",
                                   "--publish", "redis://127.0.0.1:\(server.port)/fer", clip])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.lines
        XCTAssertEqual(lines.count, 40)
        XCTAssertTrue(eventually { subscriber.payloads(on: "fer/face.mp4/frame").count >= lines.count })
        XCTAssertEqual(subscriber.payloads(on: "fer/face.mp4/frame"), lines, "MQTT: each analysed frame's NDJSON line, in order")
        XCTAssertEqual(subscriber.payloads(on: "fer/available").last, "offline")

        // Events: a new and an end per track, an update per label change.
        let changes = labelChanges(try objects(lines))
        XCTAssertFalse(changes.isEmpty, "the clip's face is tracked")
        XCTAssertTrue(eventually { subscriber.payloads(on: "fer/face.mp4/events").count >= 2 * changes.count + changes.values.reduce(0, +) })
        let events = try objects(subscriber.payloads(on: "fer/face.mp4/events"))
        for (track, count) in changes {
            let mine = events.filter { $0["track"] as? Int == track }.map { $0["type"] as! String }
            XCTAssertEqual(mine, ["new"] + Array(repeating: "update", count: count) + ["end"], "track \(track)")
        }

        // Redis: the same lines in the stream, the events beside it.
        XCTAssertEqual(try redis(server.port, ["XLEN", "fer"]).trimmingCharacters(in: .whitespacesAndNewlines), "\(lines.count)")
        let range = try redis(server.port, ["--no-raw", "XRANGE", "fer", "-", "+"])
        for line in lines.prefix(3) { XCTAssertTrue(range.contains(line.replacingOccurrences(of: "\"", with: "\\\"")), "XRANGE holds \(line)") }
        XCTAssertEqual(try redis(server.port, ["XLEN", "fer:events"]).trimmingCharacters(in: .whitespacesAndNewlines), "\(events.count)")
        // --stats counts what each publisher lost: nothing here.
        let stats = try objects(r.stderr.split(separator: "\n").map(String.init).filter { $0.hasPrefix("{") })
        let dropped = try XCTUnwrap(stats.last?["dropped"] as? [String: Int])
        XCTAssertEqual(Set(dropped.values), [0])
    }

    func testAnUnreachableBrokerFailsBeforeAnythingIsAnalysed() throws {
        let dir = try CLI.tempDirectory()
        let clip = try CLI.faceClip(in: dir, frames: 5)
        let port = try freePort()
        for url in ["mqtt://127.0.0.1:\(port)/fer", "redis://127.0.0.1:\(port)/fer"] {
            let r = try CLI.ferStream(["--no-progress", "--publish", url, clip])
            XCTAssertEqual(r.status, 1, r.stderr)
            XCTAssertEqual(r.stdout, "", "nothing analysed")
            let errors = r.stderr.split(separator: "\n")
            XCTAssertEqual(errors.count, 1, r.stderr)
            XCTAssertTrue(errors.first?.contains("127.0.0.1:\(port)") ?? false, r.stderr)
        }
    }

    /// The broker goes away mid-run and comes back: the run goes on and completes, says so once
    /// each way, and what comes after the restart arrives.
    func testABrokerLostMidRunIsReconnectedAndTheRunCompletes() throws {
        let dir = try CLI.tempDirectory()
        let clip = try CLI.faceClip(in: dir, name: "long.mp4", frames: 150)  // 6 s at 25 fps, read in real time
        let broker = try started(Service.mosquitto())
        defer { broker.stop() }
        let output = Scratch.path("stopped-broker-run.ndjson")
        let run = Process()
        run.executableURL = URL(fileURLWithPath: CLI.binary)
        run.arguments = ["--no-progress", "--realtime", "--stats", "-o", output, "--publish", "mqtt://127.0.0.1:\(broker.port)/fer", clip]
        let err = Pipe()
        run.standardError = err
        run.standardOutput = FileHandle.nullDevice
        try run.run()
        sleep(2)
        broker.stop()
        sleep(2)
        try broker.start()
        let subscriber = try Subscriber(port: broker.port, topic: "fer/long.mp4/frame")
        defer { subscriber.stop() }
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        run.waitUntilExit()
        XCTAssertEqual(run.terminationStatus, 0, stderr)
        XCTAssertEqual(stderr.components(separatedBy: "connection lost").count - 1, 1, stderr)
        XCTAssertEqual(stderr.components(separatedBy: "reconnected").count - 1, 1, stderr)
        let lines = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n")
        XCTAssertFalse(lines.isEmpty)
        XCTAssertTrue(eventually(10) { !subscriber.payloads(on: "fer/long.mp4/frame").isEmpty }, "frames after the restart arrive")
        let stats = try objects(stderr.split(separator: "\n").map(String.init).filter { $0.hasPrefix("{") })
        XCTAssertEqual(stats.last?["frames_decoded"] as? Int, 150, "the whole input was read: the analysis did not wait for the broker")
        let dropped = try XCTUnwrap(stats.last?["dropped"] as? [String: Int], "drops are counted: \(stderr)")
        XCTAssertEqual(dropped.keys.filter { $0.hasPrefix("mqtt://127.0.0.1:\(broker.port)") }.count, 1, "\(dropped)")
    }
}
