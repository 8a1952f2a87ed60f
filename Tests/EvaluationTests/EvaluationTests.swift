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

    func testFixedFormatting() {
        XCTAssertEqual(fixed(0.5, 4), "0.5000")
        XCTAssertEqual(fixed(73.1234, 2), "73.12")
        XCTAssertEqual(fixed(1, 2), "1.00")
    }
}
