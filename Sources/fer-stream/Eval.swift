import ArgumentParser
import Datasets
import Evaluation
import Foundation
import FERStream
import Plots

/// `fer-stream eval`: accuracy of the network on a labelled set, with the stream's TTA options.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Accuracy of the model on a labelled set (overall, per class, confusion matrix).",
        discussion: """
        The set is FER2013's CSV (--fer2013, one split; a FER2013 model only) or a folder of class \
        subfolders (--images: each named after one of the model's classes, or a synonym such as \
        Happiness, anger, disgusted, fearful, sadness, surprised, any case; other folders, such as \
        contempt for a FER2013 model, are skipped with a note). Images of any size or colour are \
        decoded with FFmpeg and the largest face is cropped, unless --detector full-frame.

        Examples:
          fer-stream eval --fer2013 fer2013.csv.gz --split PrivateTest
          fer-stream eval --fer2013 fer2013.csv --split PublicTest --tta center --format json
          fer-stream eval --images my-faces/ --plot confusion.svg
          fer-stream eval --ferplus fer2013plus.csv --fer2013 fer2013.csv.gz --split PrivateTest

        With --ferplus the faces are FER2013's, measured against FER+'s ten annotators: accuracy \
        against their top vote (faces whose top vote is unknown or not a face left out; ties go to \
        the earlier of FER+'s columns neutral, happiness, surprise, sadness, anger, disgust, fear, \
        contempt; a top vote the model has no class for, such as contempt, counts as wrong), the \
        mean cross-entropy against their vote distribution, and the confusion matrix. Every report \
        gives the expected calibration error (ECE: 15 equal-width bins of the top probability).
        """
    )

    @Option(help: "FER2013 CSV (plain or gzip). Default: $FER2013_CSV, else ../shared/data/fer2013.csv.gz.")
    var fer2013: String?

    @Option(help: "A folder of class subfolders of images, instead of FER2013.")
    var images: String?

    @Option(help: ArgumentHelp("FER+ votes joined to the FER2013 CSV's rows (a 'row' column and FER+'s ten vote columns): measure against the annotators' top vote and vote distribution instead of FER2013's labels; the pixels come from --fer2013.", valueName: "FILE"))
    var ferplus: String?

    @Option(help: "Split: PrivateTest, PublicTest or Training.")
    var split: FER2013.Split = .privateTest

    @Option(help: "Test-time augmentation: 10crop, flip, center.")
    var tta: TestTimeAugmentation = .tenCrop

    @Option(help: "Evaluate only the first N faces of the split.")
    var limit: Int?

    @Option(help: "Output: text or json.")
    var format: ReportFormat = .text

    @Option(help: "Also draw the confusion matrix into this SVG file.")
    var plot: String?

    @Option(help: ArgumentHelp("Also draw a reliability diagram (share right per bin of the top probability, against the diagonal) into this SVG file.", valueName: "FILE"))
    var reliability: String?

    @Option(help: ArgumentHelp("Also write every face's probabilities to this CSV: its data row in the FER2013 file (0-based, as FER+'s 'row'), then one column per class. For FER2013 and --ferplus; what a distilled network learns from.", valueName: "FILE"))
    var probabilities: String?

    @Option(help: ArgumentHelp("FER2013 through the whole face path: each face enlarged N times and pasted on a grey canvas, found by the detector, cropped (aligned), then classified. Faces not found count as wrong.", valueName: "N"))
    var paste: Int?

    @Option(help: ArgumentHelp("With --paste: turn each pasted face by an angle drawn evenly from ±DEG degrees (the same angles in every run).", valueName: "DEG"))
    var turn: Double = 0

    @OptionGroup(title: "Faces (--images, --paste)")
    var faces: FaceOptions

    @OptionGroup(title: "Model")
    var network: ModelOptions

    mutating func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be ≥ 1, not \(limit)") }
        if images != nil && fer2013 != nil { throw ValidationError("give --fer2013 or --images, not both") }
        if probabilities != nil && (images != nil || paste != nil) { throw ValidationError("--probabilities writes FER2013's faces by row: not with --images or --paste") }
        if ferplus != nil && (images != nil || paste != nil) { throw ValidationError("--ferplus measures FER2013's faces: it goes with --fer2013, not --images or --paste") }
        if let paste, !(1...8).contains(paste) { throw ValidationError("--paste must be 1…8, not \(paste)") }
        guard (0...90).contains(turn) else { throw ValidationError("--turn must be 0…90 degrees, not \(turn)") }
    }

    func run() throws {
        try OutputPath.checkAll([plot, reliability, probabilities])  // before the minutes of work, without creating them
        // The model first: its classes decide which folders count and whether FER2013 applies.
        let recognizer = try network.recognizerOptions(tta: tta).makeRecognizer()
        let classes = recognizer.weights.classes
        let modelPath = (try? network.modelPath()) ?? "?"
        if let ferplus { return try evaluateVotes(ferplus, recognizer: recognizer, modelPath: modelPath) }
        var faces: [(image: GrayImage, truth: Int)]
        var dataRows: [Int] = []
        let setName: String
        if let images {
            faces = try loadFolder(images, recognizer: recognizer)
            setName = images
        } else {
            guard classes == Emotion.names else {
                throw RuntimeFailure(message: "model '\(modelPath)' has the classes \(classes.joined(separator: ",")), not FER2013's "
                    + "(\(Emotion.names.joined(separator: ","))): evaluate it with --images, on folders named after its classes")
            }
            guard let path = fer2013 ?? FER2013.defaultPath() else {
                throw RuntimeFailure(message: "no FER2013 file: pass --fer2013 PATH or set FER2013_CSV (download fer2013.csv from Kaggle)")
            }
            let rows: [(row: Int, face: LabelledFace)]
            do { rows = try FER2013.loadRows(path: path, split: split, limit: limit ?? .max) } catch {
                throw RuntimeFailure(message: error.description)
            }
            guard !rows.isEmpty else { throw RuntimeFailure(message: "'\(path)' has no \(split.rawValue) rows") }
            // FER2013's labels are the model's output indices (same classes, same order).
            faces = rows.map { ($0.face.image, $0.face.label.rawValue) }
            dataRows = rows.map(\.row)
            setName = "\(split.rawValue) of \(path)"
        }
        var missed = 0
        if let paste {
            (faces, missed) = try throughDetector(faces, enlarge: paste, recognizer: recognizer)
        }
        let start = Date()
        let result: EvaluationResult
        let table = try probabilities.map { try ProbabilityTable(path: $0, classes: classes) }
        do {
            result = try Evaluator.evaluate(recognizer, images: faces.map(\.image), truths: faces.map(\.truth),
                                            facesPerCall: max(1, 64 / recognizer.cropsPerFace),
                                            each: table.map { t in { i, p in t.add(row: dataRows[i], p) } })
        } catch { throw PipelineError.recognizer(error) }
        try table?.finish()
        let seconds = Date().timeIntervalSince(start)
        try drawPlots(result, title: "\(images == nil ? split.rawValue : "images"), \(tta.rawValue)", accuracy: result.accuracy, count: result.count)
        // Through the detector, faces it missed count as wrong: accuracy over all of them.
        let overall = Double(result.correct) / Double(result.count + missed)
        if format == .json {
            print(paste == nil ? result.json : DetectedEvaluationRecord(found: result, missed: missed).json)
        } else {
            print("\(setName), model \(modelPath), \(recognizer.engine.name), tta \(tta.rawValue)")
            if paste != nil {
                print(String(format: "through the detector: %d of %d faces found; accuracy over all %.2f%%, over those found:", result.count, result.count + missed, overall * 100))
            }
            print(result.table, terminator: "")
            print(String(format: "%.1f s, %.0f crops/s", seconds, Double(faces.count * recognizer.cropsPerFace) / seconds))
        }
    }

    /// `--plot` (the confusion matrix, titled with the overall accuracy of `count` faces) and
    /// `--reliability` (the reliability diagram, titled with the ECE).
    private func drawPlots(_ result: EvaluationResult, title: String, accuracy: Double, count: Int) throws {
        if let plot {
            let heading = title + ": accuracy \(String(format: "%.2f", accuracy * 100))% of \(count)"
            try LineSink(path: plot).write(Plots.confusion(result.confusion, classes: result.classes, title: heading))
        }
        if let reliability {
            let ece = result.ece.map { String(format: ", ECE %.4f", $0) } ?? ""
            try LineSink(path: reliability).write(Plots.reliability(result.reliability, title: title + ece))
        }
    }

    /// `--ferplus`: the split's FER2013 faces joined to their votes by row, measured against them.
    private func evaluateVotes(_ votesPath: String, recognizer: Recognizer, modelPath: String) throws {
        let votes: [FERPlus.Votes]
        do { votes = try FERPlus.load(path: votesPath) } catch { throw RuntimeFailure(message: error.description) }
        guard let path = fer2013 ?? FER2013.defaultPath() else {
            throw RuntimeFailure(message: "no FER2013 file for the pixels of '\(votesPath)': pass --fer2013 PATH or set FER2013_CSV")
        }
        var byRow: [Int: GrayImage] = [:]
        do {
            for r in try FER2013.loadRows(path: path, split: split) { byRow[r.row] = r.face.image }
        } catch { throw RuntimeFailure(message: error.description) }
        var joined = votes.compactMap { v in byRow[v.row].map { (image: $0, votes: v) } }
        guard !joined.isEmpty else {
            throw RuntimeFailure(message: "'\(votesPath)': no row matches a \(split.rawValue) row of '\(path)' (is it FER+ joined to this FER2013 file?)")
        }
        joined = Array(joined.prefix(limit ?? .max))
        let start = Date()
        let result: VoteEvaluationResult
        let table = try probabilities.map { try ProbabilityTable(path: $0, classes: recognizer.weights.classes) }
        do {
            result = try Evaluator.evaluate(recognizer, images: joined.map(\.image), votes: joined.map(\.votes),
                                            facesPerCall: max(1, 64 / recognizer.cropsPerFace),
                                            each: table.map { t in { i, p in t.add(row: joined[i].votes.row, p) } })
        } catch { throw PipelineError.recognizer(error) }
        try table?.finish()
        let seconds = Date().timeIntervalSince(start)
        try drawPlots(result.majority, title: "\(split.rawValue) vs FER+ majority, \(tta.rawValue)", accuracy: result.accuracy, count: result.count)
        if format == .json {
            print(VoteEvaluationRecord(result).json)
        } else {
            print("\(split.rawValue) of \(path) against the FER+ votes of \(votesPath), model \(modelPath), \(recognizer.engine.name), tta \(tta.rawValue)")
            print(result.table, terminator: "")
            print(String(format: "%.1f s, %.0f crops/s", seconds, Double(joined.count * recognizer.cropsPerFace) / seconds))
        }
    }

    /// Each face enlarged `enlarge` times (bilinear), pasted in the middle of a grey canvas twice
    /// its size, found by the detector (the most confident face, however weak), and cropped as the
    /// stream does. Haar searches at its video width (320 px), so results compare with earlier runs.
    private func throughDetector(_ faces: [(image: GrayImage, truth: Int)], enlarge: Int,
                                 recognizer: Recognizer) throws -> ([(image: GrayImage, truth: Int)], Int) {
        let analyzer = try FaceAnalyzer(recognizer: recognizer, faces: self.faces.detectorOptions, detectionWidth: nil)
        var out: [(image: GrayImage, truth: Int)] = [], missed = 0
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        for face in faces {
            let side = face.image.width * enlarge
            let big = face.image.resized(toWidth: side, height: side)
            var canvas = GrayImage(width: 2 * side, height: 2 * side, fill: 128)
            // A fixed sequence of angles (xorshift), so runs with different framings see the same faces.
            seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17
            let angle = turn * (Double(seed % 20_001) / 10_000 - 1) * .pi / 180
            let c = cos(angle), s = sin(angle), mid = Double(side)
            for y in 0..<2 * side {
                for x in 0..<2 * side {
                    // Inverse rotation about the canvas centre into the enlarged face.
                    let dx = Double(x) + 0.5 - mid, dy = Double(y) + 0.5 - mid
                    let u = c * dx + s * dy + mid / 2, v = -s * dx + c * dy + mid / 2
                    guard u >= 0, v >= 0, u < mid, v < mid else { continue }
                    canvas[x, y] = big[Int(u), Int(v)]
                }
            }
            guard let best = try analyzer.detect(in: canvas, includingWeak: true).max(by: { $0.detection.strength < $1.detection.strength }) else {
                missed += 1; continue
            }
            out.append((best.crop, face.truth))
        }
        return (out, missed)
    }

    /// Decodes each image of the folder and keeps its largest face, cropped to 48×48, with the
    /// index of its folder's class among the model's classes.
    private func loadFolder(_ directory: String, recognizer: Recognizer) throws -> [(image: GrayImage, truth: Int)] {
        let classes = recognizer.weights.classes
        let listing: ImageFolder.ClassListing
        do { listing = try ImageFolder.list(directory, classes: classes) } catch { throw RuntimeFailure(message: error.description) }
        for folder in listing.skippedFolders {
            FileHandle.standardError.write(Data("fer-stream: skipping '\(folder)' in '\(directory)': not one of the model's classes (\(classes.joined(separator: ", ")))\n".utf8))
        }
        FFmpegLogLevel.current = .quiet
        let analyzer = try FaceAnalyzer(recognizer: recognizer, faces: self.faces.detectorOptions)
        var out: [(image: GrayImage, truth: Int)] = []
        var unreadable = 0, faceless = 0
        for (path, label) in listing.files.prefix(limit ?? .max) {
            guard let image = try? VideoSource.firstPicture(of: path) else { unreadable += 1; continue }
            guard let best = try analyzer.detect(in: image).max(by: { $0.detection.box.area < $1.detection.box.area }) else { faceless += 1; continue }
            out.append((best.crop, label))
        }
        if unreadable + faceless > 0 {
            FileHandle.standardError.write(Data("fer-stream: \(unreadable) files could not be decoded and \(faceless) images had no face; they are left out\n".utf8))
        }
        guard !out.isEmpty else { throw RuntimeFailure(message: "no usable face images in '\(directory)'") }
        return out
    }
}

/// `eval --probabilities`: a CSV of each face's data row and probabilities, written as faces are
/// scored (a write error is kept and reported at the end, so the scoring loop stays simple).
private final class ProbabilityTable {
    private let sink: LineSink
    private var lines: [String] = []
    private var failure: PipelineError?

    init(path: String, classes: [String]) throws {
        sink = try LineSink(path: path)
        try sink.write((["row"] + classes).joined(separator: ",") + "\n")
    }

    func add(row: Int, _ p: [Float]) {
        lines.append(String(row) + p.map { String(format: ",%.6f", $0) }.joined() + "\n")
        if lines.count >= 512 { flush() }
    }

    private func flush() {
        guard failure == nil, !lines.isEmpty else { return }
        do { try sink.write(lines.joined()) } catch { failure = error }
        lines.removeAll(keepingCapacity: true)
    }

    func finish() throws {
        flush()
        if let failure { throw failure }
    }
}
