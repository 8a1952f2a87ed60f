import FERCore
import Foundation
@testable import Output
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

    /// Each CSV row holds the values of its frame's record: the same numbers, the same rounding,
    /// empty where the record has nil (skipped: 0 where the record leaves it out).
    func testEachCSVRowHoldsItsRecordsValues() throws {
        let path = Scratch.path("records.csv")
        let writer = CSVWriter(sink: try LineSink(path: path))
        for f in frames { try writer.write(f) }
        var rows = try String(contentsOfFile: path, encoding: .utf8).components(separatedBy: "\r\n").dropLast().map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        let header = rows.removeFirst().map(String.init)
        func number(_ field: Substring) -> Double? { field.isEmpty ? nil : Double(field) }
        func column(_ name: String) throws -> Int { try XCTUnwrap(header.firstIndex(of: name), name) }
        var row = 0
        for frame in frames {
            let record = FrameRecord(frame, labels: .fer2013)
            for face in record.faces.isEmpty ? [nil] : record.faces.map(Optional.some) {
                let fields = rows[row]
                row += 1
                XCTAssertEqual(fields.count, header.count)
                XCTAssertEqual(Int(fields[try column("frame")]), record.frame)
                XCTAssertEqual(number(fields[try column("t")]), record.t)
                XCTAssertEqual(Int(fields[try column("skipped")]), record.skipped ?? 0)
                guard let face else {
                    XCTAssertTrue(fields[2...].enumerated().allSatisfy { $0.element.isEmpty || header[$0.offset + 2] == "skipped" }, "\(fields)")
                    continue
                }
                XCTAssertEqual(try ["track", "x", "y", "w", "h"].map { Int(fields[try column($0)]) }, [face.track] + face.box)
                XCTAssertEqual(String(fields[try column("label")]), face.label)
                XCTAssertEqual(number(fields[try column("score")]), face.score)
                for name in Emotion.names {
                    XCTAssertEqual(number(fields[try column(name)]), face.probs[name] ?? nil, name)
                    XCTAssertEqual(number(fields[try column("raw_" + name)]), face.raw[name] ?? nil, name)
                }
                XCTAssertEqual(number(fields[try column("confidence")]), face.confidence)
                let marks = try CSVWriter.landmarkColumns.map { number(fields[try column($0)]) }
                XCTAssertEqual(marks, face.landmarks.map { $0.flatMap { $0 } } ?? Array(repeating: nil, count: 10))
                XCTAssertEqual(number(fields[try column("held")]), face.held)
            }
        }
        XCTAssertEqual(row, rows.count)
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
        s.warmUpSeconds = 0.3
        s.framesSkipped = 4
        s.recentLatenciesMs = [10, 20, 30.25, 40, 55.55]
        let decoded = try JSONDecoder().decode(StatsRecord.self, from: Data(s.json.utf8))
        XCTAssertEqual(decoded, StatsRecord(s))
        XCTAssertEqual(decoded.frames_per_s, 26.27)
        XCTAssertEqual(s.json, #"{"busy_s":{"annotate":0,"decode":0.123,"detect":1.5,"recognise":2.25,"warmup":0.3,"write":0.01},"crops":580,"#
            + #""crops_per_face":10,"faces":58,"frames_analysed":60,"frames_decoded":120,"frames_per_s":26.27,"latency_ms":{"max":55.6,"p50":30.3,"p95":55.6},"#
            + #""network_calls":15,"skipped":4,"wall_s":4.568}"#)
    }

    /// A time that is not a number is null, its key kept; writing never fails.
    func testStatsWithNonFiniteTimesKeepEveryKey() throws {
        var s = PipelineStats()
        s.wallSeconds = .infinity; s.detectSeconds = .nan; s.recentLatenciesMs = [.nan]
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(s.json.utf8)) as? [String: Any], s.json)
        XCTAssertEqual(Set(object.keys), ["frames_decoded", "frames_analysed", "faces", "crops", "crops_per_face", "network_calls", "wall_s", "frames_per_s",
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

/// `benchmarks/record_writers.sh`: the hand-written NDJSON writer against JSONEncoder on
/// `FrameRecord`, lines per second in the same run (skipped unless FER_STREAM_BENCH_RECORDS is set).
final class RecordWriterBenchmark: XCTestCase {
    func testHandWrittenWriterAgainstJSONEncoder() throws {
        guard ProcessInfo.processInfo.environment["FER_STREAM_BENCH_RECORDS"] != nil else { throw XCTSkip("set FER_STREAM_BENCH_RECORDS=1") }
        var rng = SplitMix(seed: 5)
        func vector() -> [Float] {
            let v = (0..<7).map { _ in Float.random(in: 0..<1, using: &rng) }
            let sum = v.reduce(0, +)
            return v.map { $0 / sum }
        }
        // Two YuNet faces per frame (confidence, landmarks, held): the longest lines the stream writes.
        let results = (0..<5_000).map { i in
            FrameResult(frame: i, time: Double(i) / 30, faces: (1...2).map { track in
                FaceResult(track: track, box: Box(x: 100 * track, y: 80, width: 120, height: 130), probs: vector(), raw: vector(),
                           confidence: Double.random(in: 0.5..<1, using: &rng),
                           landmarks: (0..<5).map { _ in Point(x: Double.random(in: 0..<1920, using: &rng), y: Double.random(in: 0..<1080, using: &rng)) },
                           held: Double(i % 90) / 30)
            })
        }
        let sink = try LineSink(path: "/dev/null")
        let handWritten = NDJSONWriter(sink: sink)
        let sorted = JSONEncoder(), plain = JSONEncoder()
        sorted.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        plain.outputFormatting = [.withoutEscapingSlashes]
        func rate(_ write: (FrameResult) throws -> Void) rethrows -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            for r in results { try write(r) }
            return Double(results.count) / (Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        var best = [0.0, 0.0, 0.0]
        for _ in 0..<5 {  // interleaved rounds, the best of each
            best[0] = max(best[0], try rate { try handWritten.write($0) })
            best[1] = max(best[1], try rate { try sink.write(String(decoding: try sorted.encode(FrameRecord($0, labels: .fer2013)), as: UTF8.self) + "\n") })
            best[2] = max(best[2], try rate { try sink.write(String(decoding: try plain.encode(FrameRecord($0, labels: .fer2013)), as: UTF8.self) + "\n") })
        }
        print(String(format: "NDJSON lines/s (2 faces each): hand-written %.0f, JSONEncoder sorted keys %.0f, JSONEncoder unsorted %.0f; hand-written %.1f× sorted",
                     best[0], best[1], best[2], best[0] / best[1]))
    }
}
