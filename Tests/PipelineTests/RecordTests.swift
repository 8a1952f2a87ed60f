import FERCore
import Foundation
@testable import Pipeline
import TestSupport
import XCTest

/// The hand-written NDJSON writer against `FrameRecord`: each line, decoded, equals the record
/// made directly from the values (same fields, same rounding). Stats and summary are written
/// through their records (`JSONRecord.json`): the line decodes to the record, every key is there
/// (a number that is not finite is null), and the keys come sorted.
final class RecordTests: XCTestCase {
    private let marks = [Point(x: 20, y: 30), Point(x: 35.25, y: 30.5), Point(x: 27, y: 38), Point(x: 22, y: 44), Point(x: 33, y: 44)]

    private var frames: [FrameResult] {
        [
            FrameResult(frame: 0, time: 0, faces: []),
            FrameResult(frame: 7, time: 1.0 / 3, faces: [
                FaceResult(track: 2, box: Box(x: 10, y: 20, width: 30, height: 31), probs: [0.05, 0.0, 0.05, 0.4, 0.1, 0.05, 0.35],
                           raw: [0.012345, 0, 0, 0.2, 0, 0, 0.787655], confidence: 0.87549, landmarks: marks, label: 6, held: 1.23456),
                FaceResult(track: 5, box: Box(x: 100, y: 2, width: 40, height: 40), probs: [0.1, .nan, 0.1, 0.1, 0.5, 0.1, 0.1],
                           raw: [0.1, 0, 0.1, 0.1, 0.5, 0.1]),
            ], skipped: 3),
            FrameResult(frame: 1, time: 0, faces: [], file: "a \"quoted\"\nname.png"),
        ]
    }

    func testEachNDJSONLineDecodesToItsRecord() throws {
        let labels = LabelSet(["anger", "contempt", "disgust", "fear", "happy", "sad\"ness", "surprise"])
        for set in [LabelSet.fer2013, labels] {
            let path = Scratch.path("records.ndjson")
            let writer = NDJSONWriter(sink: try LineSink(path: path), labels: set)
            for f in frames { try writer.write(f) }
            let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
            XCTAssertEqual(lines.count, frames.count)
            for (line, frame) in zip(lines, frames) {
                let decoded = try JSONDecoder().decode(FrameRecord.self, from: Data(line.utf8))
                XCTAssertEqual(decoded, FrameRecord(frame, labels: set), String(line))
            }
        }
    }

    func testRecordsDecodeWhatTheyEncode() throws {
        for f in frames {
            let record = FrameRecord(f, labels: .fer2013)
            XCTAssertEqual(try JSONDecoder().decode(FrameRecord.self, from: JSONEncoder().encode(record)), record)
        }
    }

    func testStatsLineDecodesToItsRecord() throws {
        var s = PipelineStats()
        s.framesDecoded = 120; s.framesAnalysed = 60; s.faces = 58; s.crops = 580; s.networkCalls = 15
        s.decodeSeconds = 0.12345; s.detectSeconds = 1.5; s.recogniseSeconds = 2.25; s.writeSeconds = 0.01; s.wallSeconds = 4.5678
        s.framesSkipped = 4
        s.recentLatenciesMs = [10, 20, 30.25, 40, 55.55]
        let decoded = try JSONDecoder().decode(StatsRecord.self, from: Data(s.json.utf8))
        XCTAssertEqual(decoded, StatsRecord(s))
        XCTAssertEqual(decoded.frames_per_s, 26.27)
        XCTAssertEqual(s.json, #"{"busy_s":{"annotate":0,"decode":0.123,"detect":1.5,"recognise":2.25,"write":0.01},"crops":580,"#
            + #""faces":58,"frames_analysed":60,"frames_decoded":120,"frames_per_s":26.27,"latency_ms":{"max":55.6,"p50":30.3,"p95":55.6},"#
            + #""network_calls":15,"skipped":4,"wall_s":4.568}"#)
    }

    /// A time that is not a number is null, its key kept; writing never fails.
    func testStatsWithNonFiniteTimesKeepEveryKey() throws {
        var s = PipelineStats()
        s.wallSeconds = .infinity; s.detectSeconds = .nan; s.recentLatenciesMs = [.nan]
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(s.json.utf8)) as? [String: Any], s.json)
        XCTAssertEqual(Set(object.keys), ["frames_decoded", "frames_analysed", "faces", "crops", "network_calls", "wall_s", "frames_per_s",
                                          "busy_s", "skipped", "latency_ms"])
        XCTAssertTrue(object["wall_s"] is NSNull, s.json)
        XCTAssertTrue((object["busy_s"] as? [String: Any])?["detect"] is NSNull, s.json)
        XCTAssertEqual(try JSONDecoder().decode(StatsRecord.self, from: Data(s.json.utf8)), StatsRecord(s))
    }

    func testSummaryLineDecodesToItsRecord() throws {
        let labels = LabelSet(["a\"b", "c", "d"])
        var summary = TrackSummary(labels: labels)
        for i in 0..<10 {
            summary.add(FrameResult(frame: i, time: Double(i) * 0.1, faces: [
                FaceResult(track: 1, box: Box(x: 0, y: 0, width: 9, height: 9), probs: [0.2, 0.5, 0.3], raw: [0.2, 0.5, 0.3], label: i % 3),
            ]))
        }
        let decoded = try JSONDecoder().decode(SummaryRecord.self, from: Data(summary.json.utf8))
        XCTAssertEqual(decoded, SummaryRecord(summary))
        XCTAssertEqual(decoded.tracks.first?.dominant, "a\"b", "class names are escaped")
        XCTAssertEqual(summary.json, #"{"tracks":[{"dominant":"a\"b","first":0,"frames":10,"last":0.9,"seconds":1,"#
            + #""shares":{"a\"b":0.4,"c":0.3,"d":0.3},"track":1}]}"#)
    }

    func testASummaryWithoutTimesKeepsEveryKey() throws {
        var summary = TrackSummary()
        summary.add(FrameResult(frame: 0, time: .nan, faces: [FaceResult(track: 3, box: Box(x: 0, y: 0, width: 9, height: 9),
                                                                         probs: [Float](repeating: 0.1, count: 7), raw: [Float](repeating: 0.1, count: 7))]))
        let track = try XCTUnwrap((JSONSerialization.jsonObject(with: Data(summary.json.utf8)) as? [String: Any])?["tracks"] as? [[String: Any]]).first
        XCTAssertTrue(track?["first"] is NSNull, summary.json)
        XCTAssertTrue(track?["last"] is NSNull, summary.json)
        XCTAssertEqual(try JSONDecoder().decode(SummaryRecord.self, from: Data(summary.json.utf8)), SummaryRecord(summary))
    }

    func testRoundingNeverGivesMinusZeroOrInfinity() {
        XCTAssertEqual(roundedOrNil(-0.00001, 3)?.sign, .plus)
        XCTAssertEqual(roundedOrNil(1e306, 4), 1e306)
        XCTAssertNil(roundedOrNil(.nan, 2))
        XCTAssertNil(roundedOrNil(-.infinity, 2))
        XCTAssertEqual(roundedOrNil(0.12345, 4), 0.1235)
    }
}
