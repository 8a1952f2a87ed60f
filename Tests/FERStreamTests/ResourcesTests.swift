import Foundation
@testable import FERStream
import TestSupport
import XCTest

final class ResourcesTests: XCTestCase {
    func testAnInstalledShareDirectoryComesFirst() {
        let dirs = Resources.searchDirectories(executable: "/opt/fs/bin/fer-stream", workingDirectory: "/home/u")
        XCTAssertEqual(dirs.first, "/opt/fs/share/fer-stream")
        XCTAssertEqual(dirs.last, "/home/u/Models")
        // The checkout this was built from (this test file is Tests/PipelineTests/ResourcesTests.swift in it).
        let checkout = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Models").standardizedFileURL.path
        XCTAssertTrue(dirs.contains(checkout), "\(dirs)")
        XCTAssertEqual(Set(dirs).count, dirs.count, "no directory twice")
    }

    func testTheVariableWinsAndIsUsedAsGiven() throws {
        let path = try Resources.locate("m.safetensors", variable: "V", environment: ["V": "/nowhere/x"], directories: [])
        XCTAssertEqual(path, "/nowhere/x")
    }

    func testTheFirstDirectoryHoldingTheFileIsUsed() throws {
        let a = try Scratch.directory("res-a"), b = try Scratch.directory("res-b")
        try Data("x".utf8).write(to: b.appendingPathComponent("m.safetensors"))
        let path = try Resources.locate("m.safetensors", variable: "V", environment: [:], directories: [a.path, b.path])
        XCTAssertEqual(path, b.path + "/m.safetensors")
    }

    func testNothingFoundListsWhereItLooked() throws {
        let a = try Scratch.directory("res-a")
        XCTAssertThrowsError(try Resources.locate("m.safetensors", variable: "FER_STREAM_MODEL", environment: [:],
                                                  directories: [a.path, "/nowhere/Models"])) { error in
            // The library names what is missing and its variable; a program adds its own way to name the file.
            XCTAssertEqual("\(error)", "cannot find the bundled 'm.safetensors': looked in \(a.path), /nowhere/Models; set FER_STREAM_MODEL")
            XCTAssertEqual((error as? ResourceNotFound)?.description(remedy: "give --model FILE or set FER_STREAM_MODEL"),
                           "cannot find the bundled 'm.safetensors': looked in \(a.path), /nowhere/Models; give --model FILE or set FER_STREAM_MODEL")
        }
    }
}

final class BenchRecordTests: XCTestCase {
    func testTheLineDecodesToItsRecord() throws {
        let r = BenchRecord(network: "resnet18", engine: "onednn-int8", batch: 10, threads: 2,
                            callSeconds: [0.031, 0.0254, 0.02517, 0.04], gflopPerCrop: 2.1234567, seconds: 3.14159,
                            firstCallSeconds: 0.48765)
        XCTAssertEqual(r.calls, 4)
        XCTAssertEqual(r.ms_per_call_median, 31, "the median of 4 calls is the upper middle one")
        XCTAssertEqual(try JSONDecoder().decode(BenchRecord.self, from: Data(r.json.utf8)), r)
        XCTAssertEqual(r.json, #"{"batch":10,"calls":4,"crops_per_s":322.6,"engine":"onednn-int8","first_call_ms":487.7,"gflop_per_crop":2.123,"#
            + #""gflop_per_s":685,"ms_per_call_median":31,"network":"resnet18","seconds":3.14,"threads":2}"#)
    }

    /// No calls timed (or a zero median): the rates are 0, never infinite, and every key is there.
    func testNoCallsGiveZeroRates() throws {
        let r = BenchRecord(network: "vgg19", engine: "reference", batch: 4, threads: 1, callSeconds: [], gflopPerCrop: .nan, seconds: 0)
        XCTAssertEqual(r.crops_per_s, 0)
        XCTAssertTrue(r.json.contains(#""gflop_per_crop":null,"gflop_per_s":null"#), r.json)
        XCTAssertTrue(r.json.contains(#""first_call_ms":null"#), "no cold call timed: null, not a made-up 0")
        XCTAssertEqual(try JSONDecoder().decode(BenchRecord.self, from: Data(r.json.utf8)), r)
    }
}
