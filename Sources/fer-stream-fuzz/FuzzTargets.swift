import Datasets
import FaceDetection
import FERCore
import Foundation
import Pipeline
import Output
import Recognizer
import SafeTensors

/// The readers and writers that take bytes from outside, each as one function of arbitrary bytes
/// that must never crash, hang or trip a sanitizer; a wrong round trip is a finding too (`fatalError`).
///
/// Built two ways (`scripts/fuzz.sh`):
/// - with `-sanitize=fuzzer,address -DFUZZING`: libFuzzer drives `LLVMFuzzerTestOneInput` and the
///   target is chosen by `$FER_FUZZ_TARGET`;
/// - plainly: `fer-stream-fuzz TARGET FILE…` replays inputs (seed corpora, past crashes) once each.
enum FuzzTarget: String, CaseIterable {
    case safetensors, cascade, csv, imagefolder, writers

    func run(_ bytes: [UInt8]) {
        switch self {
        case .safetensors: Self.safetensors(bytes)
        case .cascade: _ = try? HaarCascade(xml: bytes)
        case .csv: Self.csv(bytes)
        case .imagefolder: Self.imageFolder(bytes)
        case .writers: Self.writers(bytes)
        }
    }

    /// The safetensors reader, then the network description built from what it read.
    static func safetensors(_ bytes: [UInt8]) {
        guard let file = try? SafeTensorsFile(data: Data(bytes)) else { return }
        _ = try? NetworkWeights(file: file, path: "<fuzz>")
    }

    /// The FER2013 reader takes a path (plain or gzip CSV, told apart by content).
    static func csv(_ bytes: [UInt8]) {
        let path = Scratch.file("fer2013.csv")
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        for split in [nil] + FER2013.Split.allCases.map(Optional.some) {
            _ = try? FER2013.load(path: path, split: split, limit: 64)
        }
    }

    /// A folder tree from the bytes: each line `folder/file` (or `folder`) becomes a class
    /// subfolder and a file in it; the listing must keep exactly the files of class folders.
    static func imageFolder(_ bytes: [UInt8]) {
        let root = Scratch.directory("folder")
        let fm = FileManager.default
        try? fm.removeItem(atPath: root)
        try? fm.createDirectory(atPath: root, withIntermediateDirectories: true)
        let text = String(decoding: bytes, as: UTF8.self)
        for line in text.split(separator: "\n").prefix(16) {
            let parts = line.split(separator: "/", maxSplits: 1).map(String.init)
            guard let folder = parts.first, Self.plainName(folder) else { continue }
            let dir = root + "/" + folder
            try? fm.createDirectory(atPath: dir, withIntermediateDirectories: false)
            if parts.count == 2, Self.plainName(parts[1]) { _ = fm.createFile(atPath: dir + "/" + parts[1], contents: Data(line.utf8)) }
        }
        _ = ImageFolder.label(forFolder: text)
        guard let listing = try? ImageFolder.list(root) else { return }
        for (path, label) in listing.files {
            let folder = ((path as NSString).deletingLastPathComponent as NSString).lastPathComponent
            guard ImageFolder.label(forFolder: folder) == label, !(path as NSString).lastPathComponent.hasPrefix(".") else {
                fatalError("image folder: \(path) listed as \(label)")
            }
        }
    }

    /// A name the file system takes as one entry (not `.`, `..`, nor one with a NUL).
    private static func plainName(_ s: String) -> Bool {
        !s.isEmpty && s != "." && s != ".." && !s.contains("\0") && !s.contains("/") && s.utf8.count < 200
    }

    /// A frame result made from the bytes (any numbers, NaN and infinities included, any file
    /// name) is written as NDJSON and as CSV, and both must read back to the same values.
    static func writers(_ bytes: [UInt8]) {
        var reader = ByteReader(bytes)
        let result = reader.frameResult()
        let path = Scratch.file("out")
        for format in OutputFormat.allCases {
            guard let sink = try? LineSink(path: path) else { fatalError("cannot open \(path)") }
            let writer: ResultWriter = format == .ndjson ? NDJSONWriter(sink: sink) : CSVWriter(sink: sink, withFile: result.file != nil)
            do { try writer.write(result) } catch { fatalError("\(format): \(error)") }
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? "<not UTF-8>"
            if let problem = RoundTrip.check(text, format: format, result: result) {
                fatalError("\(format) round trip: \(problem)\n\(text)")
            }
        }
    }
}

/// Per-process scratch files (libFuzzer may run several processes side by side).
enum Scratch {
    static let root: String = {
        let dir = NSTemporaryDirectory() + "fer-stream-fuzz-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }()
    static func file(_ name: String) -> String { root + "/" + name }
    static func directory(_ name: String) -> String { root + "/" + name }
}

/// Reads typed values off the front of the fuzzer's bytes (zeros once they run out).
struct ByteReader {
    private var bytes: ArraySlice<UInt8>
    init(_ bytes: [UInt8]) { self.bytes = bytes[...] }

    mutating func u8() -> UInt8 { bytes.popFirst() ?? 0 }
    mutating func u64() -> UInt64 { (0..<8).reduce(0) { acc, i in acc | UInt64(u8()) << (8 * UInt64(i)) } }
    mutating func int() -> Int { Int(truncatingIfNeeded: u64()) }
    mutating func double() -> Double { Double(bitPattern: u64()) }
    mutating func float() -> Float { Float(bitPattern: UInt32(truncatingIfNeeded: u64())) }

    mutating func frameResult() -> FrameResult {
        let frame = int(), time = double(), skipped = int(), flags = u8()
        let faces = (0..<Int(u8() % 4)).map { _ -> FaceResult in
            let track = int(), box = Box(x: int(), y: int(), width: int(), height: int())
            let probs = (0..<Emotion.count).map { _ in float() }, raw = (0..<Emotion.count).map { _ in float() }
            let label = Int(u8() % UInt8(Emotion.count))
            let options = u8()
            let confidence = options & 1 != 0 ? double() : nil
            let landmarks = options & 2 != 0 ? (0..<5).map { _ in Point(x: double(), y: double()) } : []
            let held = options & 4 != 0 ? double() : nil
            return FaceResult(track: track, box: box, probs: probs, raw: raw, confidence: confidence,
                              landmarks: landmarks, label: label, held: held)
        }
        let file = flags & 1 != 0 ? String(decoding: bytes, as: UTF8.self) : nil
        return FrameResult(frame: frame, time: time, faces: faces, file: file, skipped: skipped)
    }
}
