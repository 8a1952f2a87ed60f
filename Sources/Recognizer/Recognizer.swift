import FERCore

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

    public init(weights: NetworkWeights, engine: InferenceEngine, tta: TestTimeAugmentation = .tenCrop) {
        self.weights = weights
        self.engine = engine
        self.tta = tta
        cropSpecs = tta.crops(from: weights.cropFrom, size: weights.inputSize)
    }

    /// Crops the network scores per face.
    public var cropsPerFace: Int { cropSpecs.count }

    /// One probability vector (in the model's class order, `weights.classes`) per face. Faces of another size than the
    /// model's `cropFrom` (48) are resized first.
    public func probabilities(for faces: [GrayImage]) throws(RecognizerError) -> [[Float]] {
        guard !faces.isEmpty else { return [] }
        let input = makeInput(faces)
        let logits = try engine.logits(for: input, count: faces.count * cropSpecs.count)
        let classes = weights.classes.count
        return (0..<faces.count).map { f in
            var mean = [Float](repeating: 0, count: classes)
            for c in 0..<cropSpecs.count {
                let start = (f * cropSpecs.count + c) * classes
                let p = softmax(logits[start..<start + classes])
                for k in 0..<classes { mean[k] += p[k] }
            }
            return mean.map { $0 / Float(cropSpecs.count) }
        }
    }

    /// The engine's input for these faces: per face, each crop in `cropSpecs` order, normalised.
    public func makeInput(_ faces: [GrayImage]) -> [Float] {
        let s = weights.inputSize, from = weights.cropFrom
        let scale = 1 / (255 * weights.normStd), shift = weights.normMean / weights.normStd
        var input = [Float](repeating: 0, count: faces.count * cropSpecs.count * s * s)
        var o = 0
        for face in faces {
            let img = (face.width == from && face.height == from) ? face : face.resized(toWidth: from, height: from)
            for spec in cropSpecs {
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
