import Foundation
import XCTest

/// `resmooth` reads lines as `FrameRecord` (JSONDecoder): the classes in the order the file
/// writes them, whatever the model; one-line errors that name the file and line.
final class CLIResmoothTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = try CLI.tempDirectory()
    }

    private func file(_ name: String, _ lines: [String]) throws -> String {
        let path = dir.appendingPathComponent(name).path
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Classes in no known order (not FER2013's, not sorted) come back in the file's order, and
    /// with no smoothing and no hold each line is what it was, plus `held`.
    func testTheFilesClassOrderIsKept() throws {
        let probs = #"{"zeta":0.1,"alpha":0.6,"mid":0.3}"#
        let face = #"{"track":4,"box":[1,2,30,31],"confidence":0.9,"landmarks":[[1.5,2.0],[3.0,4.0],[5.0,6.0],[7.0,8.0],[9.0,10.0]],"#
            + #""label":"alpha","score":0.6,"probs":\#(probs),"raw":\#(probs)}"#
        let path = try file("order.ndjson", [#"{"frame":0,"t":0.0,"faces":[]}"#,
                                             #"{"frame":1,"t":0.04,"skipped":2,"faces":["# + face + "]}"])
        let r = try CLI.ferStream(["resmooth", "--smooth", "none", "--hold", "0", "--margin", "0", path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.lines, [#"{"frame":0,"t":0.0,"faces":[]}"#,
                                 #"{"frame":1,"t":0.04,"skipped":2,"faces":["# + face.replacingOccurrences(of: #""score":0.6,"#, with: #""score":0.6,"held":0.0,"#) + "]}"])
    }

    /// Lines another tool rewrote: with spaces (Python's json.dumps) the order is still the
    /// file's; with escaped names it cannot be read, and FER2013's names take FER2013's order.
    func testRewrittenLinesKeepTheirOrder() throws {
        func line(_ names: [String], escaped: Bool = false) -> String {
            let values = names.enumerated().map { k, name in
                "\"\(escaped ? "\\u00" + String(name.unicodeScalars.first!.value, radix: 16) + name.dropFirst() : name)\": \(k == 1 ? "0.4" : "0.1")"
            }.joined(separator: ", ")
            return #"{"frame": 0, "t": 0.5, "faces": [{"track": 1, "box": [0, 0, 9, 9], "label": "x", "score": 0.4, "probs": {"#
                + values + #"}, "raw": {"# + values + "}}]}"
        }
        let fer = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
        for (lines, raw) in [
            ([line(["zeta", "alpha", "mid"])], #""raw":{"zeta":0.1,"alpha":0.4,"mid":0.1}"#),
            ([line(fer.reversed(), escaped: true)], #""raw":{"angry":0.1,"disgust":0.1,"fear":0.1,"happy":0.1,"sad":0.1,"surprise":0.4,"neutral":0.1}"#),
        ] {
            let r = try CLI.ferStream(["resmooth", try file("rewritten.ndjson", lines)])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stdout.contains(raw), r.stdout)
        }
    }

    func testABadLineFailsNamingTheFileAndLine() throws {
        let good = #"{"frame":0,"t":0.0,"faces":[]}"#
        for (lines, message) in [
            ([good, "not json"], "line 2: not a fer-stream NDJSON line"),
            ([#"{"frame":0,"faces":[]}"#], "line 1: not a fer-stream NDJSON line"),
            ([#"{"frame":1e30,"t":0.0,"faces":[]}"#], "line 1: not a fer-stream NDJSON line"),
            ([good, good, #"{"frame":2,"t":0.0,"faces":[{"box":[0,0,1,1],"label":"x","probs":{},"raw":{}}]}"#], "line 3: a face lacks track"),
            ([#"{"frame":0,"t":0.0,"faces":[{"track":1,"box":[0,0,1],"label":"x","probs":{},"raw":{}}]}"#], "line 1: a face's box is not 4 numbers"),
            ([#"{"frame":0,"t":0.0,"faces":[{"track":1,"box":[0,0,1,1],"label":"x","probs":{},"raw":{"a":"b"}}]}"#],
             "line 1: a face's raw is not what fer-stream writes"),
        ] {
            let path = try file("bad.ndjson", lines)
            let r = try CLI.ferStream(["resmooth", path])
            XCTAssertEqual(r.status, 1, r.stderr)
            XCTAssertEqual(r.stderr, "fer-stream: '\(path)' \(message)\n")
        }
    }
}
