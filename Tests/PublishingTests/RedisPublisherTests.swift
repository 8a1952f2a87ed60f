import CHiredis
import FERCore
import Foundation
import Pipeline
import Output
import Publishing
import TestSupport
import XCTest

/// Against a real redis-server on loopback, read back with hiredis.
final class RedisPublisherTests: XCTestCase {
    private func options(buffer: Int = 1000) -> PublishOptions {
        var o = PublishOptions()
        o.bufferCapacity = buffer
        o.connectTimeout = 2
        o.initialBackoff = 0.1
        o.maxBackoff = 0.4
        return o
    }

    func testEveryFrameIsAStreamEntryAndTheEventsAreTheLabelChanges() throws {
        let server = try started(.redis())
        let log = LogLines()
        let sink = try Publishers.make(url: "redis://127.0.0.1:\(server.port)/fer:frames?maxlen=500", labels: Fixture.labels,
                                       options: options(), log: log.sink)
        XCTAssertEqual(sink.name, "redis://127.0.0.1:\(server.port)/fer:frames?maxlen=500")
        let frames = Fixture.story()
        for r in frames { try sink.consume(SinkFrame(source: Fixture.source, result: r)) }
        try sink.consume(SinkFrame(source: Fixture.source, result: Fixture.plain(99), analysed: false))
        try sink.finish()

        let reader = try RedisReader(port: server.port)
        let entries = try reader.range("fer:frames")
        XCTAssertEqual(entries.map { $0["json"] }, frames.map(Fixture.line))
        XCTAssertEqual(entries.map { $0["frame"] }, frames.map { "\($0.frame)" })
        XCTAssertEqual(entries.map { $0["t"] }, frames.map { "\($0.time)" })  // 0.25 steps print exactly
        XCTAssertTrue(entries.allSatisfy { $0["source"] == "/videos/clip one.mp4" })
        let events = try reader.range("fer:frames:events")
        XCTAssertTrue(Fixture.same(events.compactMap { $0["json"].flatMap(Fixture.summary) }, Fixture.storyEvents), "\(events)")
        XCTAssertEqual(events.map { $0["type"] }, Fixture.storyEvents.map(\.0))
        XCTAssertEqual(events.map { $0["track"] }, Fixture.storyEvents.map { "\($0.1)" })
        XCTAssertEqual(sink.droppedMessages, 0)
        XCTAssertEqual(log.all, [])
    }

    /// The server stops mid-run and comes back (empty: it keeps nothing) on the same port.
    func testAServerThatComesBackGetsWhatWaitedAndTheRestIsCounted() throws {
        let server = try started(.redis())
        let log = LogLines()
        let sink = try Publishers.make(url: "redis://127.0.0.1:\(server.port)/fer", labels: Fixture.labels,
                                       options: options(buffer: 5), log: log.sink)
        var next = 0
        func consume(_ n: Int) throws {
            for _ in 0..<n {
                try sink.consume(SinkFrame(source: Fixture.source, result: Fixture.plain(next)))
                next += 1
            }
        }
        try consume(10)
        XCTAssertEqual(try RedisReader(port: server.port).range("fer").count, 10)

        server.stop()
        // Noticed by the first frame after; 10 frames into room for 5, consume returning at once.
        try consume(10)
        XCTAssertEqual(log.count(containing: "connection lost"), 1, "\(log.all)")
        XCTAssertGreaterThanOrEqual(sink.droppedMessages, 5)

        try server.start()
        // Frames drive the reconnection (no more often than the back-off).
        XCTAssertTrue(eventually { (try? consume(1)) != nil && log.count(containing: "reconnected") == 1 }, "\(log.all)")
        let reconnectedAt = next
        try consume(10)
        try sink.finish()

        let after = try RedisReader(port: server.port).range("fer").compactMap { $0["json"].flatMap(Fixture.frameNumber) }
        XCTAssertEqual(Array(after.suffix(10)), Array(reconnectedAt..<next), "every frame after the reconnection arrives, in order")
        XCTAssertEqual(after, after.sorted())
        XCTAssertEqual(sink.droppedMessages, next - 10 - after.count, "what the restarted server lacks is what was counted")
        XCTAssertGreaterThanOrEqual(sink.droppedMessages, 5)
        XCTAssertEqual(log.count(containing: "connection lost"), 1, "\(log.all)")
        print("LOG", log.all); XCTAssertEqual(log.count(containing: "reconnected"), 1, "\(log.all)")
    }

    func testAServerThatIsNotThereAtTheStartIsAnErrorNamingIt() throws {
        let port = try freePort()
        XCTAssertThrowsError(try Publishers.make(url: "redis://127.0.0.1:\(port)/fer", labels: Fixture.labels, options: options(), log: { _ in })) {
            XCTAssertEqual("\($0)", "redis://127.0.0.1:\(port): cannot connect: Connection refused")
        }
    }

    func testAServerThatNeverAnswersIsAnErrorAfterTheTimeout() throws {
        let hung = try LoopbackSocket(listening: true)
        defer { hung.close() }
        var o = options()
        o.connectTimeout = 1
        XCTAssertThrowsError(try Publishers.make(url: "redis://127.0.0.1:\(hung.port)/fer", labels: Fixture.labels, options: o, log: { _ in })) {
            XCTAssertEqual("\($0)", "redis://127.0.0.1:\(hung.port): cannot connect: no answer within 1 s")
        }
    }

    func testAKeyHoldingSomethingElseIsAnError() throws {
        let server = try started(.redis())
        _ = try RedisReader(port: server.port).run(["SET", "taken", "a string"])
        XCTAssertThrowsError(try Publishers.make(url: "redis://127.0.0.1:\(server.port)/taken", labels: Fixture.labels, options: options(), log: { _ in })) {
            XCTAssertEqual("\($0)", "redis://127.0.0.1:\(server.port): key 'taken' holds a string, not a stream")
        }
    }
}

/// Reads streams back (hiredis, synchronous). Owns its context.
final class RedisReader {
    private let context: UnsafeMutablePointer<redisContext>

    init(port: Int) throws {
        guard let c = redisConnectWithTimeout("127.0.0.1", Int32(port), timeval(tv_sec: 5, tv_usec: 0)) else { throw ServiceError("no memory") }
        context = c
        guard c.pointee.err == 0 else { throw ServiceError("cannot connect to redis on \(port)") }
    }

    deinit { redisFree(context) }

    /// The reply, as nested arrays of strings.
    func run(_ args: [String]) throws -> Any {
        var argv = args.map { strdup($0) }
        defer { argv.forEach { free($0) } }
        let lengths = args.map { $0.utf8.count }
        let raw = argv.withUnsafeMutableBufferPointer { p in
            p.withMemoryRebound(to: UnsafePointer<CChar>?.self) { redisCommandArgv(context, Int32(args.count), $0.baseAddress, lengths) }
        }
        guard let raw else { throw ServiceError("redis command failed") }
        defer { freeReplyObject(raw) }
        return Self.value(raw.assumingMemoryBound(to: redisReply.self))
    }

    /// Each entry's fields of stream `key`, oldest first.
    func range(_ key: String) throws -> [[String: String]] {
        guard let entries = try run(["XRANGE", key, "-", "+"]) as? [Any] else { throw ServiceError("XRANGE \(key): not an array") }
        return entries.map { entry in
            let fields = ((entry as? [Any])?.last as? [Any])?.compactMap { $0 as? String } ?? []
            return Dictionary(stride(from: 0, to: fields.count - 1, by: 2).map { (fields[$0], fields[$0 + 1]) }, uniquingKeysWith: { a, _ in a })
        }
    }

    private static func value(_ r: UnsafeMutablePointer<redisReply>) -> Any {
        let reply = r.pointee
        if reply.type == REDIS_REPLY_ARRAY {
            return (0..<reply.elements).map { value(reply.element[$0]!) }
        }
        if reply.type == REDIS_REPLY_INTEGER { return Int(reply.integer) }
        guard let s = reply.str else { return NSNull() }
        return String(decoding: UnsafeRawBufferPointer(start: s, count: reply.len), as: UTF8.self)
    }
}
