import Foundation
import XCTest
import FERCore
@testable import Pipeline
import Recognizer
import TestSupport

final class WriterTests: XCTestCase {
    private func temp(_ name: String) -> String { Scratch.path(name) }

    private let results = [
        FrameResult(frame: 0, time: 0, faces: []),
        FrameResult(frame: 1, time: 1.0 / 30, faces: [
            FaceResult(track: 1, box: Box(x: 10, y: 20, width: 30, height: 30),
                       probs: [0.05, 0.0, 0.05, 0.7, 0.1, 0.05, 0.05], raw: [0.1, 0, 0, 0.6, 0.1, 0.1, 0.1]),
            FaceResult(track: 3, box: Box(x: 100, y: 20, width: 40, height: 40),
                       probs: [0.1, 0.0, 0.1, 0.1, 0.5, 0.1, 0.1], raw: [0.1, 0, 0.1, 0.1, 0.5, 0.1, 0.1]),
        ]),
    ]

    func testNDJSONIsOneValidObjectPerFrame() throws {
        let path = temp("out.ndjson")
        let writer = NDJSONWriter(sink: try LineSink(path: path))
        for r in results { try writer.write(r) }
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.count, 3)  // two lines and the final newline
        XCTAssertEqual(lines.last, "")
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        XCTAssertEqual(first["frame"] as? Int, 0)
        XCTAssertEqual((first["faces"] as? [Any])?.count, 0)
        let second = try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as! [String: Any]
        XCTAssertEqual(second["t"] as! Double, 1.0 / 30, accuracy: 1e-6)
        let faces = second["faces"] as! [[String: Any]]
        XCTAssertEqual(faces.map { $0["track"] as? Int }, [1, 3])
        XCTAssertEqual(faces[0]["label"] as? String, "happy")
        XCTAssertEqual(faces[1]["label"] as? String, "sad")
        XCTAssertEqual(faces[0]["box"] as? [Int], [10, 20, 30, 30])
        XCTAssertEqual(faces[0]["score"] as! Double, 0.7, accuracy: 1e-4)
        let probs = faces[0]["probs"] as! [String: Double]
        XCTAssertEqual(Set(probs.keys), Set(Emotion.names))
        XCTAssertEqual(probs["happy"]!, 0.7, accuracy: 1e-4)
        XCTAssertEqual((faces[0]["raw"] as! [String: Double])["happy"]!, 0.6, accuracy: 1e-4)
    }

    /// A CNN detector's confidence and landmarks, and the label's `held` seconds, in both formats;
    /// absent (NDJSON) or empty (CSV) where the detector gives none.
    func testDetectorDetailsAndHeldTime() throws {
        let marks = [Point(x: 20, y: 30), Point(x: 35.25, y: 30.5), Point(x: 27, y: 38), Point(x: 22, y: 44), Point(x: 33, y: 44)]
        let face = FaceResult(track: 2, box: Box(x: 10, y: 20, width: 30, height: 30), probs: [0.05, 0.0, 0.05, 0.4, 0.1, 0.05, 0.35],
                              raw: [0, 0, 0, 0.2, 0, 0, 0.8], confidence: 0.875, landmarks: marks, label: .neutral, held: 1.5)
        let frame = FrameResult(frame: 4, time: 0.5, faces: [face, results[1].faces[0]])
        let json = temp("details.ndjson"), csv = temp("details.csv")
        try NDJSONWriter(sink: try LineSink(path: json)).write(frame)
        try CSVWriter(sink: try LineSink(path: csv)).write(frame)
        let line = try String(contentsOfFile: json, encoding: .utf8)
        let faces = (try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any])["faces"] as! [[String: Any]]
        XCTAssertEqual(faces[0]["confidence"] as! Double, 0.875, accuracy: 1e-9)
        XCTAssertEqual(faces[0]["landmarks"] as? [[Double]], [[20, 30], [35.3, 30.5], [27, 38], [22, 44], [33, 44]])
        XCTAssertEqual(faces[0]["label"] as? String, "neutral", "the label rule's label, not the argmax")
        XCTAssertEqual(faces[0]["score"] as! Double, 0.35, accuracy: 1e-6)
        XCTAssertEqual(faces[0]["held"] as! Double, 1.5, accuracy: 1e-9)
        XCTAssertNil(faces[1]["confidence"]); XCTAssertNil(faces[1]["landmarks"]); XCTAssertNil(faces[1]["held"])
        let rows = try String(contentsOfFile: csv, encoding: .utf8).components(separatedBy: "\r\n")
        let header = rows[0].split(separator: ",").map(String.init)
        let first = Dictionary(uniqueKeysWithValues: zip(header, rows[1].split(separator: ",", omittingEmptySubsequences: false).map(String.init)))
        XCTAssertEqual(first["confidence"], "0.875")
        XCTAssertEqual(first["eye_r_x"], "35.3")
        XCTAssertEqual(first["mouth_r_y"], "44.0")
        XCTAssertEqual(first["held"], "1.5")
        XCTAssertEqual(first["label"], "neutral")
        let second = Dictionary(uniqueKeysWithValues: zip(header, rows[2].split(separator: ",", omittingEmptySubsequences: false).map(String.init)))
        XCTAssertEqual(second["confidence"], "")
        XCTAssertEqual(second["nose_x"], "")
        XCTAssertEqual(second["skipped"], "0")
    }

    func testCSVHasHeaderAndOneRowPerFaceOrEmptyFrame() throws {
        let path = temp("out.csv")
        let writer = CSVWriter(sink: try LineSink(path: path))
        for r in results { try writer.write(r) }
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let rows = text.components(separatedBy: "\r\n")
        XCTAssertEqual(rows.count, 5)  // header, empty frame, two faces, trailing ""
        let header = rows[0].split(separator: ",").map(String.init)
        XCTAssertEqual(Array(header.prefix(16)), ["frame", "t", "track", "x", "y", "w", "h", "label", "score",
                                                  "angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"])
        for row in rows.dropLast() {
            XCTAssertEqual(row.split(separator: ",", omittingEmptySubsequences: false).count, header.count, row)
        }
        XCTAssertTrue(rows[1].hasPrefix("0,0.0,,,,"))
        let face = rows[2].split(separator: ",").map(String.init)
        XCTAssertEqual(face[2], "1")
        XCTAssertEqual(face[7], "happy")
        XCTAssertEqual(Double(face[12])!, 0.7, accuracy: 1e-4)
        XCTAssertEqual(CSVWriter.field("a,b\"c"), "\"a,b\"\"c\"")
    }

    func testDecimalFormatting() {
        XCTAssertEqual(decimal(0, digits: 4), "0.0")
        XCTAssertEqual(decimal(1, digits: 4), "1.0")
        XCTAssertEqual(decimal(0.00001, digits: 4), "0.0")
        XCTAssertEqual(decimal(0.0001, digits: 4), "0.0001")
        XCTAssertEqual(decimal(0.91234, digits: 4), "0.9123")
        XCTAssertEqual(decimal(12.5, digits: 6), "12.5")
        XCTAssertEqual(decimal(-0.25, digits: 2), "-0.25")
        XCTAssertEqual(decimal(0.99996, digits: 4), "1.0")
    }

    /// Found by `scripts/fuzz.sh` (writers): a time or box-side number past Int's range over 10^digits
    /// trapped (Double → Int conversion), and NaN was printed as 0.0, a number that looks real.
    func testHugeAndNonFiniteNumbers() {
        XCTAssertEqual(decimal(1e13, digits: 6), "10000000000000.0")
        XCTAssertEqual(decimal(-1.5e300, digits: 4).prefix(4), "-150")
        XCTAssertEqual(Double(decimal(1.5e300, digits: 4)), 1.5e300)
        XCTAssertEqual(decimal(.nan, digits: 4), "null")
        XCTAssertEqual(decimal(-.infinity, digits: 4), "null")
        XCTAssertEqual(csvDecimal(.nan, digits: 4), "")
        XCTAssertEqual(csvDecimal(0.5, digits: 4), "0.5")
    }

    func testNonFiniteProbabilitiesAreNullInNDJSONAndEmptyInCSV() throws {
        var probs = [Float](repeating: 0.1, count: Emotion.count)
        probs[2] = .nan
        let face = FaceResult(track: 1, box: Box(x: 0, y: 0, width: 4, height: 4), probs: probs, raw: probs, label: .happy)
        let result = FrameResult(frame: 3, time: .infinity, faces: [face])
        let dir = try Scratch.directory("nonfinite")
        let json = dir.appendingPathComponent("out.ndjson").path, csv = dir.appendingPathComponent("out.csv").path
        try NDJSONWriter(sink: LineSink(path: json)).write(result)
        try CSVWriter(sink: LineSink(path: csv)).write(result)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        XCTAssertTrue(object["t"] is NSNull)
        let faces = try XCTUnwrap(object["faces"] as? [[String: Any]])
        XCTAssertTrue((faces[0]["probs"] as? [String: Any])?["fear"] is NSNull)
        XCTAssertEqual(((faces[0]["probs"] as? [String: Any])?["happy"] as? NSNumber)?.doubleValue, 0.1)
        let row = try String(contentsOfFile: csv, encoding: .utf8).components(separatedBy: "\r\n")[1].components(separatedBy: ",")
        XCTAssertEqual(row[1], "", "t")
        XCTAssertEqual(row[9 + 2], "", "fear")
        XCTAssertEqual(row[9 + 3], "0.1", "happy")
    }

    func testClosedPipeIsReportedAsOutputClosed() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        close(fds[0])
        signal(SIGPIPE, SIG_IGN)
        let sink = try LineSink(path: "/dev/fd/\(fds[1])")
        XCTAssertThrowsError(try sink.write("x\n")) { error in
            guard case PipelineError.outputClosed = error else { return XCTFail("\(error)") }
        }
        close(fds[1])
    }

    func testUnwritableOutputNamesThePath() {
        XCTAssertThrowsError(try LineSink(path: "/nonexistent-dir/out.csv")) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent-dir/out.csv"))
        }
    }
}

final class PipelineErrorTests: XCTestCase {
    struct Odd: Error, CustomStringConvertible { var description: String { "the odd thing happened" } }

    /// An error of no stage's type is shown as it describes itself, not as a recognizer failure.
    func testUnknownErrorsAreNotBlamedOnTheRecognizer() {
        let e = PipelineError(Odd())
        XCTAssertEqual(e.description, "the odd thing happened")
        guard case .unexpected = e else { return XCTFail("\(e)") }
        guard case .recognizer = PipelineError(RecognizerError.backend(reason: "x")) else { return XCTFail("typed errors keep their stage") }
    }
}
