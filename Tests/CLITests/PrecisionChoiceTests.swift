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

    /// int8 asked for with a model that carries no calibration: one line, naming the model and
    /// what to do (the library's reason, the command line's flag).
    func testInt8WithoutCalibrationSaysToRunAtF32() throws {
        // The bundled model with its int8_act_max metadata taken out of the safetensors header.
        let data = try Data(contentsOf: URL(fileURLWithPath: CLI.model))
        let length = Int(data.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self).littleEndian })
        var header = try XCTUnwrap(JSONSerialization.jsonObject(with: data.subdata(in: 8..<8 + length)) as? [String: Any])
        var meta = try XCTUnwrap(header["__metadata__"] as? [String: String])
        XCTAssertNotNil(meta.removeValue(forKey: "int8_act_max"))
        header["__metadata__"] = meta
        var json = try JSONSerialization.data(withJSONObject: header)
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        out.append(data.subdata(in: 8 + length..<data.count))
        let path = try CLI.tempDirectory().appendingPathComponent("uncalibrated.safetensors").path
        try out.write(to: URL(fileURLWithPath: path))

        let r = try CLI.run(CLI.binary, ["bench", "--model", path, "--precision", "int8", "--batch", "1", "--seconds", "0.1"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains(path) && r.stderr.contains("int8_act_max") && r.stderr.hasSuffix("(--precision f32)\n"), r.stderr)
        // auto falls back to f32 for it.
        let auto = try CLI.run(CLI.binary, ["bench", "--model", path, "--batch", "1", "--seconds", "0.1"])
        XCTAssertEqual(auto.status, 0, auto.stderr)
        XCTAssertTrue(auto.stdout.contains("onednn-f32"), auto.stdout)
    }
}
