import FERCore
import Foundation
import Pipeline
import Output
@testable import Publishing
import TestSupport
import XCTest

final class PublishTargetTests: XCTestCase {
    func testMQTTURLs() throws {
        XCTAssertEqual(try PublishTarget(parsing: "mqtt://broker/fer"), .mqtt(MQTTTarget(host: "broker", port: 1883, prefix: "fer", qos: 0)))
        XCTAssertEqual(try PublishTarget(parsing: "MQTT://me:p%40ss@10.0.0.2:8883/home/fer?qos=1"),
                       .mqtt(MQTTTarget(host: "10.0.0.2", port: 8883, user: "me", password: "p@ss", prefix: "home/fer", qos: 1)))
        XCTAssertEqual(try PublishTarget(parsing: "mqtt://[::1]:1884/a?qos=0"), .mqtt(MQTTTarget(host: "::1", port: 1884, prefix: "a")))
        XCTAssertEqual(try PublishTarget(parsing: "mqtt://u@h/p"), .mqtt(MQTTTarget(host: "h", user: "u", prefix: "p")))
    }

    func testRedisURLs() throws {
        XCTAssertEqual(try PublishTarget(parsing: "redis://cache/fer"), .redis(RedisTarget(host: "cache", port: 6379, key: "fer", maxLength: 100_000)))
        XCTAssertEqual(try PublishTarget(parsing: "redis://127.0.0.1:7000/cam:1/frames?maxlen=50"),
                       .redis(RedisTarget(host: "127.0.0.1", port: 7000, key: "cam:1/frames", maxLength: 50)))
    }

    func testTheDescriptionHidesThePassword() throws {
        let t = try PublishTarget(parsing: "mqtt://me:hunter2@broker/fer?qos=1")
        XCTAssertEqual(t.description, "mqtt://me:***@broker:1883/fer?qos=1")
        XCTAssertFalse(t.description.contains("hunter2"))
        XCTAssertEqual(try PublishTarget(parsing: "redis://[::1]/k").description, "redis://[::1]:6379/k")
    }

    func testBadURLsAreOneLineErrorsNamingTheURLAndTheFault() {
        let cases: [(String, String)] = [
            ("broker/fer", "expected mqtt://HOST/PREFIX or redis://HOST/KEY"),
            ("http://broker/fer", "unknown scheme 'http'"),
            ("mqtt://broker", "no topic prefix"),
            ("mqtt://broker/", "no topic prefix"),
            ("mqtt:///fer", "no host"),
            ("mqtt://broker:0/fer", "the port must be a number from 1 to 65535, not '0'"),
            ("mqtt://broker:99999/fer", "not '99999'"),
            ("mqtt://broker:x/fer", "not 'x'"),
            ("mqtt://broker/fer/#", "wildcard"),
            ("mqtt://broker/a+b", "wildcard"),
            ("mqtt://broker/fer/", "empty level"),
            ("mqtt://broker/a//b", "empty level"),
            ("mqtt://broker/$SYS", "the broker's own"),
            ("mqtt://broker/fer?qos=2", "qos must be 0 or 1, not '2'"),
            ("mqtt://broker/fer?qos=1&qos=0", "'qos' is given twice"),
            ("mqtt://broker/fer?retain=1", "unknown parameter 'retain' (expected qos)"),
            ("mqtt://:pw@broker/fer", "empty or malformed user name"),
            ("mqtt://broker/f%zz", "malformed %-escape"),
            ("mqtt://[::1/fer", "unclosed '['"),
            ("redis://cache", "no stream key"),
            ("redis://cache/k?maxlen=0", "maxlen must be a whole number above 0, not '0'"),
            ("redis://cache/k?maxlen=ten", "not 'ten'"),
            ("redis://cache/k?qos=1", "unknown parameter 'qos' (expected maxlen)"),
            ("redis://user:pw@cache/k", "a user name or password is not supported"),
        ]
        for (url, reason) in cases {
            XCTAssertThrowsError(try PublishTarget(parsing: url), url) { error in
                let text = "\(error)"
                XCTAssertTrue(text.hasPrefix("invalid publish URL '"), text)
                XCTAssertTrue(text.contains(reason), "\(url): \(text)")
                XCTAssertFalse(text.contains("\n"), text)
                XCTAssertFalse(text.contains("--"), "the library names no command-line flags: \(text)")
                if !url.contains("pw@") { XCTAssertTrue(text.contains("'\(url)'"), text) }
            }
        }
    }

    func testAPasswordNeverAppearsInAnError() {
        XCTAssertThrowsError(try PublishTarget(parsing: "mqtt://me:hunter2@broker/fer?qos=7")) { error in
            XCTAssertEqual("\(error)", "invalid publish URL 'mqtt://me:***@broker/fer?qos=7': qos must be 0 or 1, not '7'")
        }
        XCTAssertThrowsError(try Publishers.make(url: "ftp://me:hunter2@x/y", labels: .fer2013, log: { _ in })) { error in
            XCTAssertFalse("\(error)".contains("hunter2"))
        }
    }

    func testThePendingBufferKeepsTheNewestInOrder() {
        var b = PendingMessages<Int>(capacity: 3)
        XCTAssertFalse(b.append(1))
        XCTAssertFalse(b.append(2))
        XCTAssertFalse(b.append(3))
        XCTAssertTrue(b.append(4))  // 1 goes
        XCTAssertEqual(b.prefix(10), [2, 3, 4])
        b.removeFirst()
        XCTAssertTrue(!b.append(5) && b.append(6))
        XCTAssertEqual(b.prefix(10), [4, 5, 6])
        XCTAssertEqual(b.first, 4)
        XCTAssertEqual(b.removeAll(), 3)
        XCTAssertTrue(b.isEmpty)
        XCTAssertNil(b.first)
    }

    func testTheBackoffDoublesToItsCeilingAndResets() {
        var b = Backoff(initial: 0.5, maximum: 10)
        XCTAssertEqual((0..<7).map { _ in b.next() }, [0.5, 1, 2, 4, 8, 10, 10].map { .milliseconds(Int($0 * 1000)) })
        b.reset()
        XCTAssertEqual(b.next(), .milliseconds(500))
    }

    func testTheLineIsWhatTheWriterWrites() throws {
        let path = Scratch.path("lines.ndjson")
        let writer = try NDJSONWriter(sink: LineSink(path: path), labels: .fer2013)
        var expected = ""
        for r in Fixture.story() + [FrameResult(frame: 7, time: 1e-7, faces: [], file: "a \"b\".jpg", skipped: 3)] {
            try writer.write(r)
            expected += writer.line(for: r) + "\n"
        }
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), expected)
        XCTAssertFalse(writer.line(for: Fixture.plain(0)).contains("\n"))
    }

    func testTimesPrintWithoutExponents() {
        XCTAssertEqual(timeText(0.25), "0.25")
        XCTAssertEqual(timeText(1.0 / 30), "0.033333")
        XCTAssertEqual(timeText(1e-7), "0.0")
        XCTAssertEqual(timeText(0.00005), "0.00005")
    }
}
