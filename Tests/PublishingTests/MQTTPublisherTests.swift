import FERCore
import Foundation
import Pipeline
import Output
import Publishing
import TestSupport
import XCTest

/// Against a real mosquitto broker on loopback, read back with mosquitto_sub.
final class MQTTPublisherTests: XCTestCase {
    private func options(buffer: Int = 1000) -> PublishOptions {
        var o = PublishOptions()
        o.bufferCapacity = buffer
        o.connectTimeout = 2
        o.initialBackoff = 0.1
        o.maxBackoff = 0.4
        return o
    }

    func testEveryFrameIsItsLineAndTheEventsAreTheLabelChanges() throws {
        let broker = try started(.mosquitto())
        let log = LogLines()
        let sink = try Publishers.make(url: "mqtt://127.0.0.1:\(broker.port)/fer/test", labels: Fixture.labels, options: options(), log: log.sink)
        XCTAssertEqual(sink.name, "mqtt://127.0.0.1:\(broker.port)/fer/test")
        let sub = try Subscriber(port: broker.port, topic: "fer/#")
        // The retained `online` is the first thing a subscriber gets: from then on it hears everything.
        XCTAssertTrue(eventually { sub.payloads(on: "fer/test/available") == ["online"] }, "\(sub.messages)")

        let frames = Fixture.story()
        for r in frames { try sink.consume(SinkFrame(source: Fixture.source, result: r)) }
        // A frame passed along only for its picture is not published.
        try sink.consume(SinkFrame(source: Fixture.source, result: Fixture.plain(99), analysed: false))
        try sink.finish()

        XCTAssertTrue(eventually { sub.payloads(on: "fer/test/available").last == "offline" }, "\(sub.messages)")
        XCTAssertEqual(sub.payloads(on: "fer/test/clip_one.mp4/frame"), frames.map(Fixture.line))
        let events = sub.payloads(on: "fer/test/clip_one.mp4/events")
        XCTAssertTrue(Fixture.same(events.compactMap(Fixture.summary), Fixture.storyEvents), "\(events)")
        XCTAssertTrue(events.allSatisfy { $0.contains("\"source\":\"/videos/clip one.mp4\"") }, "\(events)")
        XCTAssertEqual(sub.payloads(on: "fer/test/available"), ["online", "offline"])
        XCTAssertEqual(try retained(port: broker.port, topic: "fer/test/available"), "offline")
        XCTAssertEqual(sink.droppedMessages, 0)
        XCTAssertEqual(log.all, [])
    }

    func testTheLastWillSaysOfflineWhenThePublisherVanishes() throws {
        let broker = try started(.mosquitto())
        var sink: (any FrameSink)? = try Publishers.make(url: "mqtt://127.0.0.1:\(broker.port)/gone", labels: Fixture.labels,
                                                          options: options(), log: { _ in })
        let sub = try Subscriber(port: broker.port, topic: "gone/available")
        XCTAssertTrue(eventually { sub.payloads(on: "gone/available") == ["online"] })
        try sink?.consume(SinkFrame(source: Fixture.source, result: Fixture.plain(0)))
        sink = nil  // never finished: no DISCONNECT, so the broker publishes the will
        XCTAssertTrue(eventually { sub.payloads(on: "gone/available") == ["online", "offline"] }, "\(sub.messages)")
        XCTAssertEqual(try retained(port: broker.port, topic: "gone/available"), "offline")
    }

    /// The broker stops mid-run and comes back on the same port. It keeps sessions (persistence)
    /// and the subscriber has a persistent QoS 1 session, so the subscriber misses nothing the
    /// broker got; the publisher runs at QoS 1 with room for 5 waiting messages.
    func testABrokerThatComesBackGetsWhatWaitedAndTheRestIsCounted() throws {
        let broker = try started(.mosquitto(persistent: true))
        let log = LogLines()
        let sink = try MQTTPublisher(target: MQTTTarget(host: "127.0.0.1", port: broker.port, prefix: "fer", qos: 1),
                                     labels: Fixture.labels, options: options(buffer: 5), log: log.sink)
        let sub = try Subscriber(port: broker.port, topic: "fer/#", clientID: "fer-test-\(broker.port)")
        XCTAssertTrue(eventually { sub.payloads(on: "fer/available").contains("online") })
        let topic = "fer/clip_one.mp4/frame"
        func received() -> Set<Int> { Set(sub.payloads(on: topic).compactMap(Fixture.frameNumber)) }

        for i in 0..<10 { try sink.consume(SinkFrame(source: Fixture.source, result: Fixture.plain(i))) }
        XCTAssertTrue(eventually { received() == Set(0..<10) }, "\(received())")

        broker.stop()
        XCTAssertTrue(eventually { log.count(containing: "connection lost") == 1 }, "\(log.all)")
        // While it is away: 10 frames into room for 5; consume returns at once (the run goes on).
        for i in 10..<20 { try sink.consume(SinkFrame(source: Fixture.source, result: Fixture.plain(i))) }
        XCTAssertEqual(sink.droppedMessages, 5)

        try broker.start()
        XCTAssertTrue(eventually { log.count(containing: "reconnected") == 1 }, "\(log.all)")
        for i in 20..<30 { try sink.consume(SinkFrame(source: Fixture.source, result: Fixture.plain(i))) }
        try sink.finish()

        let expected = Set(0..<10).union(15..<30)
        XCTAssertTrue(eventually { received() == expected }, "\(received().sorted())")
        XCTAssertEqual(sink.droppedMessages, 5)
        XCTAssertEqual(30 - received().count, sink.droppedMessages)
        XCTAssertEqual(log.count(containing: "connection lost"), 1, "\(log.all)")
        print("LOG", log.all); XCTAssertEqual(log.count(containing: "reconnected"), 1, "\(log.all)")
        XCTAssertTrue(log.all.last?.contains("sending 5 waiting messages (5 dropped") == true, "\(log.all)")
        XCTAssertTrue(eventually { sub.payloads(on: "fer/available").last == "offline" }, "\(sub.messages)")
    }

    /// The same at QoS 0 with a broker that forgets everything: what the publisher kept may reach
    /// the broker before the subscriber is back, but every frame after both are back arrives.
    func testAtQoS0FramesAfterTheBrokerIsBackArrive() throws {
        let broker = try started(.mosquitto())
        let log = LogLines()
        let sink = try Publishers.make(url: "mqtt://127.0.0.1:\(broker.port)/fer", labels: Fixture.labels,
                                       options: options(buffer: 5), log: log.sink)
        let sub = try Subscriber(port: broker.port, topic: "fer/#")
        XCTAssertTrue(eventually { sub.payloads(on: "fer/available") == ["online"] })
        func received() -> Set<Int> { Set(sub.payloads(on: "fer/clip_one.mp4/frame").compactMap(Fixture.frameNumber)) }
        for i in 0..<10 { try sink.consume(SinkFrame(source: Fixture.source, result: Fixture.plain(i))) }
        XCTAssertTrue(eventually { received() == Set(0..<10) }, "\(received())")

        broker.stop()
        XCTAssertTrue(eventually { log.count(containing: "connection lost") == 1 }, "\(log.all)")
        for i in 10..<20 { try sink.consume(SinkFrame(source: Fixture.source, result: Fixture.plain(i))) }
        XCTAssertEqual(sink.droppedMessages, 5)

        try broker.start()
        // mosquitto_sub subscribes again when it is back; the publisher says `online` again when it
        // is. (The stopping broker may have sent our will, `offline`, in between.)
        XCTAssertTrue(eventually {
            let available = sub.payloads(on: "fer/available")
            return log.count(containing: "reconnected") == 1 && available.last == "online" && available.filter { $0 == "online" }.count == 2
        }, "\(log.all) \(sub.messages)")
        for i in 20..<30 { try sink.consume(SinkFrame(source: Fixture.source, result: Fixture.plain(i))) }
        try sink.finish()
        XCTAssertTrue(eventually { sub.payloads(on: "fer/available").last == "offline" }, "\(sub.messages)")
        XCTAssertTrue(received().isSuperset(of: Set(0..<10).union(20..<30)), "\(received().sorted())")
        XCTAssertTrue(received().isSubset(of: Set(0..<10).union(15..<30)), "\(received().sorted())")
        XCTAssertEqual(sink.droppedMessages, 5)
        XCTAssertEqual(log.all.count, 2, "\(log.all)")
    }

    func testABrokerThatIsNotThereAtTheStartIsAnErrorNamingIt() throws {
        let port = try freePort()  // nothing listens there
        let url = "mqtt://127.0.0.1:\(port)/fer"
        XCTAssertThrowsError(try Publishers.make(url: url, labels: Fixture.labels, options: options(), log: { _ in })) { error in
            XCTAssertEqual("\(error)", "mqtt://127.0.0.1:\(port): cannot connect: Connection refused")
        }
    }

    func testABrokerThatNeverAnswersIsAnErrorAfterTheTimeout() throws {
        let hung = try LoopbackSocket(listening: true)  // takes the connection, never says a word
        defer { hung.close() }
        var o = options()
        o.connectTimeout = 1
        XCTAssertThrowsError(try Publishers.make(url: "mqtt://user:secret@127.0.0.1:\(hung.port)/fer", labels: Fixture.labels,
                                                 options: o, log: { _ in })) { error in
            XCTAssertEqual("\(error)", "mqtt://127.0.0.1:\(hung.port): cannot connect: no answer within 1 s")
        }
    }
}
