import Datasets
import FERCore
import Recognizer
import SafeTensors

/// A network measured against people: FER+'s ten annotators per face. Accuracy is against the
/// top vote (faces whose top vote is unknown or not-a-face left out; ties broken by FER+'s column
/// order); a face whose top vote is an emotion the model has no class for (contempt, for a FER2013
/// model) counts as wrong. The cross-entropy is against the vote distribution over the model's
/// classes (votes for other columns dropped, the rest renormalised).
public struct VoteEvaluationResult: Sendable, Equatable {
    /// Faces whose top vote is one of the model's classes, by class.
    public var majority: EvaluationResult
    /// Faces whose top vote is an emotion the model lacks, by FER+ name (counted wrong).
    public var outsideModel: [String: Int] = [:]
    /// Faces left out: their top vote is unknown or not-a-face.
    public var leftOut = 0
    var crossEntropySum = 0.0
    var crossEntropyCount = 0

    public init(classes: [String]) { majority = EvaluationResult(classes: classes) }

    /// Faces counted: those with an emotion as their top vote.
    public var count: Int { majority.count + outsideModel.values.reduce(0, +) }
    public var accuracy: Double { count > 0 ? Double(majority.correct) / Double(count) : 0 }
    /// Mean cross-entropy (nats) of the model's probabilities against the vote distribution.
    public var crossEntropy: Double? { crossEntropyCount > 0 ? crossEntropySum / Double(crossEntropyCount) : nil }

    /// Tallies one face: its votes and the model's probabilities (in `classes` order).
    /// `emotionOfClass[k]` is the FER+ column of the model's class k (nil: none).
    mutating func add(votes: FERPlus.Votes, probabilities p: [Float], emotionOfClass: [Int?]) {
        guard let top = votes.majority else { leftOut += 1; return }
        let mass = emotionOfClass.map { $0.map { Double(votes.counts[$0]) } ?? 0 }
        let total = mass.reduce(0, +)
        if total > 0 {
            crossEntropySum -= zip(mass, p).reduce(0.0) { $0 + ($1.0 / total) * log(max(Double($1.1), 1e-7)) }
            crossEntropyCount += 1
        }
        if let truth = emotionOfClass.firstIndex(of: top) {
            majority.add(truth: truth, probabilities: p)
        } else {
            outsideModel[FERPlus.emotions[top], default: 0] += 1
            majority.addConfidence(Double(p.max() ?? 0), correct: false)
        }
    }

    /// A plain-text report: counts, accuracy, cross-entropy, then the per-class table.
    public var table: String {
        var s = "FER+ majority: \(count) faces (\(leftOut) left out: top vote unknown or not a face)"
        if !outsideModel.isEmpty {
            s += "; " + outsideModel.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
                + " (no such class in the model) counted wrong"
        }
        s += "\naccuracy \(fixed(accuracy * 100, 2))%"
        if let ce = crossEntropy { s += ", cross-entropy against the votes \(fixed(ce, 4))" }
        if let e = majority.ece { s += ", ECE \(fixed(e, 4))" }
        return s + "\n\nfaces whose top vote is one of the model's classes: " + majority.table
    }
}

extension Evaluator {
    /// Runs `recognizer` over `images` (the faces of `votes`, in the same order) in batches of
    /// `facesPerCall` and measures it against the votes.
    /// `each`, when given, gets every face's index and probabilities as they come.
    public static func evaluate(_ recognizer: Recognizer, images: [GrayImage], votes: [FERPlus.Votes], facesPerCall: Int = 8,
                                progress: ((Int) -> Void)? = nil,
                                each: ((Int, [Float]) -> Void)? = nil) throws(RecognizerError) -> VoteEvaluationResult {
        guard images.count == votes.count else { throw .badInput(reason: "\(images.count) images for \(votes.count) vote rows") }
        let classes = recognizer.weights.classes
        let emotionOfClass = classes.map(FERPlus.emotion(forClass:))
        guard emotionOfClass.contains(where: { $0 != nil }) else {
            throw .badInput(reason: "none of the model's classes (\(classes.joined(separator: ","))) is one of FER+'s emotions")
        }
        var result = VoteEvaluationResult(classes: classes)
        try inBatches(recognizer, images, facesPerCall: facesPerCall, progress: progress) { i, p in
            result.add(votes: votes[i], probabilities: p, emotionOfClass: emotionOfClass)
            each?(i, p)
        }
        return result
    }
}

/// `eval --ferplus … --format json`.
public struct VoteEvaluationRecord: JSONRecord, Codable, Sendable, Equatable {
    /// Faces counted (top vote an emotion).
    public var n: Int
    public var left_out: Int
    /// Faces whose top vote is an emotion the model lacks, counted wrong, by FER+ name.
    public var outside_model: [String: Int]
    public var accuracy: Double
    @Nullable public var cross_entropy: Double?
    @Nullable public var ece: Double?
    /// The faces whose top vote is one of the model's classes.
    public var majority: EvaluationRecord

    public init(_ r: VoteEvaluationResult) {
        n = r.count
        left_out = r.leftOut
        outside_model = r.outsideModel
        accuracy = roundedOrNil(r.accuracy, 4) ?? 0
        cross_entropy = r.crossEntropy.flatMap { roundedOrNil($0, 4) }
        ece = r.majority.ece.flatMap { roundedOrNil($0, 4) }
        majority = EvaluationRecord(r.majority)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
