import ArgumentParser
import Foundation
import FERStream

/// The options that turn a face's per-frame probabilities into steady labels, shared by the
/// stream and `resmooth`.
struct LabelOptions: ParsableArguments {
    @Option(name: .customLong("smooth"), help: ArgumentHelp(
        "Smoothing of each face's probabilities over time: tau:S (time constant in seconds), ema:A (per frame), window:N, or none. (default: \(PipelineOptions().smoothing))",
        valueName: "smooth"), transform: Smoothing.argument)
    var smoothing = PipelineOptions().smoothing

    @Option(help: ArgumentHelp("Seconds a new label must lead the current one before it is reported (0: the argmax of every frame).", valueName: "seconds"))
    var hold: Double = 0.3

    @Option(help: ArgumentHelp("How far (in probability) a new label must lead the current one.", valueName: "p"))
    var margin: Double = 0.1

    func validate() throws {
        guard hold >= 0, hold <= 60 else { throw ValidationError("--hold must be 0…60 seconds, not \(hold)") }
        guard margin >= 0, margin < 1 else { throw ValidationError("--margin must be 0 ≤ p < 1, not \(margin)") }
    }

    var rule: LabelRule { LabelRule(hold: hold, margin: margin) }
}

/// `fer-stream resmooth`: the labels of an NDJSON result again, from its `raw` probabilities,
/// with other smoothing or label settings (no video, no network: instant).
struct Resmooth: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resmooth",
        abstract: "Re-label fer-stream's NDJSON output from its raw probabilities with other smoothing settings.",
        discussion: """
        Examples:
          fer-stream resmooth --smooth tau:1 --hold 0.5 clip.ndjson > steadier.ndjson
          fer-stream --smooth none clip.mp4 | fer-stream resmooth -
        """
    )

    @Argument(help: "NDJSON written by fer-stream, or - for standard input.")
    var input: String

    @OptionGroup(title: "Labels")
    var labels: LabelOptions

    func run() throws {
        let text: String
        do {
            let data = input == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: input))
            text = String(decoding: data, as: UTF8.self)
        } catch {
            throw RuntimeFailure(message: "cannot read '\(input)': \((error as NSError).localizedDescription)")
        }
        let decoder = JSONDecoder()
        let sink = LineSink()
        // The classes of the model that wrote it: the first face's `raw` keys, in its order.
        // Lines before it have no faces, and a faceless line reads the same under any classes.
        var classes: LabelSet?
        var writer = NDJSONWriter(sink: sink)
        // Per source: a run with several inputs interleaves their lines, and track ids are per input.
        var smoothers: [String: TrackSmoother] = [:]
        for (number, line) in text.split(separator: "\n").enumerated() where !line.isEmpty {
            let at = "'\(input)' line \(number + 1)"
            let record: RawLine
            do {
                record = try decoder.decode(RawLine.self, from: Data(line.utf8))
            } catch let error as DecodingError {
                throw RuntimeFailure(message: "\(at): \(Self.problem(error))")
            } catch {
                throw RuntimeFailure(message: "\(at): not a fer-stream NDJSON line")
            }
            guard let time = record.t else { throw RuntimeFailure(message: "\(at): not a fer-stream NDJSON line") }
            if classes == nil, let first = record.faces.first {
                let found = Self.classes(Array(first.raw.keys), writtenIn: line)
                classes = found
                writer = NDJSONWriter(sink: sink, labels: found)
            }
            let names = classes?.names ?? []
            var smoother = smoothers[record.source ?? ""] ?? TrackSmoother(labels.smoothing, rule: labels.rule)
            var results: [FaceResult] = []
            for face in record.faces {
                guard face.box.count == 4 else { throw RuntimeFailure(message: "\(at): a face's box is not 4 numbers") }
                // A class the line lacks, or null (not a number), reads as 0.
                let raw = names.map { Float((face.raw[$0] ?? nil) ?? 0) }
                let s = smoother.update(track: face.track, raw: raw, time: time)
                results.append(FaceResult(track: face.track, box: Box(x: face.box[0], y: face.box[1], width: face.box[2], height: face.box[3]),
                                          probs: s.probs, raw: raw, confidence: face.confidence, landmarks: Self.points(face.landmarks),
                                          label: s.label, held: s.held))
            }
            smoother.endFrame()
            smoothers[record.source ?? ""] = smoother
            try writer.write(FrameResult(frame: record.frame, time: time, faces: results, skipped: record.skipped ?? 0, source: record.source))
        }
    }

    /// What resmooth reads of a line: `FrameRecord`'s fields it uses, under the same names, so a
    /// line cut down to them (by jq, or written by another tool) is accepted too.
    struct RawLine: Decodable {
        var source: String?
        var frame: Int
        var t: Double?
        var skipped: Int?
        var faces: [Face]

        struct Face: Decodable {
            var track: Int
            var box: [Int]
            var confidence: Double?
            var landmarks: [[Double?]]?
            var raw: [String: Double?]
        }
    }

    /// What is wrong with a line JSONDecoder refused, in a few words: a face's field, or the line.
    static func problem(_ error: DecodingError) -> String {
        let (path, missing): ([any CodingKey], String?) = switch error {
        case let .keyNotFound(key, context): (context.codingPath, key.stringValue)
        case let .typeMismatch(_, context), let .valueNotFound(_, context), let .dataCorrupted(context): (context.codingPath, nil)
        @unknown default: ([], nil)
        }
        // ["faces", index, field…]: inside a face.
        guard path.count >= 2, path[0].stringValue == "faces" else { return "not a fer-stream NDJSON line" }
        if path.count == 2, let missing { return "a face lacks \(missing)" }
        return "a face's \(path.count > 2 ? path[2].stringValue : "entry") is not what fer-stream writes"
    }

    /// The class names `names` (a face's `raw` keys, decoded) in the order `line` writes them.
    /// JSONDecoder's objects are dictionaries, which keep no order, so the order is where each
    /// name stands as a key after `"raw":{` (spaces allowed, as Python's json.dumps writes).
    /// Names written with escapes (`\u0061`) are not found: FER2013's order if the names are
    /// FER2013's, else the names sorted (the values stay with their names).
    static func classes(_ names: [String], writtenIn line: Substring) -> LabelSet {
        guard names.count >= 2 else { return .fer2013 }
        if let object = line.range(of: #""raw"\s*:\s*\{"#, options: .regularExpression) {
            let rest = line[object.upperBound...]
            let written = names.compactMap { name in
                rest.range(of: "\"" + NSRegularExpression.escapedPattern(for: name) + #""\s*:"#, options: .regularExpression).map { (name, $0.lowerBound) }
            }
            if written.count == names.count { return LabelSet(written.sorted { $0.1 < $1.1 }.map(\.0)) }
        }
        return Set(names) == Set(LabelSet.fer2013.names) ? .fer2013 : LabelSet(names.sorted())
    }

    /// A face's landmarks as points: none if a coordinate is null (not a number); an entry that
    /// is not an [x, y] pair is left out.
    static func points(_ landmarks: [[Double?]]?) -> [Point] {
        let pairs = (landmarks ?? []).map { $0.compactMap { $0 } }
        guard zip(pairs, landmarks ?? []).allSatisfy({ $0.count == $1.count }) else { return [] }
        return pairs.compactMap { $0.count == 2 ? Point(x: $0[0], y: $0[1]) : nil }
    }
}
