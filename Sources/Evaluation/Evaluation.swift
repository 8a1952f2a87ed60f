import Datasets
import FERCore
import Recognizer

/// Accuracy of a recognizer on labelled faces: overall, per class, and the confusion matrix.
public struct EvaluationResult: Sendable, Equatable {
    /// confusion[true][predicted], in `Emotion` order.
    public var confusion: [[Int]]

    public init(classes: Int = Emotion.count) {
        confusion = Array(repeating: Array(repeating: 0, count: classes), count: classes)
    }

    public mutating func add(truth: Int, predicted: Int) {
        confusion[truth][predicted] += 1
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

    /// `{"n":…,"accuracy":…,"per_class":{…},"confusion":[[…]]}`
    public var json: String {
        let per = Emotion.allCases.map { e in "\"\(e.name)\":" + (perClass[e.rawValue].map { fixed($0, 4) } ?? "null") }
        let rows = confusion.map { "[" + $0.map(String.init).joined(separator: ",") + "]" }
        return "{\"n\":\(count),\"accuracy\":\(fixed(accuracy, 4)),\"per_class\":{\(per.joined(separator: ","))},\"confusion\":[\(rows.joined(separator: ","))]}"
    }

    /// A plain-text report: accuracy, per-class recall, the confusion matrix with labelled rows.
    public var table: String {
        var s = "n \(count), accuracy \(fixed(accuracy * 100, 2))%\n\nper class (recall):\n"
        for e in Emotion.allCases {
            s += "  " + e.name.padding(toLength: 9, withPad: " ", startingAt: 0)
                + (perClass[e.rawValue].map { fixed($0 * 100, 2) + "%" } ?? "–").leftPad(8) + "  (n \(confusion[e.rawValue].reduce(0, +)))\n"
        }
        s += "\nconfusion (rows: true, columns: predicted):\n" + String(repeating: " ", count: 10)
        s += Emotion.allCases.map { String($0.name.prefix(7)).leftPad(8) }.joined() + "\n"
        for e in Emotion.allCases {
            s += e.name.padding(toLength: 10, withPad: " ", startingAt: 0) + confusion[e.rawValue].map { String($0).leftPad(8) }.joined() + "\n"
        }
        return s
    }
}

public enum Evaluator {
    /// Runs `recognizer` over `faces` in batches of `facesPerCall` and tallies argmax against labels.
    /// `progress` is called after each batch with the number of faces done.
    public static func evaluate(_ recognizer: Recognizer, on faces: [LabelledFace], facesPerCall: Int = 8,
                                progress: ((Int) -> Void)? = nil) throws(RecognizerError) -> EvaluationResult {
        var result = EvaluationResult()
        var start = 0
        while start < faces.count {
            let chunk = Array(faces[start..<min(faces.count, start + max(1, facesPerCall))])
            let probs = try recognizer.probabilities(for: chunk.map(\.image))
            for (face, p) in zip(chunk, probs) {
                var best = 0
                for k in p.indices where p[k] > p[best] { best = k }
                result.add(truth: face.label.rawValue, predicted: best)
            }
            start += chunk.count
            progress?(start)
        }
        return result
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
