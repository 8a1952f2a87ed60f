import FERCore
import SafeTensors

/// Where one test-time crop is cut from the face: its top-left corner and whether it is mirrored.
public struct CropSpec: Sendable, Equatable {
    public let x: Int, y: Int
    public let mirrored: Bool
}

/// Test-time augmentation: which crops of the 48×48 face are scored and averaged.
public enum TestTimeAugmentation: String, CaseIterable, Sendable {
    /// The reference work's: 4 corners + centre, each also mirrored.
    case tenCrop = "10crop"
    /// Centre crop and its mirror.
    case flip
    /// Centre crop only.
    case center

    public func crops(from face: Int, size: Int) -> [CropSpec] {
        let d = face - size, c = d / 2
        let centre = [CropSpec(x: c, y: c, mirrored: false)]
        switch self {
        case .center:
            return centre
        case .flip:
            return centre + [CropSpec(x: c, y: c, mirrored: true)]
        case .tenCrop:
            let places = [(0, 0), (d, 0), (0, d), (d, d), (c, c)]
            return [false, true].flatMap { m in places.map { CropSpec(x: $0.0, y: $0.1, mirrored: m) } }
        }
    }
}

/// Faces in, probabilities out: normalisation, test-time crops, the engine, softmax, the mean.
public final class Recognizer: Sendable {
    public let weights: NetworkWeights
    public let engine: InferenceEngine
    public let tta: TestTimeAugmentation
    public let cropSpecs: [CropSpec]
    /// What stats call the network (`FaceClassifier.networkName`): its model file's name.
    public let name: String

    public init(weights: NetworkWeights, engine: InferenceEngine, tta: TestTimeAugmentation = .tenCrop, name: String = "network") {
        self.weights = weights
        self.name = name
        self.engine = engine
        self.tta = tta
        cropSpecs = tta.crops(from: weights.cropFrom, size: weights.inputSize)
    }

    /// Crops the network scores per face.
    public var cropsPerFace: Int { cropSpecs.count }

    /// One probability vector (in the model's class order, `weights.classes`) per face: the mean
    /// of every test-time crop's softmax. Faces of another size than the model's `cropFrom` (48)
    /// are resized first.
    public func probabilities(for faces: [GrayImage]) throws(RecognizerError) -> [[Float]] {
        let all = Array(cropSpecs.indices)
        return try cropProbabilities(for: faces, crops: faces.map { _ in all }).map(Self.mean)
    }

    /// Each face's scores for the crops asked for (indices into `cropSpecs`), one softmax per
    /// crop, in the order asked: the caller decides how crops combine (`probabilities(for:)`
    /// averages a face's whole set; video spreads the set over frames, see `TemporalEnsemble`).
    /// All crops go through the engine in one call.
    public func cropProbabilities(for faces: [GrayImage], crops: [[Int]]) throws(RecognizerError) -> [[[Float]]] {
        guard faces.count == crops.count else {
            throw .badInput(reason: "\(faces.count) faces but crop lists for \(crops.count)")
        }
        if let bad = crops.joined().first(where: { !cropSpecs.indices.contains($0) }) {
            throw .badInput(reason: "crop \(bad) asked for, but there are \(cropSpecs.count) (\(tta.rawValue))")
        }
        let total = crops.reduce(0) { $0 + $1.count }
        guard total > 0 else { return crops.map { _ in [] } }
        let logits = try engine.logits(for: makeInput(faces, crops: crops), count: total)
        let classes = weights.classes.count
        var offset = 0
        return crops.map { list in
            list.map { _ in
                defer { offset += classes }
                return softmax(logits[offset..<offset + classes])
            }
        }
    }

    /// The mean of a face's crop scores, summed in the order given (as `probabilities(for:)` does).
    public static func mean(_ scores: [[Float]]) -> [Float] {
        guard var sum = scores.first else { return [] }
        for p in scores.dropFirst() { for k in sum.indices { sum[k] += p[k] } }
        return sum.map { $0 / Float(scores.count) }
    }

    /// The engine's input for these faces: per face, each crop in `cropSpecs` order, normalised.
    public func makeInput(_ faces: [GrayImage]) -> [Float] {
        makeInput(faces, crops: faces.map { _ in Array(cropSpecs.indices) })
    }

    /// The engine's input for each face's listed crops (indices into `cropSpecs`), normalised.
    public func makeInput(_ faces: [GrayImage], crops: [[Int]]) -> [Float] {
        let s = weights.inputSize, from = weights.cropFrom
        let scale = 1 / (255 * weights.normStd), shift = weights.normMean / weights.normStd
        var input = [Float](repeating: 0, count: crops.reduce(0) { $0 + $1.count } * s * s)
        var o = 0
        for (face, list) in zip(faces, crops) where !list.isEmpty {
            let img = (face.width == from && face.height == from) ? face : face.resized(toWidth: from, height: from)
            for spec in list.map({ cropSpecs[$0] }) {
                for y in 0..<s {
                    let row = (spec.y + y) * from + spec.x
                    for x in 0..<s {
                        let p = img.pixels[row + (spec.mirrored ? s - 1 - x : x)]
                        input[o] = Float(p) * scale - shift
                        o += 1
                    }
                }
            }
        }
        return input
    }
}

/// Numerically stable softmax.
public func softmax<C: Collection>(_ logits: C) -> [Float] where C.Element == Float {
    let m = logits.max() ?? 0
    let e = logits.map { expf($0 - m) }
    let sum = e.reduce(0, +)
    return e.map { $0 / sum }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
