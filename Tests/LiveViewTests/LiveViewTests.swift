import FERCore
import FERStream
import Hummingbird
import Foundation
@testable import LiveView
import Pipeline
import XCTest

final class LiveViewTests: XCTestCase {
    /// A picture with a bright square, encoded: a JPEG (SOI, SOF0 with the scaled size, EOI).
    func testJPEGFromYUVPlanesIsScaledToTheWidthAsked() throws {
        var p = ColourPicture(width: 640, height: 360, filledWith: YUV(r: 20, g: 40, b: 200))
        for y in 100..<200 { for x in 200..<300 { p.y[y * 640 + x] = 235 } }
        let jpeg = try XCTUnwrap(JPEGEncoder().encode(p, maxWidth: 320))
        XCTAssertEqual(jpeg.width, 320)
        XCTAssertEqual(jpeg.height, 180)
        XCTAssertEqual(Array(jpeg.bytes.prefix(2)), [0xFF, 0xD8])
        XCTAssertEqual(Array(jpeg.bytes.suffix(2)), [0xFF, 0xD9])
        let size = try XCTUnwrap(Self.jpegSize(jpeg.bytes))
        XCTAssertEqual(size.width, 320)
        XCTAssertEqual(size.height, 180)
        // Not scaled when narrow enough.
        let same = try XCTUnwrap(JPEGEncoder().encode(p, maxWidth: 1000))
        XCTAssertEqual(same.width, 640)
    }

    /// The width and height of a baseline or progressive JPEG's SOF segment.
    static func jpegSize(_ b: [UInt8]) -> (width: Int, height: Int)? {
        var i = 2
        while i + 9 < b.count {
            guard b[i] == 0xFF else { return nil }
            let marker = b[i + 1]
            let length = Int(b[i + 2]) << 8 | Int(b[i + 3])
            if (0xC0...0xC2).contains(marker) {
                return (Int(b[i + 7]) << 8 | Int(b[i + 8]), Int(b[i + 5]) << 8 | Int(b[i + 6]))
            }
            i += 2 + length
        }
        return nil
    }

    func testTokenIsCheckedInHeaderCookieAndQuery() {
        func head(_ path: String, _ fields: HTTPFields = [:]) -> HTTPRequest {
            HTTPRequest(method: .get, scheme: "http", authority: "h:1", path: path, headerFields: fields)
        }
        XCTAssertEqual(Access.check(head("/"), token: nil), .granted)
        XCTAssertEqual(Access.check(head("/"), token: "s3cret"), .denied)
        XCTAssertEqual(Access.check(head("/", [.authorization: "Bearer s3cret"]), token: "s3cret"), .granted)
        XCTAssertEqual(Access.check(head("/", [.authorization: "Bearer s3cre"]), token: "s3cret"), .denied)
        XCTAssertEqual(Access.check(head("/", [.cookie: "a=b; fer_stream_token=s3cret"]), token: "s3cret"), .granted)
        XCTAssertEqual(Access.check(head("/?x=1&token=s3cret"), token: "s3cret"), .grantedByQuery)
        XCTAssertEqual(Access.check(head("/?token=nope"), token: "s3cret"), .denied)
    }

    func testWatchMessages() {
        XCTAssertEqual(PageSocket.watchList("{\"watch\":[0,2]}", count: 4), [0, 2])
        XCTAssertEqual(PageSocket.watchList("{\"watch\":\"all\"}", count: 3), [0, 1, 2])
        XCTAssertNil(PageSocket.watchList("not json", count: 3))
        XCTAssertNil(PageSocket.watchList("{\"watch\":5}", count: 3))
    }

    /// A viewer keeps only the newest frame of each input: a hundred frames offered while it does not read are one.
    func testAViewerThatDoesNotReadHoldsOneFramePerInput() {
        let hub = ViewerHub(maxViewers: 2)
        hub.addSource("a.mp4"); hub.addSource("b.mp4")
        let v = hub.add(isPage: true, watching: nil)!
        XCTAssertEqual(hub.sources.map { $0.watchers.load(ordering: .relaxed) }, [1, 1])
        for i in 0..<100 {
            hub.publish(FrameMessage(source: i % 2, frame: i, width: 4, height: 4, wallMs: 0, record: "{}", jpeg: [1, 2, 3]))
        }
        let taken = v.take().frames
        XCTAssertEqual(taken.map(\.frame), [98, 99])
        XCTAssertNotNil(hub.add(isPage: false, watching: [1]))
        XCTAssertNil(hub.add(isPage: false, watching: [1]), "a third viewer is refused")
        hub.watch(v, [1])
        XCTAssertEqual(hub.sources.map { $0.watchers.load(ordering: .relaxed) }, [0, 2])
        hub.remove(v)
        XCTAssertEqual(hub.sources.map { $0.watchers.load(ordering: .relaxed) }, [0, 1])
    }

    func testShortNamesAreUniqueAndWithoutExtension() {
        let hub = ViewerHub(maxViewers: 1)
        XCTAssertEqual(["a/clip.mp4", "b/clip.mp4", "rtsp://cam1/s"].map { hub.addSource($0).name }, ["clip", "clip-2", "cam1_s"])
        XCTAssertEqual(hub.source(named: "clip-2")?.input, "b/clip.mp4")
        XCTAssertEqual(hub.source(named: "0")?.input, "a/clip.mp4")
    }

    func testBindingAPortInUseSaysSoAndNonLoopbackNeedsAToken() throws {
        var o = LiveViewOptions()
        o.port = 0
        let first = try LiveViewServer(o)
        defer { first.stop() }
        XCTAssertGreaterThan(first.port, 0)
        o.port = first.port
        XCTAssertThrowsError(try LiveViewServer(o)) { error in
            XCTAssertEqual("\(error)", "cannot listen on 127.0.0.1:\(first.port): Address already in use")
        }
        o.host = "0.0.0.0"
        o.port = 0
        XCTAssertThrowsError(try LiveViewServer(o)) { error in
            guard case LiveViewError.needsToken = error else { return XCTFail("\(error)") }
        }
    }

    /// docs/live.md's library example, as written there (compiled, not run: it would serve on 8080).
    func librarySnippet() throws {
        var options = StreamOptions()
        options.keepsColour = true                        // pictures for the view
        var view = LiveViewOptions()
        view.port = 8080
        let server = try LiveViewServer(view, inputs: ["a.mp4", "b.mp4"])
        let group = StreamGroup(inputs: ["a.mp4", "b.mp4"], options: options, models: try SharedModels(options: options))
        _ = group.run(plan: { _ in .run(sinks: { stream in [server.sink(for: stream)] }, done: { _, _, _ in }) })
    }
}
