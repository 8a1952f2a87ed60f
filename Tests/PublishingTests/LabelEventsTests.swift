import FERCore
import Foundation
import Publishing
import XCTest

final class LabelEventsTests: XCTestCase {
    private let happy = 3, sad = 4, surprise = 5

    private func face(_ track: Int, _ label: Int, score: Float = 0.7) -> FaceResult {
        var probs = [Float](repeating: 0.05, count: 7)
        probs[label] = score
        return FaceResult(track: track, box: Box(x: 0, y: 0, width: 40, height: 40), probs: probs, raw: probs, label: label)
    }

    /// Times in quarter seconds, exact in binary, so "more than 1 s" is tested at its edge.
    private func frame(_ i: Int, _ faces: [FaceResult]) -> FrameResult {
        FrameResult(frame: i, time: Double(i) * 0.25, faces: faces)
    }

    func testNewUpdateEndAndFinish() {
        var events = LabelEvents(labels: .fer2013, source: "cam.mp4")
        var out: [[LabelEvent]] = []
        out.append(events.next(frame(0, [face(1, happy)])))
        out.append(events.next(frame(1, [face(1, happy, score: 0.9), face(2, sad)])))  // a score change is no event
        out.append(events.next(frame(2, [face(1, surprise), face(2, sad)])))
        for i in 3...6 { out.append(events.next(frame(i, [face(2, sad)]))) }  // track 1 last seen at 0.5 s
        out.append(events.next(frame(7, [face(2, sad)])))
        XCTAssertEqual(out[0].map(\.type), [.new])
        XCTAssertEqual(out[1].map(\.type), [.new])
        XCTAssertEqual(out[1][0].track, 2)
        XCTAssertEqual(out[2].map(\.type), [.update])
        XCTAssertEqual(out[2][0].label, "surprise")
        XCTAssertEqual(out[2][0].previous_label, "happy")
        XCTAssertEqual(out[2][0].start_time, 0)
        // 1.5 s is exactly 1 s after it was last seen: not yet "more than" `endAfter`.
        XCTAssertTrue(out[3...6].allSatisfy(\.isEmpty))
        XCTAssertEqual(out[7].map(\.type), [.end])
        XCTAssertEqual(out[7][0].track, 1)
        XCTAssertEqual(out[7][0].label, "surprise")
        XCTAssertEqual(out[7][0].end_time, 0.5)
        XCTAssertEqual(out[7][0].frame, 7)
        XCTAssertEqual(events.openTracks, [2])

        let last = events.finish()
        XCTAssertEqual(last.map(\.type), [.end])
        XCTAssertEqual(last[0].track, 2)
        XCTAssertEqual(last[0].start_time, 0.25)
        XCTAssertEqual(last[0].end_time, 1.75)
        XCTAssertEqual(events.openTracks, [])
        XCTAssertEqual(events.finish(), [])
    }

    func testATrackThatComesBackAfterItsEndIsNewAgain() {
        var events = LabelEvents(labels: .fer2013, source: "-", endAfter: 0.5)
        _ = events.next(frame(0, [face(4, happy)]))
        XCTAssertEqual(events.next(frame(3, [])).map(\.type), [.end])
        let again = events.next(frame(4, [face(4, happy)]))
        XCTAssertEqual(again.map(\.type), [.new])
        XCTAssertEqual(again[0].start_time, 1.0)
    }

    func testEndsComeFirstThenTheFacesInOrder() {
        var events = LabelEvents(labels: .fer2013, source: "-", endAfter: 0.2)
        _ = events.next(frame(0, [face(9, happy), face(3, sad)]))
        let out = events.next(frame(1, [face(7, sad), face(5, happy)]))
        XCTAssertEqual(out.map(\.type), [.end, .end, .new, .new])
        XCTAssertEqual(out.map(\.track), [3, 9, 7, 5])
    }

    func testAClockThatGoesBackEndsNothing() {
        var events = LabelEvents(labels: .fer2013, source: "-")
        _ = events.next(frame(20, [face(1, happy)]))
        XCTAssertEqual(events.next(frame(0, [])), [])
        XCTAssertEqual(events.openTracks, [1])
    }

    func testTheJSONLineHasEveryKey() throws {
        var events = LabelEvents(labels: LabelSet(["calm", "joy"]), source: "rtsp://cam/1")
        let new = events.next(FrameResult(frame: 3, time: 1.0 / 3, faces: [face(2, 1, score: 0.123456)]))[0]
        XCTAssertEqual(new.json, #"{"end_time":null,"frame":3,"label":"joy","previous_label":null,"score":0.1235,"#
                       + #""source":"rtsp://cam/1","start_time":0.333333,"t":0.333333,"track":2,"type":"new"}"#)
        let update = events.next(FrameResult(frame: 4, time: 0.5, faces: [face(2, 0, score: 0.9)]))[0]
        let decoded = try JSONDecoder().decode(LabelEvent.self, from: Data(update.json.utf8))
        XCTAssertEqual(decoded, update)
        XCTAssertEqual(decoded.previous_label, "joy")
        XCTAssertNil(decoded.end_time)
        // A label outside the set is named, not a crash; a NaN score is null.
        let odd = events.next(FrameResult(frame: 5, time: 0.6, faces: [FaceResult(track: 2, box: Box(x: 0, y: 0, width: 1, height: 1),
                                                                                   probs: [0.5, 0.5], raw: [0.5, 0.5], label: 5)]))[0]
        XCTAssertEqual(odd.label, "class 5")
        XCTAssertNil(odd.score)
        XCTAssertTrue(odd.json.contains(#""score":null"#), odd.json)
    }
}
