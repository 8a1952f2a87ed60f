import Foundation
import XCTest
import FERCore
@testable import Datasets
import TestSupport

final class FER2013Tests: XCTestCase {
    /// A tiny CSV in FER2013's layout, generated here (no rows of the real data set).
    private func writeSample(gzip: Bool) throws -> String {
        var text = "emotion,pixels,Usage\n"
        for (i, usage) in ["Training", "PublicTest", "PrivateTest", "Training"].enumerated() {
            let pixels = (0..<2304).map { String(($0 * (i + 1)) % 256) }.joined(separator: " ")
            text += "\(i + 3),\(pixels),\(usage)\n"
        }
        let path = Scratch.path("fer.csv")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        guard gzip else { return path }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/gzip")
        p.arguments = ["-f", path]
        try p.run(); p.waitUntilExit()
        return path + ".gz"
    }

    func testPlainAndGzipReadAlike() throws {
        for gz in [false, true] {
            let path = try writeSample(gzip: gz)
            let all = try FER2013.load(path: path)
            XCTAssertEqual(all.map(\.label), [.happy, .sad, .surprise, .neutral])
            XCTAssertEqual(all[1].image[1, 0], 2)
            XCTAssertEqual(all[2].image[47, 47], UInt8((2303 * 3) % 256))
            XCTAssertEqual(try FER2013.load(path: path, split: .training).map(\.label), [.happy, .neutral])
            XCTAssertEqual(try FER2013.load(path: path, split: .privateTest).count, 1)
            XCTAssertEqual(try FER2013.load(path: path, limit: 2).count, 2)
        }
    }

    func testBadFilesNameThePath() throws {
        XCTAssertThrowsError(try FER2013.load(path: "/no/such/fer2013.csv")) { XCTAssertTrue("\($0)".contains("/no/such/fer2013.csv")) }
        let path = Scratch.path("bad.csv")
        try "emotion,pixels,Usage\n9,1 2 3,Training\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try FER2013.load(path: path)) { error in
            XCTAssertEqual(error as? DatasetError, .malformed(path: path, line: 2, reason: "emotion is not 0…6"))
        }
    }

    /// Numbers from a hostile file are errors naming the file and line, never a trap: a 40-digit
    /// pixel used to overflow `Int` (issue 36), and a last pixel over 255 was silently clamped.
    func testHostileNumbersAreErrorsNotTraps() throws {
        let path = Scratch.path("hostile.csv")
        let fine = Array(repeating: "7", count: 2303).joined(separator: " ")
        let cases: [(row: String, reason: String)] = [
            ("3,9999999999999999999999999999999999999999 1 2,PrivateTest", "pixel 99999999999999999999… (40 digits) is not 0…255"),
            ("3,1 2 \(String(repeating: "9", count: 5000)),PrivateTest", "pixel 99999999999999999999… (5000 digits) is not 0…255"),
            ("3,256 \(fine),Training", "pixel 256 is not 0…255"),
            ("3,\(fine) 300,Training", "pixel 300 is not 0…255"),
            ("99999999999999999999999999,1 2,Training", "emotion is not 0…6"),
            ("-9223372036854775808,1 2,Training", "emotion is not 0…6"),
        ]
        for (row, reason) in cases {
            try "emotion,pixels,Usage\n\(row)\n".write(toFile: path, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try FER2013.load(path: path)) { error in
                XCTAssertEqual(error as? DatasetError, .malformed(path: path, line: 2, reason: reason), String(row.prefix(60)))
            }
        }
        // The shape of what `scripts/fuzz.sh csv` found on the old reader: no header, a 117-digit pixel mid-row.
        let found = "4,48 59 182 " + String(repeating: "7", count: 117) + " 16 176,PublicTest"
        try (found + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try FER2013.load(path: path)) { error in
            XCTAssertEqual(error as? DatasetError, .malformed(path: path, line: 1, reason: "pixel 77777777777777777777… (117 digits) is not 0…255"))
        }
        // Leading zeros are still a valid pixel: the saturation does not misread them.
        try "emotion,pixels,Usage\n3,\(fine) 000000000000000000000000000000255,Training\n".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertEqual(try FER2013.load(path: path).first?.image[47, 47], 255)
    }

    func testRealDataSetWhenPresent() throws {
        guard let path = FER2013.defaultPath() ?? ["../shared/data/fer2013.csv.gz"].first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw XCTSkip("FER2013 not found: set FER2013_CSV or put it at ../shared/data/fer2013.csv.gz")
        }
        let rows = try FER2013.load(path: path, split: .publicTest)
        XCTAssertEqual(rows.count, 3589)
    }
}
