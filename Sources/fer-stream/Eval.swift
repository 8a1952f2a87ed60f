import ArgumentParser
import Datasets
import Evaluation
import Foundation
import FERCore
import Pipeline
import Plots
import Recognizer

/// `fer-stream eval`: accuracy of the network on a labelled set, with the stream's TTA options.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Accuracy of the model on FER2013 (overall, per class, confusion matrix).",
        discussion: """
        Examples:
          fer-stream eval --fer2013 fer2013.csv.gz --split PrivateTest
          fer-stream eval --fer2013 fer2013.csv --split PublicTest --tta center --format json
        """
    )

    @Option(help: "FER2013 CSV (plain or gzip). Default: $FER2013_CSV, else ../shared/data/fer2013.csv.gz.")
    var fer2013: String?

    @Option(help: "Split: PrivateTest, PublicTest or Training.")
    var split: String = "PrivateTest"

    @Option(help: "Test-time augmentation: 10crop, flip, center.")
    var tta: String = "10crop"

    @Option(help: "Evaluate only the first N faces of the split.")
    var limit: Int?

    @Option(help: "Output: text or json.")
    var format: String = "text"

    @Option(help: "Also draw the confusion matrix into this SVG file.")
    var plot: String?

    @OptionGroup(title: "Model")
    var network: ModelOptions

    mutating func validate() throws {
        guard FER2013.Split(rawValue: split) != nil else { throw ValidationError("--split must be PrivateTest, PublicTest or Training, not '\(split)'") }
        guard TestTimeAugmentation(rawValue: tta) != nil else { throw ValidationError("--tta must be 10crop, flip or center, not '\(tta)'") }
        guard ["text", "json"].contains(format) else { throw ValidationError("--format must be text or json, not '\(format)'") }
        if let limit, limit < 1 { throw ValidationError("--limit must be ≥ 1, not \(limit)") }
    }

    func run() throws {
        guard let path = fer2013 ?? FER2013.defaultPath() else {
            throw RuntimeFailure(message: "no FER2013 file: pass --fer2013 PATH or set FER2013_CSV (download fer2013.csv from Kaggle)")
        }
        let faces: [LabelledFace]
        do { faces = try FER2013.load(path: path, split: FER2013.Split(rawValue: split)!, limit: limit ?? .max) } catch {
            throw RuntimeFailure(message: error.description)
        }
        guard !faces.isEmpty else { throw RuntimeFailure(message: "'\(path)' has no \(split) rows") }
        let (weights, engine) = try network.loadNetwork()
        let recognizer = Recognizer(weights: weights, engine: engine, tta: TestTimeAugmentation(rawValue: tta)!)
        let start = Date()
        let result: EvaluationResult
        do {
            result = try Evaluator.evaluate(recognizer, on: faces, facesPerCall: max(1, 64 / recognizer.cropsPerFace))
        } catch { throw PipelineError.recognizer(error) }
        let seconds = Date().timeIntervalSince(start)
        if let plot {
            let title = "\(split), \(tta): accuracy \(String(format: "%.2f", result.accuracy * 100))% of \(result.count)"
            do { try Plots.confusion(result.confusion, classes: Emotion.names, title: title).write(toFile: plot, atomically: true, encoding: .utf8) } catch {
                throw RuntimeFailure(message: "cannot write '\(plot)': \(error.localizedDescription)")
            }
        }
        if format == "json" {
            print(result.json)
        } else {
            print("\(split) of \(path), model \(network.modelPath), \(engine.name), tta \(tta)")
            print(result.table, terminator: "")
            print(String(format: "%.1f s, %.0f crops/s", seconds, Double(faces.count * recognizer.cropsPerFace) / seconds))
        }
    }
}
