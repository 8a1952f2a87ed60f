import Datasets
import FERCore
import Recognizer
import SafeTensors

/// Accuracy of a recognizer on labelled faces: overall, per class, and the confusion matrix.
public struct EvaluationResult: Sendable, Equatable {
    /// The classes (the model's), in its output order: the names in `json` and `table`.
    public var classes: [String]
    /// confusion[true][predicted], in `classes` order.
    public var confusion: [[Int]]

    public init(classes: [String] = Emotion.names) {
        self.classes = classes
        confusion = Array(repeating: Array(repeating: 0, count: classes.count), count: classes.count)
    }

    /// Per bin of the top probability (15 equal-width bins over 0…1): faces, correct ones, the
    /// sum of their top probabilities. Empty until a face is added with its probabilities.
    public var reliability: [(count: Int, correct: Int, confidence: Double)] = []
    public static let reliabilityBins = 15

    public mutating func add(truth: Int, predicted: Int) {
        confusion[truth][predicted] += 1
    }

    /// Tallies the argmax of `probabilities` against `truth`, and its top probability for `ece`.
    public mutating func add(truth: Int, probabilities p: [Float]) {
        var best = 0
        for k in p.indices where p[k] > p[best] { best = k }
        add(truth: truth, predicted: best)
        addConfidence(Double(p[best]), correct: best == truth)
    }

    /// A face's top probability and whether its argmax was right, for `ece` (a face counted
    /// wrong elsewhere, such as one whose label the model has no class for, still has a confidence).
    public mutating func addConfidence(_ top: Double, correct: Bool) {
        if reliability.isEmpty { reliability = Array(repeating: (0, 0, 0), count: Self.reliabilityBins) }
        let bin = min(Self.reliabilityBins - 1, max(0, Int(top * Double(Self.reliabilityBins))))
        reliability[bin].count += 1
        reliability[bin].correct += correct ? 1 : 0
        reliability[bin].confidence += top
    }

    /// Expected calibration error: Σ over the bins of (faces in it / all) × |accuracy − mean top
    /// probability|; nil when no probabilities were added.
    public var ece: Double? {
        let n = reliability.reduce(0) { $0 + $1.count }
        guard n > 0 else { return nil }
        return reliability.reduce(0.0) { sum, b in
            b.count == 0 ? sum : sum + Double(b.count) / Double(n) * abs(Double(b.correct) / Double(b.count) - b.confidence / Double(b.count))
        }
    }

    public static func == (a: EvaluationResult, b: EvaluationResult) -> Bool {
        a.classes == b.classes && a.confusion == b.confusion
            && a.reliability.elementsEqual(b.reliability) { $0.count == $1.count && $0.correct == $1.correct && $0.confidence == $1.confidence }
    }

    public var count: Int { confusion.joined().reduce(0, +) }
    public var correct: Int { confusion.indices.map { confusion[$0][$0] }.reduce(0, +) }
    public var accuracy: Double { count > 0 ? Double(correct) / Double(count) : 0 }

    /// Recall of each class (correct / true members); nil for a class with no members.
    public var perClass: [Double?] {
        confusion.indices.map { k in
            let n = confusion[k].reduce(0, +)
            return n > 0 ? Double(confusion[k][k]) / Double(n) : nil
        }
    }

    /// `{"accuracy":…,"confusion":[[…]],"n":…,"per_class":{…}}`: `EvaluationRecord`.
    public var json: String { EvaluationRecord(self).json }

    /// A plain-text report: accuracy, per-class recall, the confusion matrix with labelled rows.
    public var table: String {
        var s = "n \(count), accuracy \(fixed(accuracy * 100, 2))%" + (ece.map { ", ECE \(fixed($0, 4))" } ?? "") + "\n\nper class (recall):\n"
        // Names wider than FER2013's pad the first column further (CK+'s "contempt", "sadness" fit).
        let width = max(9, (classes.map(\.count).max() ?? 0) + 1)
        for k in classes.indices {
            s += "  " + classes[k].padding(toLength: width, withPad: " ", startingAt: 0)
                + (perClass[k].map { fixed($0 * 100, 2) + "%" } ?? "–").leftPad(8) + "  (n \(confusion[k].reduce(0, +)))\n"
        }
        s += "\nconfusion (rows: true, columns: predicted):\n" + String(repeating: " ", count: width + 1)
        s += classes.map { String($0.prefix(7)).leftPad(8) }.joined() + "\n"
        for k in classes.indices {
            s += classes[k].padding(toLength: width + 1, withPad: " ", startingAt: 0) + confusion[k].map { String($0).leftPad(8) }.joined() + "\n"
        }
        return s
    }
}

public enum Evaluator {
    /// Runs `recognizer` over FER2013 `faces` in batches of `facesPerCall` and tallies argmax
    /// against labels. The model must have FER2013's classes (`badInput` otherwise).
    /// `progress` is called after each batch with the number of faces done.
    public static func evaluate(_ recognizer: Recognizer, on faces: [LabelledFace], facesPerCall: Int = 8,
                                progress: ((Int) -> Void)? = nil) throws(RecognizerError) -> EvaluationResult {
        guard recognizer.weights.classes == Emotion.names else {
            throw .badInput(reason: "FER2013 faces need a model with FER2013's classes (\(Emotion.names.joined(separator: ","))), "
                + "not \(recognizer.weights.classes.joined(separator: ","))")
        }
        return try evaluate(recognizer, images: faces.map(\.image), truths: faces.map(\.label.rawValue),
                            facesPerCall: facesPerCall, progress: progress)
    }

    /// Runs `recognizer` over `images` in batches of `facesPerCall` and tallies argmax against
    /// `truths` (indices into the model's classes, which name the result's rows and columns).
    /// `each`, when given, gets every face's index and probabilities as they come.
    public static func evaluate(_ recognizer: Recognizer, images: [GrayImage], truths: [Int], facesPerCall: Int = 8,
                                progress: ((Int) -> Void)? = nil,
                                each: ((Int, [Float]) -> Void)? = nil) throws(RecognizerError) -> EvaluationResult {
        let classes = recognizer.weights.classes
        guard images.count == truths.count, truths.allSatisfy(classes.indices.contains) else {
            throw .badInput(reason: "\(images.count) images for \(truths.count) labels, or a label outside the model's \(classes.count) classes")
        }
        var result = EvaluationResult(classes: classes)
        try inBatches(recognizer, images, facesPerCall: facesPerCall, progress: progress) { i, p in
            result.add(truth: truths[i], probabilities: p)
            each?(i, p)
        }
        return result
    }

    /// Runs `recognizer` over `images`, `facesPerCall` at a time, handing each face's index and
    /// probabilities to `body`; `progress` gets the number of faces done after each call.
    static func inBatches(_ recognizer: Recognizer, _ images: [GrayImage], facesPerCall: Int, progress: ((Int) -> Void)?,
                          _ body: (Int, [Float]) -> Void) throws(RecognizerError) {
        var start = 0
        while start < images.count {
            let end = min(images.count, start + max(1, facesPerCall))
            let probs = try recognizer.probabilities(for: Array(images[start..<end]))
            for (i, p) in zip(start..<end, probs) { body(i, p) }
            start = end
            progress?(start)
        }
    }
}

func fixed(_ v: Double, _ digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let r = (v * scale).rounded() / scale
    var s = "\(r)"
    if let dot = s.firstIndex(of: ".") {
        let decimals = s.distance(from: dot, to: s.endIndex) - 1
        if decimals < digits { s += String(repeating: "0", count: digits - decimals) }
    }
    return s
}

extension String {
    func leftPad(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}

/// `eval --format json`, as a Codable value.
public struct EvaluationRecord: JSONRecord, Codable, Sendable, Equatable {
    public var n: Int
    /// Correct / all, rounded to 4 decimals (a ratio of counts: always a number; 0 without faces).
    public var accuracy: Double
    /// Recall per class name; nil for a class with no members.
    public var per_class: [String: Double?]
    /// confusion[true][predicted], in the model's class order.
    public var confusion: [[Int]]
    /// Expected calibration error (15 bins of the top probability), rounded to 4 decimals.
    @Nullable public var ece: Double?

    public init(_ r: EvaluationResult) {
        n = r.count
        accuracy = roundedOrNil(r.accuracy, 4) ?? 0
        ece = r.ece.flatMap { roundedOrNil($0, 4) }
        // A name given twice (a hand-made class list) keeps its first recall rather than trapping.
        per_class = Dictionary(r.classes.indices.map { (r.classes[$0], r.perClass[$0].flatMap { roundedOrNil($0, 4) }) },
                               uniquingKeysWith: { a, _ in a })
        confusion = r.confusion
    }
}

/// `eval --paste … --format json`: the faces the detector missed, the accuracy over all faces
/// (missed ones count as wrong), and the evaluation of those it found.
public struct DetectedEvaluationRecord: JSONRecord, Codable, Sendable, Equatable {
    public var missed: Int
    /// nil (null) when there were no faces at all.
    @Nullable public var accuracy_all: Double?
    public var found: EvaluationRecord

    public init(found r: EvaluationResult, missed: Int) {
        self.missed = missed
        accuracy_all = roundedOrNil(Double(r.correct) / Double(r.count + missed), 4)
        found = EvaluationRecord(r)
    }
}
