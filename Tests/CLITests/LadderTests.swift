import Foundation
import XCTest

/// Real time's ladder of two networks, end to end: the default model (the VGG19) hands faces to
/// the bundled student when one VGG19 crop per face does not fit the frame's time, instead of
/// skipping frames; a model named with --model, files, and --fast-model none never use it.
///
/// The plain-Swift engine makes the budget tight on any machine: a VGG19 crop takes ~0.1–0.2 s
/// there (2 cores), the student's a tenth of that, so on a 25 fps clip (40 ms a frame) one VGG19
/// crop does not fit and one student crop does.
final class LadderTests: XCTestCase {
    private var vgg: String { CLI.root.appendingPathComponent("Models/vgg19-ferplus.safetensors").path }
    private var student: String { CLI.root.appendingPathComponent("Models/student-ferplus.safetensors").path }

    /// The environment without variables that name the models, so that the defaults are the bundled files.
    private var environment: [String: String] {
        ProcessInfo.processInfo.environment.filter { $0.key != "FER_STREAM_MODEL" && $0.key != "FER_STREAM_FAST_MODEL" }
    }

    private func requireModels() throws {
        for path in [vgg, student] where !FileManager.default.fileExists(atPath: path) { throw XCTSkip("no model at \(path)") }
    }

    /// The portrait zooming slowly at `fps` frames a second, one face.
    private func clip(in dir: URL, fps: Int, frames: Int) throws -> String {
        guard FileManager.default.fileExists(atPath: CLI.portrait) else { throw XCTSkip("\(CLI.portrait) is missing") }
        let path = dir.appendingPathComponent("face-\(fps)fps.mp4").path
        let r = try CLI.run("/usr/bin/ffmpeg", ["-v", "error", "-y", "-loop", "1", "-framerate", "\(fps)", "-i", CLI.portrait, "-vf",
                                                "zoompan=z='1+0.004*on':x='(iw-iw/zoom)*0.3':y='(ih-ih/zoom)*0.2':d=1:s=240x240:fps=\(fps),format=yuv420p",
                                                "-frames:v", "\(frames)", "-c:v", "libx264", "-preset", "veryfast", path])
        XCTAssertEqual(r.status, 0, r.stderr)
        return path
    }

    /// Runs fer-stream with `--stats` and returns its exit, its stats and its error output.
    private func stats(_ arguments: [String], environment extra: [String: String] = [:]) throws -> (Int32, [String: Any], String) {
        let r = try CLI.run(CLI.binary, ["--stats", "--no-progress", "-o", "/dev/null"] + arguments,
                            environment: environment.merging(extra) { $1 })
        guard r.status == 0, let last = r.stderr.split(separator: "\n").last,
              let s = try JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any] else { return (r.status, [:], r.stderr) }
        return (r.status, s, r.stderr)
    }

    private func cropsByNetwork(_ s: [String: Any]) -> [String: Int] { (s["crops_by_network"] as? [String: Int]) ?? [:] }

    func testTheStudentScoresFacesInsteadOfFramesBeingSkipped() throws {
        try requireModels()
        let dir = try CLI.tempDirectory()
        let input = try clip(in: dir, fps: 25, frames: 50)
        let common = ["--realtime", "--engine", "reference", "--tta", "center", "--latency", "400", input]
        let (status, ladder, err) = try stats(common)
        XCTAssertEqual(status, 0, err)
        let (status2, alone, err2) = try stats(["--fast-model", "none"] + common)
        XCTAssertEqual(status2, 0, err2)

        let crops = cropsByNetwork(ladder)
        // Both networks were run before the first frame was read (warm-up), so the budget knew
        // from the first frame that the new face's VGG19 crop does not fit: the student scores it.
        XCTAssertGreaterThan((ladder["busy_s"] as? [String: Double])?["warmup"] ?? 0, 0, "\(ladder)")
        XCTAssertGreaterThan(crops["student-ferplus"] ?? 0, 0, "the student: \(crops)")
        XCTAssertLessThanOrEqual(crops["vgg19-ferplus"] ?? 0, 5, "the VGG19 scores next to nothing: \(crops)")
        XCTAssertEqual(cropsByNetwork(alone).keys.sorted(), ["vgg19-ferplus"], "--fast-model none: the VGG19 alone")
        let skipped = ladder["skipped"] as! Int, skippedAlone = alone["skipped"] as! Int
        // Only a few frames on a loaded machine are lost; the student keeps up with the rest.
        XCTAssertLessThanOrEqual(skipped, 10, "skipped \(skipped) of 50 with the student, \(skippedAlone) without")
        XCTAssertGreaterThan(skippedAlone, skipped, "the VGG19 alone keeps up less")
        XCTAssertEqual((ladder["frames_analysed"] as! Int) + skipped, 50)
    }

    func testANamedModelAndFilesNeverUseTheStudent() throws {
        try requireModels()
        let dir = try CLI.tempDirectory()
        let input = try clip(in: dir, fps: 8, frames: 16)
        // --model pins one network, also in real time under the same tight budget.
        let (s1, pinned, e1) = try stats(["--realtime", "--engine", "reference", "--tta", "center", "--model", vgg, input])
        XCTAssertEqual(s1, 0, e1)
        XCTAssertEqual(cropsByNetwork(pinned).keys.sorted(), ["vgg19-ferplus"])
        // A file (no --realtime): the default model alone, every frame, and the student is not even looked for.
        let (s2, file, e2) = try stats(["--tta", "center", input], environment: ["FER_STREAM_FAST_MODEL": dir.path + "/missing.safetensors"])
        XCTAssertEqual(s2, 0, e2)
        XCTAssertEqual(cropsByNetwork(file).keys.sorted(), ["vgg19-ferplus"])
        XCTAssertEqual(file["skipped"] as? Int, 0)
    }

    func testAMissingStudentIsOneLineNamingIt() throws {
        try requireModels()
        let dir = try CLI.tempDirectory()
        let input = try clip(in: dir, fps: 8, frames: 4)
        let missing = dir.path + "/missing.safetensors"
        let (status, _, err) = try stats(["--realtime", "--fast-model", missing, input])
        XCTAssertEqual(status, 1)
        let lines = err.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, err)
        XCTAssertTrue(err.contains(missing), err)
    }
}
