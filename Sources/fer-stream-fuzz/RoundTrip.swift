import FERCore
import Foundation
import Pipeline
import Output

/// Reads a writer's output back, as `jq` or pandas would, and says what differs from the result
/// that was written (nil: nothing). The writers' contract: integers exact; a finite number to its
/// printed digits; a non-finite one as JSON `null` / an empty CSV field; text exact.
enum RoundTrip {
    static func check(_ text: String, format: OutputFormat, result: FrameResult) -> String? {
        format == .ndjson ? ndjson(text, result) : csv(text, result)
    }

    // MARK: NDJSON

    static func ndjson(_ text: String, _ r: FrameResult) -> String? {
        guard text.hasSuffix("\n"), text.firstIndex(of: "\n") == text.index(before: text.endIndex) else { return "not one line" }
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else { return "not a JSON object" }
        if let problem = int(object["frame"], r.frame, "frame") ?? number(object["t"], r.time, 6, "t") { return problem }
        if (object["file"] as? String) != r.file { return "file \(String(describing: object["file"])) vs \(String(describing: r.file))" }
        if r.skipped > 0, let problem = int(object["skipped"], r.skipped, "skipped") { return problem }
        if r.skipped <= 0, object["skipped"] != nil { return "skipped present" }
        guard let faces = object["faces"] as? [[String: Any]], faces.count == r.faces.count else { return "faces" }
        for (o, f) in zip(faces, r.faces) {
            if let p = int(o["track"], f.track, "track") { return p }
            guard let box = o["box"] as? [Any], box.count == 4 else { return "box" }
            for (v, e) in zip(box, [f.box.x, f.box.y, f.box.width, f.box.height]) { if let p = int(v, e, "box") { return p } }
            if (o["label"] as? String) != LabelSet.fer2013.name(at: f.label) { return "label" }
            if let p = number(o["score"], Double(f.score), 4, "score") { return p }
            for (key, values) in [("probs", f.probs), ("raw", f.raw)] {
                guard let probs = o[key] as? [String: Any], probs.count == Emotion.count else { return key }
                for e in Emotion.allCases { if let p = number(probs[e.name], Double(values[e.rawValue]), 4, "\(key).\(e.name)") { return p } }
            }
            if let c = f.confidence { if let p = number(o["confidence"], c, 4, "confidence") { return p } } else if o["confidence"] != nil { return "confidence present" }
            if let h = f.held { if let p = number(o["held"], h, 3, "held") { return p } } else if o["held"] != nil { return "held present" }
            let marks = (o["landmarks"] as? [[Any]]) ?? []
            guard marks.count == f.landmarks.count else { return "landmarks" }
            for (m, point) in zip(marks, f.landmarks) {
                guard m.count == 2 else { return "landmark" }
                if let p = number(m[0], point.x, 1, "landmark x") ?? number(m[1], point.y, 1, "landmark y") { return p }
            }
        }
        return nil
    }

    private static func int(_ value: Any?, _ expected: Int, _ name: String) -> String? {
        guard let n = value as? NSNumber, n.int64Value == Int64(expected), "\(n)" == "\(expected)" else {
            return "\(name): \(String(describing: value)) vs \(expected)"
        }
        return nil
    }

    /// A JSON number within half a unit of its last printed digit (or of the double's own
    /// precision, for huge values); `null` for a non-finite one.
    private static func number(_ value: Any?, _ expected: Double, _ digits: Int, _ name: String) -> String? {
        if !expected.isFinite { return value is NSNull ? nil : "\(name): \(String(describing: value)) for \(expected), not null" }
        guard let n = value as? NSNumber, !(value is NSNull) else { return "\(name): \(String(describing: value)) vs \(expected)" }
        return close(n.doubleValue, expected, digits) ? nil : "\(name): \(n.doubleValue) vs \(expected)"
    }

    static func close(_ read: Double, _ expected: Double, _ digits: Int) -> Bool {
        var unit = 1.0
        for _ in 0..<digits { unit /= 10 }
        // Relative slack for huge values: JSON readers need not parse long decimals correctly rounded.
        return abs(read - expected) <= unit / 2 * 1.000001 + abs(expected) * 1e-12
    }

    // MARK: CSV

    static func csv(_ text: String, _ r: FrameResult) -> String? {
        guard let rows = parseCSV(text) else { return "unbalanced quotes" }
        let withFile = r.file != nil
        let header = (withFile ? "file," : "") + CSVWriter.header
        guard let first = rows.first, first.joined(separator: ",") == header else { return "header" }
        let columns = first.count
        let body = Array(rows.dropFirst())
        guard body.count == max(1, r.faces.count) else { return "\(body.count) rows for \(r.faces.count) faces" }
        for (i, row) in body.enumerated() {
            guard row.count == columns else { return "row \(i): \(row.count) fields, header \(columns)" }
            var fields = row[...]
            if withFile, fields.removeFirst() != r.file { return "file" }
            let values = Array(fields)
            func field(_ name: String) -> String { values[CSVWriter.header.split(separator: ",").firstIndex(of: Substring(name))!] }
            if field("frame") != "\(r.frame)" || field("skipped") != "\(r.skipped)" { return "frame or skipped" }
            if let p = csvNumber(field("t"), r.time, 6, "t") { return p }
            guard i < r.faces.count else {
                // The row of a frame without faces: every face field empty.
                return values.enumerated().contains { k, v in !["frame", "t", "skipped"].contains(CSVWriter.header.split(separator: ",")[k]) && !v.isEmpty }
                    ? "faceless row has face fields" : nil
            }
            let f = r.faces[i]
            if field("track") != "\(f.track)" || [field("x"), field("y"), field("w"), field("h")] != ["\(f.box.x)", "\(f.box.y)", "\(f.box.width)", "\(f.box.height)"] { return "track or box" }
            if field("label") != LabelSet.fer2013.name(at: f.label) { return "label" }
            if let p = csvNumber(field("score"), Double(f.score), 4, "score") { return p }
            for e in Emotion.allCases {
                if let p = csvNumber(field(e.name), Double(f.probs[e.rawValue]), 4, e.name)
                    ?? csvNumber(field("raw_" + e.name), Double(f.raw[e.rawValue]), 4, "raw_" + e.name) { return p }
            }
            if let p = optional(field("confidence"), f.confidence, 4, "confidence") ?? optional(field("held"), f.held, 3, "held") { return p }
            let names = ["eye_l", "eye_r", "nose", "mouth_l", "mouth_r"]
            for (k, name) in names.enumerated() {
                let point = f.landmarks.count == 5 ? f.landmarks[k] : nil
                if let p = optional(field(name + "_x"), point?.x, 1, name) ?? optional(field(name + "_y"), point?.y, 1, name) { return p }
            }
        }
        return nil
    }

    private static func optional(_ text: String, _ expected: Double?, _ digits: Int, _ name: String) -> String? {
        guard let expected else { return text.isEmpty ? nil : "\(name): '\(text)' for none" }
        return csvNumber(text, expected, digits, name)
    }

    private static func csvNumber(_ text: String, _ expected: Double, _ digits: Int, _ name: String) -> String? {
        if !expected.isFinite { return text.isEmpty ? nil : "\(name): '\(text)' for \(expected), not empty" }
        guard let read = Double(text) else { return "\(name): '\(text)' is no number" }
        return close(read, expected, digits) ? nil : "\(name): \(read) vs \(expected)"
    }

    /// RFC 4180: CRLF-separated records, fields quoted when they hold `,` `"` or a line break.
    static func parseCSV(_ text: String) -> [[String]]? {
        var rows: [[String]] = [], row: [String] = [], field = "", quoted = false, atFieldStart = true
        var chars = Array(text.unicodeScalars)[...]
        while let c = chars.popFirst() {
            if quoted {
                if c == "\"" {
                    if chars.first == "\"" { chars.removeFirst(); field.unicodeScalars.append(c) } else { quoted = false }
                } else { field.unicodeScalars.append(c) }
                continue
            }
            switch c {
            case "\"" where atFieldStart: quoted = true; atFieldStart = false
            case ",": row.append(field); field = ""; atFieldStart = true
            case "\r" where chars.first == "\n":
                chars.removeFirst(); row.append(field); rows.append(row); row = []; field = ""; atFieldStart = true
            default: field.unicodeScalars.append(c); atFieldStart = false
            }
        }
        if quoted { return nil }
        if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
        return rows
    }
}
