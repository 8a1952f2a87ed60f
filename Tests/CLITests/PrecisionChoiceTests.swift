import Foundation
import XCTest

/// `--precision auto` as a user meets it: int8 from AVX2 up, f32 on older CPUs. oneDNN's
/// `ONEDNN_MAX_CPU_ISA` makes this CPU act as an older one, so both sides are checked here.
final class PrecisionChoiceTests: XCTestCase {
    private func benchEngine(maxISA: String) throws -> String {
        var env = ProcessInfo.processInfo.environment
        env["ONEDNN_MAX_CPU_ISA"] = maxISA
        let r = try CLI.run(CLI.binary, ["bench", "--batch", "2", "--seconds", "0.2", "--threads", "1"], environment: env)
        XCTAssertEqual(r.status, 0, r.stderr)
        let record = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout)
        return try XCTUnwrap(record["engine"] as? String, r.stdout)
    }

    func testAutoIsInt8FromAVX2UpAndF32Below() throws {
        XCTAssertEqual(try benchEngine(maxISA: "AVX"), "onednn-f32", "no int8 below AVX2")
        let flags = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        guard flags.contains(" avx2") else { throw XCTSkip("this CPU has no AVX2") }
        XCTAssertEqual(try benchEngine(maxISA: "AVX2"), "onednn-int8", "int8 on plain AVX2 (no 8-bit dot products)")
    }

    func testCropsPerFaceAndLatencyAreChecked() throws {
        for (args, flag) in [(["--crops-per-face", "0"], "--crops-per-face"), (["--crops-per-face", "11"], "--crops-per-face"),
                             (["--crops-per-face", "some"], "--crops-per-face"), (["--latency", "0"], "--latency"),
                             (["--latency", "-5"], "--latency")] {
            let r = try CLI.run(CLI.binary, args + ["x.mp4"])
            XCTAssertEqual(r.status, 2, "\(args): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains(flag), r.stderr)
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        }
    }
}
