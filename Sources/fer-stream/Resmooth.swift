import ArgumentParser
import Foundation
import FERStream

/// The options that turn a face's per-frame probabilities into steady labels, shared by the
/// stream and `resmooth`.
struct LabelOptions: ParsableArguments {
    @Option(help: "Smoothing of each face's probabilities over time: tau:S (time constant in seconds), ema:A (per frame), window:N, or none.")
    var smooth: String = "tau:0.25"

    @Option(help: ArgumentHelp("Seconds a new label must lead the current one before it is reported (0: the argmax of every frame).", valueName: "seconds"))
    var hold: Double = 0.3

    @Option(help: ArgumentHelp("How far (in probability) a new label must lead the current one.", valueName: "p"))
    var margin: Double = 0.1

    func validate() throws {
        do { _ = try Smoothing(parsing: smooth) } catch { throw ValidationError(error.description) }
        guard hold >= 0, hold <= 60 else { throw ValidationError("--hold must be 0…60 seconds, not \(hold)") }
        guard margin >= 0, margin < 1 else { throw ValidationError("--margin must be 0 ≤ p < 1, not \(margin)") }
    }

    var smoothing: Smoothing { (try? Smoothing(parsing: smooth)) ?? .none }
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
        // The classes of the model that wrote it: the keys of the first face's "raw", in order.
        let classes = Self.classes(in: text)
        let writer = NDJSONWriter(sink: LineSink(), labels: classes)
        var smoother = TrackSmoother(labels.smoothing, rule: labels.rule)
        for (number, line) in text.split(separator: "\n").enumerated() where !line.isEmpty {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let frame = object["frame"] as? Int, let time = (object["t"] as? NSNumber)?.doubleValue,
                  let faces = object["faces"] as? [[String: Any]] else {
                throw RuntimeFailure(message: "'\(input)' line \(number + 1): not a fer-stream NDJSON line")
            }
            var results: [FaceResult] = []
            for face in faces {
                guard let track = face["track"] as? Int, let box = face["box"] as? [Int], box.count == 4,
                      let rawObject = face["raw"] as? [String: Any] else {
                    throw RuntimeFailure(message: "'\(input)' line \(number + 1): a face lacks track, box or raw")
                }
                let raw = classes.names.map { Float((rawObject[$0] as? NSNumber)?.doubleValue ?? 0) }
                let landmarks = (face["landmarks"] as? [[Double]])?.compactMap { $0.count == 2 ? Point(x: $0[0], y: $0[1]) : nil } ?? []
                let s = smoother.update(track: track, raw: raw, time: time)
                results.append(FaceResult(track: track, box: Box(x: box[0], y: box[1], width: box[2], height: box[3]), probs: s.probs,
                                          raw: raw, confidence: (face["confidence"] as? NSNumber)?.doubleValue, landmarks: landmarks,
                                          label: s.label, held: s.held))
            }
            smoother.endFrame()
            try writer.write(FrameResult(frame: frame, time: time, faces: results, skipped: object["skipped"] as? Int ?? 0))
        }
    }

    /// The keys of the first `"raw":{…}` object in `text`, in the order they are written
    /// (JSONSerialization's dictionaries lose it); FER2013's classes when there is none (no
    /// faces) or it cannot be read.
    static func classes(in text: String) -> LabelSet {
        var rest = Substring(text)
        while let found = rest.range(of: "\"raw\"") {
            rest = rest[found.upperBound...]
            var scanner = KeyScanner(rest.unicodeScalars)
            scanner.skipSpace()
            guard scanner.take(":") else { continue }
            scanner.skipSpace()
            guard scanner.take("{") else { continue }
            var keys: [String] = []
            while true {
                scanner.skipSpace()
                if scanner.take("}") { break }
                if !keys.isEmpty { guard scanner.take(",") else { return .fer2013 }; scanner.skipSpace() }
                guard let key = scanner.string() else { return .fer2013 }
                scanner.skipSpace()
                guard scanner.take(":") else { return .fer2013 }
                scanner.skipValue()
                keys.append(key)
            }
            return keys.count >= 2 && Set(keys).count == keys.count ? LabelSet(keys) : .fer2013
        }
        return .fer2013
    }
}

/// Just enough of a JSON reader to take the keys of a flat object of numbers in order.
private struct KeyScanner {
    private var scalars: Substring.UnicodeScalarView

    init(_ scalars: Substring.UnicodeScalarView) { self.scalars = scalars }

    mutating func skipSpace() {
        while let c = scalars.first, c == " " || c == "\t" || c == "\n" || c == "\r" { scalars.removeFirst() }
    }

    mutating func take(_ c: Unicode.Scalar) -> Bool {
        guard scalars.first == c else { return false }
        scalars.removeFirst()
        return true
    }

    /// A JSON string (simple escapes only: class names are letters, digits, '_', '-' and ' ').
    mutating func string() -> String? {
        guard take("\"") else { return nil }
        var out = String.UnicodeScalarView()
        while let c = scalars.popFirst() {
            if c == "\"" { return String(out) }
            if c == "\\" {
                guard let e = scalars.popFirst() else { return nil }
                switch e {
                case "\"", "\\", "/": out.append(e)
                default: return nil
                }
            } else {
                out.append(c)
            }
        }
        return nil
    }

    /// A number, null, true or false: everything up to the next ',' or '}'.
    mutating func skipValue() {
        while let c = scalars.first, c != ",", c != "}" { scalars.removeFirst() }
    }
}
