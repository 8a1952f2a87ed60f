import FERStream
import Foundation
import Synchronization
import TestSupport
import XCTest

/// A library user gets the command line's resumable corpus: a `StreamGroup` whose inputs follow
/// `OutputDirectory.plan` writes one whole result per input, and run again skips what is done.
final class ResumableCorpusTests: XCTestCase {
    private func clip(_ name: String, frames: Int) throws -> String {
        let path = Scratch.path(name)
        _ = try Fixtures.run("ffmpeg", ["-y", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10",
                                                  "-frames:v", "\(frames)", "-pix_fmt", "yuv420p", "-c:v", "libx264", path])
        return path
    }

    func testResultsAppearWholeAndARerunSkipsThem() throws {
        let inputs = [try clip("corpus-a-\(UUID().uuidString).mp4", frames: 6), try clip("corpus-b-\(UUID().uuidString).mp4", frames: 4)]
        defer { inputs.forEach { try? FileManager.default.removeItem(atPath: $0) } }
        let dir = try Scratch.directory("corpus").path
        var options = StreamOptions()
        options.faces.kind = .fullFrame
        options.recognizer.tta = .center
        options.recognizer.threads = 2
        let models = try SharedModels(options: options)
        let directory = try OutputDirectory(dir, extensions: ["ndjson"], inputs: inputs)

        func run() -> (outcomes: [StreamGroup.Outcome], skipped: [String]) {
            let skipped = Mutex<[String]>([])
            let group = StreamGroup(inputs: inputs, options: options, models: models)
            let outcomes = group.run(tagsSource: false, plan: { source in
                directory.plan(for: source, format: .ndjson, labels: models.labels, skipped: { path in skipped.withLock { $0.append(path) } })
            })
            return (outcomes, skipped.withLock { $0 }.sorted())
        }

        let first = run()
        XCTAssertEqual(first.outcomes.map { $0.error?.description }, [nil, nil])
        XCTAssertEqual(first.skipped, [])
        for (input, frames) in zip(inputs, [6, 4]) {
            let result = directory.resultPath(for: input, extension: "ndjson")
            let lines = try String(contentsOfFile: result, encoding: .utf8).split(separator: "\n")
            XCTAssertEqual(lines.count, frames, result)
            XCTAssertFalse(lines[0].contains("\"source\""), "one file per input: its lines need not name it")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix(".") }, [], "no temporary file left")

        let second = run()
        XCTAssertTrue(second.outcomes.allSatisfy { $0.stats == nil && $0.error == nil }, "nothing ran again")
        XCTAssertEqual(second.skipped, inputs.map { directory.resultPath(for: $0, extension: "ndjson") }.sorted())
    }
}
