import Foundation
import XCTest
import FERCore
@testable import Output
@testable import Pipeline
import Recognizer
import SafeTensors
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
                              raw: [0, 0, 0, 0.2, 0, 0, 0.8], confidence: 0.875, landmarks: marks, label: Emotion.neutral.rawValue, held: 1.5)
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

    private let ckplus = LabelSet(["anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"])

    /// A CK+ model's classes: the label, the keys of `probs` and `raw` (in the model's order) and
    /// the CSV columns are its names.
    func testAModelsOwnClassesNameTheLabelKeysAndColumns() throws {
        let probs: [Float] = [0.05, 0.6, 0.05, 0.1, 0.1, 0.05, 0.05], raw: [Float] = [0.1, 0.5, 0, 0.2, 0.1, 0.05, 0.05]
        let face = FaceResult(track: 2, box: Box(x: 1, y: 2, width: 3, height: 4), probs: probs, raw: raw)
        XCTAssertEqual(face.label, 1)
        let result = FrameResult(frame: 5, time: 0.2, faces: [face])
        let json = temp("ckplus.ndjson"), csv = temp("ckplus.csv")
        try NDJSONWriter(sink: LineSink(path: json), labels: ckplus).write(result)
        let csvWriter = CSVWriter(sink: try LineSink(path: csv), labels: ckplus)
        try csvWriter.write(FrameResult(frame: 4, time: 0.1, faces: []))
        try csvWriter.write(result)
        let line = try String(contentsOfFile: json, encoding: .utf8)
        XCTAssertTrue(line.contains(#""label":"contempt","score":0.6,"#), line)
        XCTAssertTrue(line.contains(#""probs":{"anger":0.05,"contempt":0.6,"disgust":0.05,"fear":0.1,"happy":0.1,"sadness":0.05,"surprise":0.05}"#), line)
        XCTAssertTrue(line.contains(#""raw":{"anger":0.1,"contempt":0.5,"disgust":0.0,"fear":0.2,"happy":0.1,"sadness":0.05,"surprise":0.05}"#), line)
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        let faces = object["faces"] as! [[String: Any]]
        XCTAssertEqual(faces[0]["label"] as? String, "contempt")
        XCTAssertEqual(Set((faces[0]["probs"] as! [String: Double]).keys), Set(ckplus.names))

        let rows = try String(contentsOfFile: csv, encoding: .utf8).components(separatedBy: "\r\n")
        XCTAssertEqual(rows[0], CSVWriter.header(labels: ckplus))
        XCTAssertEqual(rows[0], "frame,t,track,x,y,w,h,label,score,anger,contempt,disgust,fear,happy,sadness,surprise,"
            + "raw_anger,raw_contempt,raw_disgust,raw_fear,raw_happy,raw_sadness,raw_surprise,skipped,confidence,"
            + "eye_l_x,eye_l_y,eye_r_x,eye_r_y,nose_x,nose_y,mouth_l_x,mouth_l_y,mouth_r_x,mouth_r_y,held")
        let columns = rows[0].split(separator: ",").count
        for row in rows.dropFirst().dropLast() { XCTAssertEqual(row.split(separator: ",", omittingEmptySubsequences: false).count, columns, row) }
        XCTAssertEqual(rows[2], "5,0.2,2,1,2,3,4,contempt,0.6,0.05,0.6,0.05,0.1,0.1,0.05,0.05,0.1,0.5,0.0,0.2,0.1,0.05,0.05,0,,,,,,,,,,,,")

        // Five classes: as many keys and columns, whatever the names.
        let five = LabelSet(["calm", "very happy", "sad_2", "x-y", "Zorn"])
        let small = FaceResult(track: 1, box: Box(x: 0, y: 0, width: 2, height: 2), probs: [0.1, 0.5, 0.1, 0.2, 0.1], raw: [0.2, 0.2, 0.2, 0.2, 0.2])
        let fivePath = temp("five.ndjson")
        try NDJSONWriter(sink: LineSink(path: fivePath), labels: five).write(FrameResult(frame: 0, time: 0, faces: [small]))
        let fiveLine = try String(contentsOfFile: fivePath, encoding: .utf8)
        XCTAssertTrue(fiveLine.contains(#""label":"very happy","score":0.5,"probs":{"calm":0.1,"very happy":0.5,"sad_2":0.1,"x-y":0.2,"Zorn":0.1}"#), fiveLine)
        XCTAssertEqual(CSVWriter.header(labels: five).split(separator: ",").count, columns - 4)
    }

    /// A FER2013 model's output, byte for byte as before the class names came from the model
    /// (these lines were written by the writers of the previous release).
    func testFER2013OutputIsUnchanged() throws {
        let marks = [Point(x: 20, y: 30), Point(x: 35.25, y: 30.5), Point(x: 27, y: 38), Point(x: 22, y: 44), Point(x: 33, y: 44)]
        let probs: [Float] = [0.05, 0.0, 0.05, 0.7, 0.1, 0.05, 0.05]
        var nan = probs
        nan[2] = .nan
        let frames = [
            FrameResult(frame: 0, time: 0, faces: []),
            FrameResult(frame: 1, time: 1.0 / 30, faces: [
                FaceResult(track: 1, box: Box(x: 10, y: 20, width: 30, height: 30), probs: probs, raw: [0.1, 0, 0, 0.6, 0.1, 0.1, 0.1]),
                FaceResult(track: 3, box: Box(x: 100, y: 20, width: 40, height: 40), probs: [0.1, 0.0, 0.1, 0.1, 0.5, 0.1, 0.1], raw: nan,
                           confidence: 0.875, landmarks: marks, held: 1.5),
            ], skipped: 2),
            FrameResult(frame: 2, time: 0.5, faces: [FaceResult(track: 2, box: Box(x: 1, y: 2, width: 3, height: 4), probs: nan, raw: probs)],
                        file: "a,\"b\".png"),
        ]
        let json = temp("fer.ndjson"), csv = temp("fer.csv")
        let writers: [ResultWriter] = [NDJSONWriter(sink: try LineSink(path: json)), CSVWriter(sink: try LineSink(path: csv), withFile: true, labels: .fer2013)]
        for w in writers { for f in frames { try w.write(f) } }
        XCTAssertEqual(try String(contentsOfFile: json, encoding: .utf8), #"""
            {"frame":0,"t":0.0,"faces":[]}
            {"frame":1,"t":0.033333,"skipped":2,"faces":[{"track":1,"box":[10,20,30,30],"label":"happy","score":0.7,"probs":{"angry":0.05,"disgust":0.0,"fear":0.05,"happy":0.7,"sad":0.1,"surprise":0.05,"neutral":0.05},"raw":{"angry":0.1,"disgust":0.0,"fear":0.0,"happy":0.6,"sad":0.1,"surprise":0.1,"neutral":0.1}},{"track":3,"box":[100,20,40,40],"confidence":0.875,"landmarks":[[20.0,30.0],[35.3,30.5],[27.0,38.0],[22.0,44.0],[33.0,44.0]],"label":"sad","score":0.5,"held":1.5,"probs":{"angry":0.1,"disgust":0.0,"fear":0.1,"happy":0.1,"sad":0.5,"surprise":0.1,"neutral":0.1},"raw":{"angry":0.05,"disgust":0.0,"fear":null,"happy":0.7,"sad":0.1,"surprise":0.05,"neutral":0.05}}]}
            {"file":"a,\"b\".png","frame":2,"t":0.5,"faces":[{"track":2,"box":[1,2,3,4],"label":"happy","score":0.7,"probs":{"angry":0.05,"disgust":0.0,"fear":null,"happy":0.7,"sad":0.1,"surprise":0.05,"neutral":0.05},"raw":{"angry":0.05,"disgust":0.0,"fear":0.05,"happy":0.7,"sad":0.1,"surprise":0.05,"neutral":0.05}}]}

            """#)
        XCTAssertEqual(try String(contentsOfFile: csv, encoding: .utf8), [
            "file,frame,t,track,x,y,w,h,label,score,angry,disgust,fear,happy,sad,surprise,neutral,raw_angry,raw_disgust,raw_fear,raw_happy,raw_sad,raw_surprise,raw_neutral,skipped,confidence,eye_l_x,eye_l_y,eye_r_x,eye_r_y,nose_x,nose_y,mouth_l_x,mouth_l_y,mouth_r_x,mouth_r_y,held",
            ",0,0.0,,,,,,,,,,,,,,,,,,,,,,0,,,,,,,,,,,,",
            ",1,0.033333,1,10,20,30,30,happy,0.7,0.05,0.0,0.05,0.7,0.1,0.05,0.05,0.1,0.0,0.0,0.6,0.1,0.1,0.1,2,,,,,,,,,,,,",
            ",1,0.033333,3,100,20,40,40,sad,0.5,0.1,0.0,0.1,0.1,0.5,0.1,0.1,0.05,0.0,,0.7,0.1,0.05,0.05,2,0.875,20.0,30.0,35.3,30.5,27.0,38.0,22.0,44.0,33.0,44.0,1.5",
            #""a,""b"".png",2,0.5,2,1,2,3,4,happy,0.7,0.05,0.0,,0.7,0.1,0.05,0.05,0.05,0.0,0.05,0.7,0.1,0.05,0.05,0,,,,,,,,,,,,"#,
            "",
        ].joined(separator: "\r\n"))
        XCTAssertEqual(CSVWriter.header, CSVWriter.header(labels: .fer2013))
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

    /// A comma or quote followed by a combining mark is one Character that is not "," or "\"":
    /// such a file name was written unquoted, and a reader split the row there (found by
    /// `scripts/fuzz.sh writers`: a name holding ",\u{321}", 38 fields under a 37-column header).
    func testSeparatorsJoinedToCombiningMarksAreQuoted() throws {
        XCTAssertEqual(CSVWriter.field("a,\u{321}b"), "\"a,\u{321}b\"")
        XCTAssertEqual(CSVWriter.field("q\"\u{301}"), "\"q\"\"\u{301}\"")
        XCTAssertEqual(CSVWriter.field("line\r\nnext"), "\"line\r\nnext\"")
        XCTAssertEqual(CSVWriter.field("plain\u{301}"), "plain\u{301}")
        let path = temp("marks.csv")
        let file = "--\u{ed},\u{321}\u{391}jm\"\u{301}x"
        try CSVWriter(sink: LineSink(path: path), withFile: true).write(FrameResult(frame: 0, time: 0, faces: [], file: file))
        let rows = try String(contentsOfFile: path, encoding: .utf8).components(separatedBy: "\r\n")
        // Split as a reader does, scalar by scalar: the row has the header's fields, the name first.
        var fields: [String] = [], field = String.UnicodeScalarView(), quoted = false
        var scalars = Array(rows[1].unicodeScalars)[...]
        while let u = scalars.popFirst() {
            if quoted {
                if u == "\"" { if scalars.first == "\"" { scalars.removeFirst(); field.append(u) } else { quoted = false } } else { field.append(u) }
            } else if u == "\"" { quoted = true } else if u == "," { fields.append(String(field)); field = .init() } else { field.append(u) }
        }
        fields.append(String(field))
        XCTAssertEqual(fields.count, rows[0].components(separatedBy: ",").count)
        XCTAssertEqual(fields[0].unicodeScalars.elementsEqual(file.unicodeScalars), true, fields[0])
    }

    func testNonFiniteProbabilitiesAreNullInNDJSONAndEmptyInCSV() throws {
        var probs = [Float](repeating: 0.1, count: Emotion.count)
        probs[2] = .nan
        let face = FaceResult(track: 1, box: Box(x: 0, y: 0, width: 4, height: 4), probs: probs, raw: probs, label: Emotion.happy.rawValue)
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
