import Foundation
import XCTest
import TestSupport

/// A model with other classes than FER2013's (CK+: contempt, no neutral), its names in the
/// safetensors metadata: every command speaks in its names. The model is a tiny generated one
/// whose classifier bias makes contempt win on any picture, so a label taken from FER2013's list
/// by index would read "disgust".
final class CLIModelClassesTests: XCTestCase {
    static let ckplus = ["anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"]
    private var dir: URL!
    private var model: String!

    override func setUpWithError() throws {
        dir = try CLI.tempDirectory()
        model = try Self.tinyModel(in: dir, classes: Self.ckplus, winner: 1)
    }

    /// A VGG-like export ("4,M", 8×8 input cut from 10×10) with `classes` in its metadata and a
    /// classifier whose bias puts class `winner` far ahead.
    static func tinyModel(in dir: URL, classes: [String], winner: Int) throws -> String {
        var rng = SplitMix(seed: 77)
        let width = 4, features = width * 4 * 4
        func random(_ n: Int, _ scale: Float, _ offset: Float = 0) -> [Float] { (0..<n).map { _ in offset + rng.normal() * scale } }
        var bias = random(classes.count, 0.1)
        bias[winner] += 20
        let tensors: [(String, [Int], [Float])] = [
            ("conv0.weight", [width, 1, 3, 3], random(width * 9, 0.4)), ("conv0.bias", [width], random(width, 0.1)),
            ("bn0.weight", [width], random(width, 0.1, 1)), ("bn0.bias", [width], random(width, 0.1)),
            ("bn0.running_mean", [width], random(width, 0.1)), ("bn0.running_var", [width], random(width, 0.1, 1).map(abs)),
            ("classifier.weight", [classes.count, features], random(classes.count * features, 0.2)),
            ("classifier.bias", [classes.count], bias),
        ]
        var header: [String: Any] = ["__metadata__": [
            "format": "fer-stream-vgg19", "channels": "\(width),M", "input_size": "8", "crop_from": "10", "norm_mean": "0.5",
            "norm_std": "0.25", "bn_eps": "1e-05", "classes": classes.joined(separator: ","),
        ]]
        var offset = 0
        for t in tensors {
            header[t.0] = ["dtype": "F32", "shape": t.1, "data_offsets": [offset, offset + 4 * t.2.count]]
            offset += 4 * t.2.count
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var data = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { data.append(contentsOf: $0) }
        data.append(json)
        for t in tensors { t.2.withUnsafeBytes { data.append(contentsOf: $0) } }
        let path = dir.appendingPathComponent("ckplus-tiny.safetensors").path
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }

    /// `ffmpeg -y ARGS path` in the test's folder; returns the path.
    private func ffmpeg(_ name: String, _ args: [String]) throws -> String {
        let path = dir.appendingPathComponent(name).path
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let r = try CLI.run("/usr/bin/ffmpeg", ["-v", "error", "-y"] + args + [path])
        guard r.status == 0 else { throw XCTSkip("ffmpeg could not make \(name): \(r.stderr)") }
        return path
    }

    /// A generated picture (ffmpeg's test patterns), `seed` choosing which.
    private func picture(_ name: String, seed: Int) throws -> String {
        let source = ["testsrc", "smptebars", "rgbtestsrc", "mandelbrot"][seed % 4]
        return try ffmpeg(name, ["-f", "lavfi", "-i", "\(source)=size=64x64:rate=1", "-frames:v", "1", "-vf", "hue=h=\(seed * 40)"])
    }

    private func objects(_ r: CLI.Result) throws -> [[String: Any]] {
        try r.lines.map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any], $0) }
    }

    /// Each face's label and its `probs` and `raw` keys, in the order written.
    private func assertCKPlusFaces(_ line: String, file: StaticString = #filePath, line number: UInt = #line) throws {
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], line, file: file, line: number)
        let faces = try XCTUnwrap(object["faces"] as? [[String: Any]], file: file, line: number)
        XCTAssertEqual(faces.count, 1, line, file: file, line: number)
        for face in faces {
            XCTAssertEqual(face["label"] as? String, "contempt", line, file: file, line: number)
            for key in ["probs", "raw"] {
                XCTAssertEqual(Set(try XCTUnwrap(face[key] as? [String: Any], file: file, line: number).keys), Set(Self.ckplus), file: file, line: number)
            }
        }
        // The keys in the model's order (JSONSerialization loses it: read the text).
        let ordered = "\\{" + Self.ckplus.map { "\"\($0)\":[0-9.]+" }.joined(separator: ",") + "\\}"
        XCTAssertNotNil(line.range(of: "\"probs\":" + ordered + ",\"raw\":" + ordered, options: .regularExpression), line, file: file, line: number)
        XCTAssertFalse(line.contains("neutral"), line, file: file, line: number)
    }

    func testStreamLabelsColumnsSummaryPlotsAndAnnotationUseTheModelsClasses() throws {
        let clip = try ffmpeg("clip.mp4", ["-f", "lavfi", "-i", "testsrc=size=96x96:rate=10", "-frames:v", "5", "-pix_fmt", "yuv420p",
                                           "-c:v", "libx264", "-preset", "veryfast"])
        let timeline = dir.appendingPathComponent("timeline.svg").path, video = dir.appendingPathComponent("annotated.mp4").path
        let r = try CLI.ferStream(["--model", model, "--detector", "full-frame", "--tta", "center", "--summary-json",
                                   "--timeline", timeline, "--annotate", video, clip])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.lines.count, 5, r.stdout)
        for line in r.lines { try assertCKPlusFaces(line) }

        // --summary-json: the dominant class and the shares under the model's names.
        let summary = try XCTUnwrap(r.stderr.split(separator: "\n").last.map(String.init))
        let tracks = try XCTUnwrap((JSONSerialization.jsonObject(with: Data(summary.utf8)) as? [String: Any])?["tracks"] as? [[String: Any]], summary)
        XCTAssertEqual(tracks.first?["dominant"] as? String, "contempt")
        XCTAssertEqual(Set(try XCTUnwrap(tracks.first?["shares"] as? [String: Double]).keys), Set(Self.ckplus))

        // The timeline's legend names the classes, contempt in its own teal.
        let svg = try String(contentsOfFile: timeline, encoding: .utf8)
        XCTAssertTrue(svg.contains(">contempt</text>") && svg.contains("#17becf"), svg)
        XCTAssertFalse(svg.contains(">neutral</text>"))

        // The annotated video: the box's left edge in contempt's teal.
        let raw = try CLI.runData("/usr/bin/ffmpeg", ["-v", "error", "-i", video, "-vf", "select=eq(n\\,4),format=rgb24", "-frames:v", "1", "-f", "rawvideo", "-"])
        XCTAssertEqual(raw.count, 96 * 96 * 3)
        let i = (48 * 96 + 1) * 3
        for (got, want) in zip([raw[i], raw[i + 1], raw[i + 2]], [0x17, 0xbe, 0xcf]) {
            XCTAssertEqual(Double(got), Double(want), accuracy: 45, "box edge is \(raw[i]),\(raw[i + 1]),\(raw[i + 2]), not contempt's teal")
        }

        // CSV: the header's probability columns are the model's classes.
        let csv = try CLI.ferStream(["--model", model, "--detector", "full-frame", "--tta", "center", "--format", "csv", clip])
        XCTAssertEqual(csv.status, 0, csv.stderr)
        let rows = csv.stdout.components(separatedBy: "\r\n")
        XCTAssertTrue(rows[0].hasPrefix("frame,t,track,x,y,w,h,label,score,anger,contempt,disgust,fear,happy,sadness,surprise,raw_anger,raw_contempt,"), rows[0])
        XCTAssertEqual(rows.dropFirst().filter { !$0.isEmpty }.map { $0.split(separator: ",")[7] }, Array(repeating: "contempt", count: 5))

        // resmooth reads the classes back from the NDJSON (no model): the same names, in order.
        let ndjson = dir.appendingPathComponent("out.ndjson").path
        try r.stdout.write(toFile: ndjson, atomically: true, encoding: .utf8)
        let again = try CLI.ferStream(["resmooth", "--smooth", "ema:0.5", ndjson])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(again.lines.count, 5)
        for line in again.lines { try assertCKPlusFaces(line) }
    }

    func testImageLabelsAndPlotUseTheModelsClasses() throws {
        let a = try picture("a.png", seed: 0), b = try picture("b.png", seed: 1)
        let plot = dir.appendingPathComponent("bars.svg").path
        let r = try CLI.ferStream(["image", "--model", model, "--detector", "full-frame", "--tta", "center", "--plot", plot, a, b])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try objects(r).map { $0["file"] as? String }, [a, b])
        for line in r.lines { try assertCKPlusFaces(line) }
        let svg = try String(contentsOfFile: plot, encoding: .utf8)
        XCTAssertTrue(svg.contains("face 1: contempt</text>") && svg.contains(">sadness</text>") && svg.contains("#17becf"), svg)

        let csv = try CLI.ferStream(["image", "--model", model, "--detector", "full-frame", "--tta", "center", "--format", "csv", a])
        XCTAssertEqual(csv.status, 0, csv.stderr)
        XCTAssertTrue(csv.stdout.hasPrefix("file,frame,t,track,x,y,w,h,label,score,anger,contempt,disgust,"), csv.stdout)
        XCTAssertTrue(csv.stdout.contains(",contempt,"))
    }

    /// `eval --images`: folders map to the model's classes (contempt counts, happy is CK+'s
    /// happy, "sad" its sadness); a folder of a class it lacks (neutral) is skipped with a note
    /// that names its classes.
    func testEvalOnAFolderTreeCountsTheModelsClasses() throws {
        for (k, name) in ["contempt/c1.png", "contempt/c2.png", "contempt/c3.png", "happy/h1.png", "happy/h2.png", "Sad/s1.png", "neutral/n1.png"].enumerated() {
            _ = try picture(name, seed: k)
        }
        let plot = dir.appendingPathComponent("confusion.svg").path
        let r = try CLI.ferStream(["eval", "--model", model, "--images", dir.path, "--detector", "full-frame", "--tta", "center",
                                   "--format", "json", "--plot", plot])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout)
        XCTAssertEqual(json["n"] as? Int, 6, "neutral skipped")
        XCTAssertEqual((json["confusion"] as? [[Int]])?.map { $0.reduce(0, +) }, [0, 3, 0, 0, 2, 1, 0], "rows: CK+'s classes")
        XCTAssertEqual((json["confusion"] as? [[Int]])?.map { $0[1] }, [0, 3, 0, 0, 2, 1, 0], "all predicted contempt")
        let perClass = try XCTUnwrap(json["per_class"] as? [String: Any])
        XCTAssertEqual(Set(perClass.keys), Set(Self.ckplus))
        XCTAssertEqual(perClass["contempt"] as? Double, 1)
        XCTAssertEqual(perClass["happy"] as? Double, 0)
        XCTAssertTrue(perClass["anger"] is NSNull)
        XCTAssertEqual(json["accuracy"] as? Double, 0.5)
        XCTAssertTrue(r.stdout.contains(#""per_class":{"anger":null,"contempt":1,"disgust":null,"fear":null,"happy":0,"sadness":0,"surprise":null}"#), r.stdout)
        XCTAssertTrue(r.stderr.contains("skipping 'neutral'") && r.stderr.contains("contempt, disgust"), r.stderr)
        XCTAssertFalse(r.stderr.contains("7 classes"), r.stderr)
        let svg = try String(contentsOfFile: plot, encoding: .utf8)
        XCTAssertTrue(svg.contains(">contempt</text>") && !svg.contains(">neutral</text>"), svg)

        // The text report names them too.
        let text = try CLI.ferStream(["eval", "--model", model, "--images", dir.path, "--detector", "full-frame", "--tta", "center"])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("  contempt  100.00%  (n 3)"), text.stdout)
    }

    /// FER2013's CSV holds FER2013's classes: a model with others cannot be scored on it.
    func testEvalOnFER2013NeedsAFER2013Model() throws {
        var csv = "emotion,pixels,Usage\n"
        for i in 0..<3 { csv += "\(i),\((0..<2304).map { String(($0 + i * 31) % 256) }.joined(separator: " ")),PrivateTest\n" }
        let data = dir.appendingPathComponent("small.csv").path
        try csv.write(toFile: data, atomically: true, encoding: .utf8)
        let r = try CLI.ferStream(["eval", "--model", model, "--fer2013", data, "--tta", "center"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains(model) && r.stderr.contains("anger,contempt,disgust,fear,happy,sadness,surprise"), r.stderr)
        XCTAssertEqual(r.stdout, "")
    }

    /// A class list the classifier does not match: one line naming the model, before any work.
    func testAClassListThatDoesNotFitTheClassifierIsOneLine() throws {
        let six = try Self.tinyModel(in: try CLI.tempDirectory(), classes: Array(Self.ckplus.prefix(6)), winner: 1)
        var data = try Data(contentsOf: URL(fileURLWithPath: six))
        let from = Data("\"classes\":\"anger,contempt,disgust,fear,happy,sadness\"".utf8)
        let to = Data("\"classes\":\"anger,contempt,disgust,fear,happy,sad,ess\"".utf8)
        data.replaceSubrange(try XCTUnwrap(data.range(of: from)), with: to)
        try data.write(to: URL(fileURLWithPath: six))
        let r = try CLI.ferStream(["image", "--model", six, "--detector", "full-frame", try picture("x.png", seed: 0)])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains(six) && r.stderr.contains("6 outputs") && r.stderr.contains("7 classes"), r.stderr)
    }
}
