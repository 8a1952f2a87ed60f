import Foundation
import XCTest
import Datasets
import FERCore
@testable import Evaluation

final class VoteEvaluationTests: XCTestCase {
    /// ECE over 15 bins: |accuracy − mean confidence| weighted by each bin's share.
    func testExpectedCalibrationError() {
        var r = EvaluationResult(classes: ["a", "b"])
        XCTAssertNil(r.ece, "no probabilities, no ECE")
        // Bin 14 (0.95): two faces, one right → |0.5 − 0.95|; bin 9 (0.6, 0.62): both right → |1 − 0.61|.
        r.add(truth: 0, probabilities: [0.95, 0.05])
        r.add(truth: 1, probabilities: [0.95, 0.05])
        r.add(truth: 1, probabilities: [0.4, 0.6])
        r.add(truth: 0, probabilities: [0.62, 0.38])
        XCTAssertEqual(r.count, 4)
        XCTAssertEqual(r.correct, 3)
        XCTAssertEqual(r.ece!, 0.5 * 0.45 + 0.5 * 0.39, accuracy: 1e-6)
        XCTAssertTrue(r.table.contains("ECE 0.4200"), r.table)
        let json = try! JSONSerialization.jsonObject(with: Data(r.json.utf8)) as! [String: Any]
        XCTAssertEqual(json["ece"] as! Double, 0.42, accuracy: 1e-9)
        // A perfectly calibrated bin adds nothing.
        var c = EvaluationResult(classes: ["a", "b"])
        for t in [0, 0, 0, 1] { c.add(truth: t, probabilities: [0.75, 0.25]) }
        XCTAssertEqual(c.ece!, 0, accuracy: 1e-6)
    }

    /// Majority, ties in FER+'s column order, unknown/NF left out, contempt counted wrong for a
    /// 7-class model, cross-entropy against the renormalised votes of the model's classes.
    func testAgainstVotes() throws {
        let classes = Emotion.names  // angry, disgust, fear, happy, sad, surprise, neutral
        let emotionOfClass = classes.map(FERPlus.emotion(forClass:))
        XCTAssertEqual(emotionOfClass, [4, 5, 6, 1, 3, 2, 0])
        func votes(_ pairs: [String: Int]) -> FERPlus.Votes {
            FERPlus.Votes(row: 0, counts: FERPlus.columns.map { pairs[$0] ?? 0 })
        }
        var r = VoteEvaluationResult(classes: classes)
        let happy: [Float] = [0, 0, 0, 1, 0, 0, 0]
        let neutral: [Float] = [0, 0, 0, 0, 0, 0, 1]
        // 1: happiness 8, neutral 2 → happy; predicted happy: right.
        r.add(votes: votes(["happiness": 8, "neutral": 2]), probabilities: happy, emotionOfClass: emotionOfClass)
        // 2: a tie neutral 5 / happiness 5 goes to neutral (FER+'s first column); predicted happy: wrong.
        r.add(votes: votes(["happiness": 5, "neutral": 5]), probabilities: happy, emotionOfClass: emotionOfClass)
        // 3: unknown 6: left out.
        r.add(votes: votes(["unknown": 6, "sadness": 4]), probabilities: neutral, emotionOfClass: emotionOfClass)
        // 4: contempt 7: no such class, wrong.
        r.add(votes: votes(["contempt": 7, "neutral": 3]), probabilities: neutral, emotionOfClass: emotionOfClass)
        XCTAssertEqual(r.leftOut, 1)
        XCTAssertEqual(r.outsideModel, ["contempt": 1])
        XCTAssertEqual(r.count, 3)
        XCTAssertEqual(r.accuracy, 1.0 / 3.0, accuracy: 1e-12)
        XCTAssertEqual(r.majority.confusion[3][3], 1)
        XCTAssertEqual(r.majority.confusion[6][3], 1, "the tie's truth is neutral")
        // Cross-entropy: face 1 −(0.8 ln 1 + 0.2 ln 1e-7); face 2 −(0.5 ln 1 + 0.5 ln 1e-7);
        // face 4 the contempt votes dropped: −ln 1 = 0. (Face 3, left out, has none.)
        let expected = (-(0.2 * log(1e-7)) - 0.5 * log(1e-7) + 0) / 3
        XCTAssertEqual(r.crossEntropy!, expected, accuracy: 1e-3)
        let record = try JSONDecoder().decode(VoteEvaluationRecord.self, from: Data(VoteEvaluationRecord(r).json.utf8))
        XCTAssertEqual(record.n, 3)
        XCTAssertEqual(record.left_out, 1)
        XCTAssertEqual(record.outside_model, ["contempt": 1])
        XCTAssertEqual(record.accuracy, 0.3333)
        XCTAssertEqual(record.majority.n, 2)
        XCTAssertTrue(r.table.contains("1 contempt (no such class in the model) counted wrong"), r.table)
    }

    func testVotesFileReadsColumnsByNameAndRefusesBadRows() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ferplus-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // Columns in another order than FER+'s, an extra column, a blank line.
        let header = "NF,unknown,contempt,fear,disgust,anger,sadness,surprise,happiness,neutral,row,Usage\n"
        let good = dir.appendingPathComponent("good.csv").path
        try (header + "0,0,0,0,0,0,0,1,9,0,17,PublicTest\n\n0,0,0,0,0,0,2,0,0,8,3,Training\n").write(toFile: good, atomically: true, encoding: .utf8)
        let v = try FERPlus.load(path: good)
        XCTAssertEqual(v.map(\.row), [17, 3])
        XCTAssertEqual(v[0].counts, [0, 9, 1, 0, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual(v[0].majority, 1)
        XCTAssertEqual(v[1].majority, 0)
        let bad = dir.appendingPathComponent("bad.csv").path
        try (header + "0,0,0,0,0,0,0,1,x,0,17,PublicTest\n").write(toFile: bad, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try FERPlus.load(path: bad)) { e in
            XCTAssertEqual("\(e)", "'\(bad)' line 2: happiness 'x' is not a whole number ≥ 0 (expected FER+ votes joined to FER2013 rows: row,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF)")
        }
        let noRow = dir.appendingPathComponent("norow.csv").path
        try "neutral,happiness\n1,2\n".write(toFile: noRow, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try FERPlus.load(path: noRow)) { e in XCTAssertTrue("\(e)".contains("no column row, surprise"), "\(e)") }
    }
}
