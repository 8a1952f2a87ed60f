import Foundation
import XCTest
import Datasets
import FERCore
@testable import Evaluation

final class EvaluationTests: XCTestCase {
    func testConfusionArithmetic() throws {
        var r = EvaluationResult()
        r.add(truth: 3, predicted: 3)
        r.add(truth: 3, predicted: 3)
        r.add(truth: 3, predicted: 6)
        r.add(truth: 0, predicted: 0)
        XCTAssertEqual(r.count, 4)
        XCTAssertEqual(r.correct, 3)
        XCTAssertEqual(r.accuracy, 0.75)
        XCTAssertEqual(r.perClass[3]!, 2.0 / 3.0, accuracy: 1e-12)
        XCTAssertEqual(r.perClass[0], 1)
        XCTAssertNil(r.perClass[1])
        let json = try JSONSerialization.jsonObject(with: Data(r.json.utf8)) as! [String: Any]
        XCTAssertEqual(json["n"] as? Int, 4)
        XCTAssertEqual(json["accuracy"] as? Double, 0.75)
        XCTAssertEqual((json["confusion"] as! [[Int]]).joined().reduce(0, +), 4)
        XCTAssertTrue(json["per_class"] is [String: Any])
        XCTAssertTrue(r.table.contains("accuracy 75.00%"))
    }

    /// A CK+ model's evaluation: per-class keys, rows and columns under its class names.
    func testResultsUseTheModelsClassNames() throws {
        let ckplus = ["anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"]
        var r = EvaluationResult(classes: ckplus)
        r.add(truth: 1, predicted: 1)
        r.add(truth: 1, predicted: 5)
        r.add(truth: 4, predicted: 4)
        XCTAssertTrue(r.json.contains(#""per_class":{"anger":null,"contempt":0.5,"disgust":null,"fear":null,"happy":1,"sadness":null,"surprise":null}"#), r.json)
        let json = try JSONSerialization.jsonObject(with: Data(r.json.utf8)) as! [String: Any]
        XCTAssertEqual((json["confusion"] as! [[Int]]).map { $0.reduce(0, +) }, [0, 2, 0, 0, 1, 0, 0])
        XCTAssertTrue(r.table.contains("  contempt   50.00%  (n 2)"), r.table)
        XCTAssertTrue(r.table.contains("\ncontempt         0       1       0       0       0       1       0\n"), r.table)
        // FER2013's table as before.
        XCTAssertTrue(EvaluationResult().table.contains("\nangry            0       0"), EvaluationResult().table)
    }

    func testJSONDecodesToItsRecord() throws {
        var r = EvaluationResult(classes: ["an\"ger", "calm", "never"])
        for (t, p) in [(0, 0), (0, 1), (1, 1), (1, 1), (1, 0), (0, 0)] { r.add(truth: t, predicted: p) }
        let decoded = try JSONDecoder().decode(EvaluationRecord.self, from: Data(r.json.utf8))
        XCTAssertEqual(decoded, EvaluationRecord(r))
        XCTAssertEqual(decoded.per_class["never"], .some(nil), "a class without members is null")
        XCTAssertEqual(decoded.accuracy, 0.6667)
        XCTAssertEqual(r.json, #"{"accuracy":0.6667,"confusion":[[2,1,0],[1,2,0],[0,0,0]],"ece":null,"n":6,"per_class":{"an\"ger":0.6667,"calm":0.6667,"never":null}}"#)
    }

    /// `eval --paste --format json`: the evaluation of the faces found inside, every key there.
    func testDetectedEvaluationDecodesToItsRecord() throws {
        var r = EvaluationResult(classes: ["a", "b"])
        for (t, p) in [(0, 0), (1, 1), (1, 0)] { r.add(truth: t, predicted: p) }
        let record = DetectedEvaluationRecord(found: r, missed: 1)
        XCTAssertEqual(record.accuracy_all, 0.5)
        XCTAssertEqual(record.json, #"{"accuracy_all":0.5,"found":{"accuracy":0.6667,"confusion":[[1,0],[1,1]],"ece":null,"n":3,"per_class":{"a":1,"b":0.5}},"missed":1}"#)
        XCTAssertEqual(try JSONDecoder().decode(DetectedEvaluationRecord.self, from: Data(record.json.utf8)), record)
        let none = DetectedEvaluationRecord(found: EvaluationResult(classes: ["a", "b"]), missed: 0)
        XCTAssertTrue(none.json.contains(#""accuracy_all":null"#), none.json)
    }

    func testFixedFormatting() {
        XCTAssertEqual(fixed(0.5, 4), "0.5000")
        XCTAssertEqual(fixed(73.1234, 2), "73.12")
        XCTAssertEqual(fixed(1, 2), "1.00")
    }
}
