import CZlib
import FERCore
import Foundation

/// A labelled 48×48 face.
public struct LabelledFace: Sendable {
    public let label: Emotion
    public let image: GrayImage

    public init(label: Emotion, image: GrayImage) {
        self.label = label
        self.image = image
    }
}

public enum DatasetError: Error, CustomStringConvertible, Equatable {
    case cannotOpen(path: String, reason: String)
    case malformed(path: String, line: Int, reason: String)
    case malformedVotes(path: String, line: Int, reason: String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason): "cannot open data set '\(path)': \(reason)"
        case let .malformed(path, line, reason): "'\(path)' line \(line): \(reason) (expected FER2013's emotion,pixels,Usage CSV)"
        case let .malformedVotes(path, line, reason): "'\(path)' line \(line): \(reason) (expected FER+ votes joined to FER2013 rows: row,\(FERPlus.columns.joined(separator: ",")))"
        }
    }
}

/// FER2013 in its canonical CSV form (`emotion,pixels,Usage`), plain or gzip-compressed.
public enum FER2013 {
    public enum Split: String, CaseIterable, Sendable {
        case training = "Training", publicTest = "PublicTest", privateTest = "PrivateTest"
    }

    /// `$FER2013_CSV`, else `../shared/data/fer2013.csv.gz` from the working directory, if it exists.
    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let p = environment["FER2013_CSV"], !p.isEmpty { return p }
        let shared = FileManager.default.currentDirectoryPath + "/../shared/data/fer2013.csv.gz"
        return FileManager.default.fileExists(atPath: shared) ? URL(fileURLWithPath: shared).standardized.path : nil
    }

    /// Reads the rows of `split` (all rows when nil), at most `limit` of them.
    public static func load(path: String, split: Split? = nil, limit: Int = .max) throws(DatasetError) -> [LabelledFace] {
        try loadRows(path: path, split: split, limit: limit).map(\.face)
    }

    /// As `load`, with each face's data row: its 0-based index among all the file's data rows
    /// (the header not counted), the key FER+'s votes are joined by.
    public static func loadRows(path: String, split: Split? = nil, limit: Int = .max) throws(DatasetError) -> [(row: Int, face: LabelledFace)] {
        guard FileManager.default.fileExists(atPath: path) else { throw .cannotOpen(path: path, reason: "No such file or directory") }
        // gzread reads gzip and plain files alike.
        guard let file = gzopen(path, "rb") else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        defer { gzclose(file) }
        gzbuffer(file, 1 << 20)
        var faces: [(row: Int, face: LabelledFace)] = []
        var dataRows = 0
        var line = [UInt8]()
        var lineNumber = 0
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var sawHeader = false
        func handle(_ line: [UInt8]) throws(DatasetError) {
            lineNumber += 1
            if line.isEmpty || line == [13] { return }
            if !sawHeader {
                sawHeader = true
                if line.first.map({ !(48...57).contains($0) }) ?? false { return }  // the header row
            }
            let face = try parse(line, path: path, lineNumber: lineNumber)
            if split == nil || face.1 == split! { faces.append((dataRows, face.0)) }
            dataRows += 1
        }
        while faces.count < limit {
            let n = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
            if n < 0 { throw .cannotOpen(path: path, reason: "read error (corrupt gzip?)") }
            if n == 0 { break }
            var start = 0
            for i in 0..<Int(n) where chunk[i] == 10 {
                line.append(contentsOf: chunk[start..<i])
                try handle(line)
                line.removeAll(keepingCapacity: true)
                start = i + 1
                if faces.count >= limit { break }
            }
            if faces.count < limit { line.append(contentsOf: chunk[start..<Int(n)]) }
        }
        if !line.isEmpty && faces.count < limit { try handle(line) }
        if lineNumber == 0 { throw .malformed(path: path, line: 0, reason: "the file is empty") }
        return Array(faces.prefix(limit))
    }

    private static func parse(_ line: [UInt8], path: String, lineNumber: Int) throws(DatasetError) -> (LabelledFace, Split) {
        let fields = line.split(separator: 44, maxSplits: 2, omittingEmptySubsequences: false)  // ','
        guard fields.count == 3 else { throw .malformed(path: path, line: lineNumber, reason: "\(fields.count) fields") }
        guard let label = Int(String(decoding: fields[0], as: UTF8.self)).flatMap(Emotion.init(rawValue:)) else {
            throw .malformed(path: path, line: lineNumber, reason: "emotion is not 0…6")
        }
        var usage = String(decoding: fields[2], as: UTF8.self)
        usage = usage.trimmingCharacters(in: .whitespacesAndNewlines.union(CharacterSet(charactersIn: "\"")))
        guard let split = Split(rawValue: usage) else { throw .malformed(path: path, line: lineNumber, reason: "unknown Usage '\(usage)'") }
        var pixels = [UInt8]()
        pixels.reserveCapacity(2304)
        // A pixel is at most 3 digits' worth: the value saturates past 255, so no run of digits,
        // however long, can overflow; the error quotes the digits themselves.
        var value = -1, start = 0
        func pixelTooLarge(_ end: Int) -> DatasetError {
            let digits = fields[1][fields[1].startIndex + start ..< fields[1].startIndex + end]
            let shown = digits.count > 20 ? String(decoding: digits.prefix(20), as: UTF8.self) + "… (\(digits.count) digits)"
                                          : String(decoding: digits, as: UTF8.self)
            return .malformed(path: path, line: lineNumber, reason: "pixel \(shown) is not 0…255")
        }
        for (offset, byte) in fields[1].enumerated() {
            if byte >= 48 && byte <= 57 {
                if value < 0 { value = 0; start = offset }
                value = min(value * 10 + Int(byte - 48), 256)
            } else if value >= 0 {
                guard value <= 255 else { throw pixelTooLarge(offset) }
                pixels.append(UInt8(value))
                value = -1
            }
        }
        if value >= 0 {
            guard value <= 255 else { throw pixelTooLarge(fields[1].count) }
            pixels.append(UInt8(value))
        }
        guard pixels.count == 2304 else { throw .malformed(path: path, line: lineNumber, reason: "\(pixels.count) pixels, not 48×48") }
        return (LabelledFace(label: label, image: GrayImage(width: 48, height: 48, pixels: pixels)), split)
    }
}
