import Foundation
import XCTest
import FERCore
@testable import Pipeline
import Output

final class SummaryTests: XCTestCase {
    private func face(_ track: Int, _ label: Emotion) -> FaceResult {
        var p = [Float](repeating: 0.05, count: 7)
        p[label.rawValue] = 0.7
        return FaceResult(track: track, box: Box(x: 0, y: 0, width: 10, height: 10), probs: p, raw: p)
    }

    func testSharesAndSecondsPerTrack() throws {
        var s = TrackSummary()
        // 10 fps; track 1 on screen 4 frames (3 happy, 1 sad), track 2 from the third frame, 2 frames.
        s.add(FrameResult(frame: 0, time: 0.0, faces: [face(1, .happy)]))
        s.add(FrameResult(frame: 1, time: 0.1, faces: [face(1, .happy)]))
        s.add(FrameResult(frame: 2, time: 0.2, faces: [face(1, .sad), face(2, .angry)]))
        s.add(FrameResult(frame: 3, time: 0.3, faces: [face(1, .happy), face(2, .angry)]))
        s.add(FrameResult(frame: 4, time: 0.4, faces: []))
        let tracks = s.all
        XCTAssertEqual(tracks.map(\.track), [1, 2])
        XCTAssertEqual(tracks[0].frames, 4)
        XCTAssertEqual(tracks[0].shares[Emotion.happy.rawValue], 0.75)
        XCTAssertEqual(tracks[0].shares[Emotion.sad.rawValue], 0.25)
        XCTAssertEqual(tracks[0].dominant, Emotion.happy.rawValue)
        XCTAssertEqual(s.seconds(tracks[0]), 0.4, accuracy: 1e-9)
        XCTAssertEqual(tracks[1].firstSeen, 0.2)
        XCTAssertEqual(s.seconds(tracks[1]), 0.2, accuracy: 1e-9)
        let json = try JSONSerialization.jsonObject(with: Data(s.json.utf8)) as! [String: Any]
        let items = json["tracks"] as! [[String: Any]]
        XCTAssertEqual(items[1]["dominant"] as? String, "angry")
        XCTAssertEqual((items[0]["shares"] as! [String: Double]).values.reduce(0, +), 1, accuracy: 1e-9)
        XCTAssertTrue(s.text.contains("#1"))
    }
}

final class SummaryClassesTests: XCTestCase {
    /// A CK+ model's run: shares and the dominant label under its class names, contempt included.
    func testSharesUseTheModelsClassNames() throws {
        let ckplus = LabelSet(["anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"])
        func face(_ label: Int) -> FaceResult {
            var p = [Float](repeating: 0.05, count: 7)
            p[label] = 0.7
            return FaceResult(track: 1, box: Box(x: 0, y: 0, width: 10, height: 10), probs: p, raw: p)
        }
        var s = TrackSummary(labels: ckplus)
        for (i, label) in [1, 1, 5].enumerated() { s.add(FrameResult(frame: i, time: Double(i) / 10, faces: [face(label)])) }
        XCTAssertEqual(s.all[0].dominant, 1)
        let json = try JSONSerialization.jsonObject(with: Data(s.json.utf8)) as! [String: Any]
        let track = (json["tracks"] as! [[String: Any]])[0]
        XCTAssertEqual(track["dominant"] as? String, "contempt")
        XCTAssertEqual(Set((track["shares"] as! [String: Double]).keys), Set(ckplus.names))
        XCTAssertTrue(s.json.contains(#""shares":{"anger":0,"contempt":0.6667,"disgust":0,"#), s.json)
        XCTAssertTrue(s.text.contains("contempt 66.7%, sadness 33.3%"), s.text)
    }
}
