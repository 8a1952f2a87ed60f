import Foundation
import FERCore
import Pipeline
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file descriptor that takes whole lines: each `write` is handed to the kernel at once, so a
/// pipe reader sees every line as soon as it is made and nothing is held back in a buffer.
public final class LineSink: Sendable {
    private let fd: Int32
    private let ownsDescriptor: Bool
    public let path: String

    /// Standard output.
    public init() {
        fd = STDOUT_FILENO
        ownsDescriptor = false
        path = "<stdout>"
    }

    /// Creates or truncates `path`.
    public init(path: String) throws(PipelineError) {
        let d = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard d >= 0 else { throw .output(path: path, reason: String(cString: strerror(errno))) }
        fd = d
        ownsDescriptor = true
        self.path = path
    }

    deinit {
        if ownsDescriptor { close(fd) }
    }

    public func write(_ line: String) throws(PipelineError) {
        var text = line
        let failure: Int32? = text.withUTF8 { bytes -> Int32? in
            var offset = 0
            while offset < bytes.count {
                let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                offset += n
            }
            return nil
        }
        if let e = failure {
            if e == EPIPE { throw .outputClosed }
            throw .output(path: path, reason: String(cString: strerror(e)))
        }
    }
}

/// Turns frame results into lines of one format.
public protocol ResultWriter: AnyObject, Sendable {
    func write(_ result: FrameResult) throws(PipelineError)
}

public enum OutputFormat: String, CaseIterable, Sendable {
    case ndjson, csv

    /// This format's writer into `sink`. `tagged`: results name their source (runs with several
    /// inputs into one output): CSV then has a `source` column, NDJSON lines a `"source"` key
    /// (from the result itself).
    public func writer(into sink: LineSink, labels: LabelSet, tagged: Bool) -> any ResultWriter {
        self == .csv ? CSVWriter(sink: sink, withSource: tagged, labels: labels) : NDJSONWriter(sink: sink, labels: labels)
    }
}

/// Fixed-point decimal text without trailing zeros ("0.25", "1.0", "0.0001"): short, and never
/// in exponent form, which some CSV readers mistake for text. NaN and infinities, which JSON cannot
/// hold, are `null` (empty fields in CSV: `csvDecimal`), never a number that looks real.
func decimal(_ value: Double, digits: Int) -> String {
    guard value.isFinite else { return "null" }
    let (scaled, scale) = decimalUnits(abs(value), digits)
    guard scaled < 9.0e15 else {
        // Past the integers a Double holds exactly (and Int's range): C prints every digit.
        var text = String(format: "%.\(digits)f", value)
        while text.hasSuffix("0") && !text.hasSuffix(".0") { text.removeLast() }
        return text
    }
    var whole = String(Int(scaled / scale))
    var frac = String(Int(scaled.truncatingRemainder(dividingBy: scale)))
    frac = String(repeating: "0", count: max(0, digits - frac.count)) + frac
    while frac.count > 1 && frac.hasSuffix("0") { frac.removeLast() }
    if value < 0 && scaled > 0 { whole = "-" + whole }
    return whole + "." + frac
}

/// `decimal` for a CSV field: empty where the value is not finite.
func csvDecimal(_ value: Double, digits: Int) -> String {
    value.isFinite ? decimal(value, digits: digits) : ""
}

/// `{"frame":0,"t":0.0,"faces":[{"track":1,"box":[x,y,w,h],"confidence":0.93,"landmarks":[[x,y],…],"label":"happy","score":0.91,"probs":{…},"raw":{…}}]}`
/// (`confidence` and `landmarks` only where the detector gives them). `label` and the keys of
/// `probs` and `raw` are the names of the run's classes (the model's `LabelSet`), in its order.
public final class NDJSONWriter: ResultWriter, Sendable {
    private let sink: LineSink
    public let labels: LabelSet
    /// `"name":` per class, made once.
    private let keys: [String]

    public init(sink: LineSink, labels: LabelSet = .fer2013) {
        self.sink = sink
        self.labels = labels
        keys = labels.names.map { Self.string($0) + ":" }
    }

    public func write(_ r: FrameResult) throws(PipelineError) {
        try sink.write(line(for: r) + "\n")
    }

    /// The line `write` writes for `r`, without its newline (what a publisher sends as one message).
    public func line(for r: FrameResult) -> String {
        var s = "{"
        if let source = r.source { s += "\"source\":\(Self.string(source)),"}
        if let file = r.file { s += "\"file\":\(Self.string(file))," }
        s += "\"frame\":\(r.frame),\"t\":\(decimal(r.time, digits: 6)),"
        if r.skipped > 0 { s += "\"skipped\":\(r.skipped)," }
        s += "\"faces\":["
        for (i, f) in r.faces.enumerated() {
            if i > 0 { s += "," }
            s += "{\"track\":\(f.track),\"box\":[\(f.box.x),\(f.box.y),\(f.box.width),\(f.box.height)]"
            if let c = f.confidence { s += ",\"confidence\":\(decimal(c, digits: 4))" }
            if !f.landmarks.isEmpty {
                s += ",\"landmarks\":[" + f.landmarks.map { "[\(decimal($0.x, digits: 1)),\(decimal($0.y, digits: 1))]" }.joined(separator: ",") + "]"
            }
            s += ",\"label\":" + Self.string(labels.name(at: f.label)) + ",\"score\":\(decimal(Double(f.score), digits: 4))"
            if let held = f.held { s += ",\"held\":\(decimal(held, digits: 3))" }
            s += ",\"probs\":" + object(f.probs) + ",\"raw\":" + object(f.raw) + "}"
        }
        return s + "]}"
    }

    /// A JSON string literal (also the live view's).
    public static func string(_ text: String) -> String {
        var out = "\""
        for u in text.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }

    /// `{"class":p,…}` over the run's classes (null for a value the vector lacks).
    func object(_ probs: [Float]) -> String {
        "{" + keys.indices.map { k in keys[k] + (k < probs.count ? decimal(Double(probs[k]), digits: 4) : "null") }.joined(separator: ",") + "}"
    }
}

/// RFC 4180 CSV: a header, then one row per face per frame; a frame without faces is one row
/// whose face fields are empty. The probability columns are named after the run's classes.
public final class CSVWriter: ResultWriter, Sendable {
    private let sink: LineSink
    private let withFile: Bool
    private let withSource: Bool
    public let labels: LabelSet
    private let header: String
    private let wroteHeader = Mutex(false)

    /// Landmark columns (after `skipped`, so the earlier columns keep their places).
    static let landmarkColumns = ["eye_l", "eye_r", "nose", "mouth_l", "mouth_r"].flatMap { [$0 + "_x", $0 + "_y"] }
    /// The header for `labels`' classes: one smoothed and one `raw_` column per class.
    public static func header(labels: LabelSet) -> String {
        (["frame", "t", "track", "x", "y", "w", "h", "label", "score"] + labels.names
            + labels.names.map { "raw_" + $0 } + ["skipped", "confidence"] + landmarkColumns + ["held"]).map(field).joined(separator: ",")
    }
    /// The header of a FER2013 model's output.
    public static let header = header(labels: .fer2013)

    /// `withFile`: a leading `file` column (for still images); `withSource`: a leading `source`
    /// column, the input each row comes from (runs with several inputs).
    public init(sink: LineSink, withFile: Bool = false, withSource: Bool = false, labels: LabelSet = .fer2013) {
        self.sink = sink
        self.withFile = withFile
        self.withSource = withSource
        self.labels = labels
        header = Self.header(labels: labels)
    }

    public func write(_ r: FrameResult) throws(PipelineError) {
        var s = ""
        if wroteHeader.withLock({ wrote in defer { wrote = true }; return !wrote }) {
            s += (withSource ? "source," : "") + (withFile ? "file," : "") + header + "\r\n"
        }
        let lead = (withSource ? Self.field(r.source ?? "") + "," : "") + (withFile ? Self.field(r.file ?? "") + "," : "")
            + "\(r.frame),\(csvDecimal(r.time, digits: 6)),"
        let skipped = ",\(r.skipped)"
        let noDetail = String(repeating: ",", count: 2 + Self.landmarkColumns.count)
        if r.faces.isEmpty {
            s += lead + String(repeating: ",", count: 6 + 2 * labels.count) + skipped + noDetail + "\r\n"
        }
        for f in r.faces {
            s += lead + "\(f.track),\(f.box.x),\(f.box.y),\(f.box.width),\(f.box.height),\(Self.field(labels.name(at: f.label))),"
            s += csvDecimal(Double(f.score), digits: 4) + ","
            s += (column(f.probs) + column(f.raw)).joined(separator: ",") + skipped
            s += "," + (f.confidence.map { csvDecimal($0, digits: 4) } ?? "")
            s += f.landmarks.count == 5 ? f.landmarks.map { ",\(csvDecimal($0.x, digits: 1)),\(csvDecimal($0.y, digits: 1))" }.joined()
                                        : String(repeating: ",", count: Self.landmarkColumns.count)
            s += "," + (f.held.map { csvDecimal($0, digits: 3) } ?? "") + "\r\n"
        }
        try sink.write(s)
    }

    /// One field per class: a vector of another length is cut or padded with empty fields, so
    /// every row keeps the header's columns.
    private func column(_ values: [Float]) -> [String] {
        labels.indices.map { $0 < values.count ? csvDecimal(Double(values[$0]), digits: 4) : "" }
    }

    /// Quotes a field when it holds a comma, quote or line break. Looked for among the Unicode
    /// scalars, not the Characters: a comma or quote followed by a combining mark, or "\r\n", is
    /// one Character equal to none of them, yet a CSV reader splits there (`scripts/fuzz.sh writers`).
    static func field(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        var quoted = String.UnicodeScalarView()
        quoted.append("\"")
        for u in text.unicodeScalars {
            if u == "\"" { quoted.append(u) }  // doubled
            quoted.append(u)
        }
        quoted.append("\"")
        return String(quoted)
    }
}
