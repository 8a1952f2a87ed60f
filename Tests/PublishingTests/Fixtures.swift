import FERCore
import Foundation
import Pipeline
import Output

/// Frame results made up for the publishers: faces whose labels change and a track that leaves.
enum Fixture {
    static let labels = LabelSet.fer2013
    static let source = SourceName("/videos/clip one.mp4")
    static let happy = 3, sad = 4, surprise = 5, neutral = 6

    static func face(_ track: Int, _ label: Int, score: Float = 0.7) -> FaceResult {
        var probs = [Float](repeating: (1 - score) / 6, count: 7)
        probs[label] = score
        return FaceResult(track: track, box: Box(x: 10 * track, y: 20, width: 48, height: 52), probs: probs, raw: probs,
                          confidence: 0.9, label: label, held: 0.25)
    }

    /// 12 frames, 4 a second (times exact in binary). Track 1: happy, surprise at frame 2, gone
    /// after it (ends at frame 7, the first more than 1 s later). Track 2: sad from frame 1,
    /// neutral from frame 9, open at the end.
    static func story() -> [FrameResult] {
        (0..<12).map { i in
            var faces: [FaceResult] = []
            switch i {
            case 0: faces = [face(1, happy)]
            case 1: faces = [face(1, happy, score: 0.75), face(2, sad)]
            case 2: faces = [face(1, surprise), face(2, sad)]
            case 3...8: faces = [face(2, sad, score: 0.6 + Float(i) / 100)]
            default: faces = [face(2, neutral)]
            }
            return FrameResult(frame: i, time: Double(i) * 0.25, faces: faces)
        }
    }

    /// The events `story` makes, as (type, track, label, previous label, end time).
    static let storyEvents: [(String, Int, String, String?, Double?)] = [
        ("new", 1, "happy", nil, nil),
        ("new", 2, "sad", nil, nil),
        ("update", 1, "surprise", "happy", nil),
        ("end", 1, "surprise", nil, 0.5),
        ("update", 2, "neutral", "sad", nil),
        ("end", 2, "neutral", nil, 2.75),
    ]

    /// A frame without faces (no events).
    static func plain(_ i: Int) -> FrameResult { FrameResult(frame: i, time: Double(i) / 30, faces: []) }

    static func line(_ r: FrameResult) -> String { NDJSONWriter(sink: LineSink(), labels: labels).line(for: r) }

    /// The frame number in an NDJSON line.
    static func frameNumber(_ line: String) -> Int? {
        (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["frame"] as? Int
    }

    /// (type, track, label, previous label, end time) of an event's JSON.
    static func summary(_ json: String) -> (String, Int, String, String?, Double?)? {
        guard let o = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
              let type = o["type"] as? String, let track = o["track"] as? Int, let label = o["label"] as? String else { return nil }
        return (type, track, label, o["previous_label"] as? String, o["end_time"] as? Double)
    }

    static func same(_ a: [(String, Int, String, String?, Double?)], _ b: [(String, Int, String, String?, Double?)]) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 && $0.2 == $1.2 && $0.3 == $1.3 && $0.4 == $1.4 }
    }
}
