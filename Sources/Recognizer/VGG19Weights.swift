import FERCore

/// The CIFAR-style VGG19 of the reference work, loaded from a fer-stream safetensors export
/// (names and metadata in Models/README.md), with BatchNorm folded into the convolutions.
public struct VGG19Weights: Sendable {
    /// One 3×3, pad-1 convolution with BatchNorm folded in; ReLU follows, then a 2×2 max-pool
    /// when `poolAfter` is set.
    public struct Conv: Sendable {
        public let inChannels: Int
        public let outChannels: Int
        /// [out][in][3][3]
        public let weight: [Float]
        public let bias: [Float]
        public let poolAfter: Bool
    }

    /// The reference layout: numbers are conv widths, "M" a 2×2 max-pool.
    public static let referenceLayout = "64,64,M,128,128,M,256,256,256,256,M,512,512,512,512,M,512,512,512,512,M"

    public let convs: [Conv]
    /// [classes][features]
    public let classifierWeight: [Float]
    public let classifierBias: [Float]
    public let features: Int
    public let classes: [String]
    /// Side of the square crop the network takes (44), and of the face it is cut from (48).
    public let inputSize: Int
    public let cropFrom: Int
    /// Input pixels p (0...255) enter the network as (p/255 − normMean) / normStd.
    public let normMean: Float
    public let normStd: Float
    public let metadata: [String: String]

    public static func load(path: String) throws(RecognizerError) -> VGG19Weights {
        var file = try SafeTensorsFile(path: path)
        return try VGG19Weights(taking: &file, path: path)
    }

    public init(file: SafeTensorsFile, path: String) throws(RecognizerError) {
        var copy = file
        try self.init(taking: &copy, path: path)
    }

    /// Moves the tensors out of `file` as they are used, so each weight array exists once
    /// (folding scales it in place): loading peaks near one copy of the weights, not three.
    public init(taking file: inout SafeTensorsFile, path: String) throws(RecognizerError) {
        let meta = file.metadata
        func tensor(_ name: String, _ shape: [Int]) throws(RecognizerError) -> [Float] {
            guard let t = file.tensors.removeValue(forKey: name) else { throw .missingTensor(path: path, name: name) }
            guard t.shape == shape else { throw .badShape(path: path, name: name, expected: shape, found: t.shape) }
            return t.values
        }
        func number(_ key: String, default value: Float) throws(RecognizerError) -> Float {
            guard let text = meta[key] else { return value }
            guard let v = Float(text), v.isFinite else { throw .incompatibleModel(path: path, reason: "metadata '\(key)' = '\(text)' is not a number") }
            return v
        }
        if let format = meta["format"], format != "fer-stream-vgg19" {
            throw .incompatibleModel(path: path, reason: "format '\(format)' is not fer-stream-vgg19")
        }
        let layout = meta["channels"] ?? Self.referenceLayout
        let classes = meta["classes"].map { $0.split(separator: ",").map(String.init) } ?? Emotion.names
        guard classes == Emotion.names else {
            throw .incompatibleModel(path: path, reason: "classes \(classes) differ from \(Emotion.names)")
        }
        inputSize = Int(try number("input_size", default: 44))
        cropFrom = Int(try number("crop_from", default: 48))
        normMean = try number("norm_mean", default: 0.5)
        normStd = try number("norm_std", default: 0.25)
        let eps = try number("bn_eps", default: 1e-5)
        guard normStd > 0, inputSize > 0, cropFrom >= inputSize else {
            throw .incompatibleModel(path: path, reason: "input_size \(inputSize), crop_from \(cropFrom), norm_std \(normStd) make no sense")
        }

        var convs: [Conv] = []
        var channels = 1
        var side = inputSize
        let tokens = layout.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        for token in tokens {
            if token == "M" {
                guard let last = convs.popLast(), side >= 2 else {
                    throw .incompatibleModel(path: path, reason: "layout '\(layout)' pools before a conv or below 2×2")
                }
                convs.append(Conv(inChannels: last.inChannels, outChannels: last.outChannels, weight: last.weight, bias: last.bias, poolAfter: true))
                side /= 2
                continue
            }
            guard let out = Int(token), out > 0 else { throw .incompatibleModel(path: path, reason: "layout token '\(token)' is neither a width nor M") }
            let i = convs.count
            var folded = try tensor("conv\(i).weight", [out, channels, 3, 3])
            let b = try tensor("conv\(i).bias", [out])
            let gamma = try tensor("bn\(i).weight", [out])
            let beta = try tensor("bn\(i).bias", [out])
            let mean = try tensor("bn\(i).running_mean", [out])
            let variance = try tensor("bn\(i).running_var", [out])
            // BN(conv(x)) = s·(W x + b − μ) + β with s = γ/√(σ²+ε): scale the weights, shift the bias.
            var bias = [Float](repeating: 0, count: out)
            let k = channels * 9
            for o in 0..<out {
                let s = gamma[o] / (variance[o] + eps).squareRoot()
                for j in 0..<k { folded[o * k + j] *= s }
                bias[o] = (b[o] - mean[o]) * s + beta[o]
            }
            convs.append(Conv(inChannels: channels, outChannels: out, weight: folded, bias: bias, poolAfter: false))
            channels = out
        }
        guard !convs.isEmpty else { throw .incompatibleModel(path: path, reason: "layout '\(layout)' has no convolution") }
        features = channels * side * side
        self.convs = convs
        self.classes = classes
        classifierWeight = try tensor("classifier.weight", [classes.count, features])
        classifierBias = try tensor("classifier.bias", [classes.count])
        metadata = meta
        for values in convs.map(\.weight) + [classifierWeight] {
            if let bad = values.first(where: { !$0.isFinite }) {
                throw .incompatibleModel(path: path, reason: "weights hold a non-finite value (\(bad))")
            }
        }
    }

    /// Multiply–accumulates of one forward pass of one crop.
    public var macsPerCrop: Int {
        var side = inputSize, total = 0
        for c in convs {
            total += c.inChannels * c.outChannels * 9 * side * side
            if c.poolAfter { side /= 2 }
        }
        return total + features * classes.count
    }
}
