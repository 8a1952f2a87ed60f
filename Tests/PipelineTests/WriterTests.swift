import Foundation
import XCTest
import FERCore
@testable import Pipeline
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
