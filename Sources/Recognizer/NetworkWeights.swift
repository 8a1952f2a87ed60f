import FERCore
import SafeTensors

/// One of the reference work's CIFAR-style networks, loaded from a fer-stream safetensors export
/// (names and metadata in Models/README.md), with BatchNorm folded into the convolutions: the
/// VGG19 (a chain of 3×3 convolutions and max-pools) or the ResNet18 (residual blocks).
///
/// Both are described the same way, as a list of convolutions that each read the output of an
/// earlier one (or the input) and may add another's before their ReLU, so one engine runs either.
public struct NetworkWeights: Sendable {
    public enum Architecture: String, Sendable, CaseIterable {
        /// `vgg`: a VGG of another layout (the metadata's `channels`, required), such as the
        /// distilled student.
        case vgg19, resnet18, vgg

        /// The `format` entry of an export of this architecture.
        public var format: String { "fer-stream-\(rawValue)" }
    }

    /// One convolution with BatchNorm folded in.
    public struct Conv: Sendable {
        public let inChannels: Int
        public let outChannels: Int
        public let kernel: Int
        public let stride: Int
        public let padding: Int
        /// [out][in][kernel][kernel]
        public let weight: [Float]
        public let bias: [Float]
        /// Which output this reads: `Conv.networkInput`, or the index of an earlier convolution
        /// (its output after its ReLU, residual sum and pooling).
        public let source: Int
        /// The index of an earlier convolution whose output is added before the ReLU (a residual
        /// connection), or nil.
        public let addend: Int?
        /// ReLU after the (sum and) bias; false for a ResNet's projection shortcut.
        public let relu: Bool
        /// A 2×2 stride-2 max-pool follows (VGG19).
        public let poolAfter: Bool
        /// Sides of the map read and of the output (after the pool).
        public let inputSide: Int
        public let outputSide: Int

        public static let networkInput = -1

        /// Side of the convolution's own output, before any pool.
        public var convolvedSide: Int { (inputSide + 2 * padding - kernel) / stride + 1 }

        func with(poolAfter: Bool) -> Conv {
            Conv(inChannels: inChannels, outChannels: outChannels, kernel: kernel, stride: stride, padding: padding,
                 weight: weight, bias: bias, source: source, addend: addend, relu: relu, poolAfter: poolAfter,
                 inputSide: inputSide, outputSide: poolAfter ? convolvedSide / 2 : convolvedSide)
        }
    }

    /// What turns the last map into the classifier's features.
    public enum Head: Sendable, Equatable {
        /// The whole map, flattened in (c, y, x) order (VGG19: the map is 1×1 there).
        case flatten
        /// Average pooling with a window×window kernel and stride `window`, no padding, floor
        /// mode, then flattened: the reference ResNet18's `avg_pool2d(out, 4)`, which on its 6×6
        /// map is the mean of the top-left 4×4.
        case averagePool(window: Int)
    }

    /// The reference layout: numbers are conv widths, "M" a 2×2 max-pool.
    public static let referenceLayout = "64,64,M,128,128,M,256,256,256,256,M,512,512,512,512,M,512,512,512,512,M"
    /// The reference ResNet18's stages: (channels, stride of the first block), two blocks each.
    public static let referenceStages = "64:1,128:2,256:2,512:2"

    public let architecture: Architecture
    public let convs: [Conv]
    /// Per convolution, the index of the last one that reads or adds its output (-1: none, the
    /// network's last output): how long engines keep each output.
    public let lastUse: [Int]
    public let head: Head
    /// [classes][features]
    public let classifierWeight: [Float]
    public let classifierBias: [Float]
    /// Side of the map after the head's pooling, and the classifier's input width.
    public let finalSide: Int
    public let features: Int
    /// The classes of the network's outputs, in order: the metadata's `classes`
    /// (comma-separated), FER2013's seven when it has none.
    public let classes: [String]
    /// `classes` as the label set every output of a run uses.
    public var labels: LabelSet { LabelSet(classes) }
    /// Side of the square crop the network takes (44), and of the face it is cut from (48).
    public let inputSize: Int
    public let cropFrom: Int
    /// Input pixels p (0...255) enter the network as (p/255 − normMean) / normStd.
    /// The softmax temperature the metadata's `temperature` names (1 when absent), already
    /// folded into `classifierWeight` and `classifierBias`.
    public let temperature: Float
    public let normMean: Float
    public let normStd: Float
    public let metadata: [String: String]

    public static func load(path: String) throws(RecognizerError) -> NetworkWeights {
        var file = try SafeTensorsFile(path: path)
        return try NetworkWeights(taking: &file, path: path)
    }

    public init(file: SafeTensorsFile, path: String) throws(RecognizerError) {
        var copy = file
        try self.init(taking: &copy, path: path)
    }

    /// Moves the tensors out of `file` as they are used, so each weight array exists once
    /// (folding scales it in place): loading peaks near one copy of the weights, not three.
    public init(taking file: inout SafeTensorsFile, path: String) throws(RecognizerError) {
        let meta = file.metadata
        func number(_ key: String, default value: Float) throws(RecognizerError) -> Float {
            guard let text = meta[key] else { return value }
            guard let v = Float(text), v.isFinite else { throw .incompatibleModel(path: path, reason: "metadata '\(key)' = '\(text)' is not a number") }
            return v
        }
        // Sizes and counts: whole numbers in a range that keeps every product of them far from
        // Int's limits (Int(1e30) would trap).
        func whole(_ key: String, default value: Int, in range: ClosedRange<Int>) throws(RecognizerError) -> Int {
            let v = try number(key, default: Float(value))
            guard v == v.rounded(), v >= Float(range.lowerBound), v <= Float(range.upperBound) else {
                throw .incompatibleModel(path: path, reason: "metadata '\(key)' = '\(meta[key] ?? "")' is not a whole number from \(range.lowerBound) to \(range.upperBound)")
            }
            return Int(v)
        }
        let format = meta["format"] ?? Architecture.vgg19.format
        guard let architecture = Architecture.allCases.first(where: { $0.format == format }) else {
            throw .incompatibleModel(path: path, reason: "format '\(format)' is none of \(Architecture.allCases.map(\.format).joined(separator: ", "))")
        }
        if let named = meta["architecture"], named != architecture.rawValue {
            throw .incompatibleModel(path: path, reason: "architecture '\(named)' disagrees with format '\(format)'")
        }
        let classes = try Self.classes(meta["classes"], path: path)
        inputSize = try whole("input_size", default: 44, in: 1...4096)
        cropFrom = try whole("crop_from", default: 48, in: 1...4096)
        normMean = try number("norm_mean", default: 0.5)
        normStd = try number("norm_std", default: 0.25)
        let eps = try number("bn_eps", default: 1e-5)
        guard normStd > 0, inputSize > 0, cropFrom >= inputSize else {
            throw .incompatibleModel(path: path, reason: "input_size \(inputSize), crop_from \(cropFrom), norm_std \(normStd) make no sense")
        }

        var builder = Builder(file: file, path: path, eps: eps, inputSide: inputSize)
        switch architecture {
        case .vgg19:
            try builder.vgg19(layout: meta["channels"] ?? Self.referenceLayout)
            head = .flatten
        case .vgg:
            guard let layout = meta["channels"] else { throw .incompatibleModel(path: path, reason: "format '\(format)' needs metadata 'channels' (its layout)") }
            try builder.vgg19(layout: layout)
            head = .flatten
        case .resnet18:
            try builder.resnet(stages: meta["stages"] ?? Self.referenceStages, blocks: try whole("blocks", default: 2, in: 1...64))
            switch meta["pool"] ?? "topleft4" {
            case "topleft4": head = .averagePool(window: 4)
            case "global": head = .averagePool(window: builder.convs.last?.outputSide ?? 1)
            case let other: throw .incompatibleModel(path: path, reason: "pool '\(other)' is neither topleft4 nor global")
            }
        }
        let convs = builder.convs
        guard let last = convs.last else { throw .incompatibleModel(path: path, reason: "the network has no convolution") }
        switch head {
        case .flatten:
            finalSide = last.outputSide
        case .averagePool(let window):
            guard window >= 1, window <= last.outputSide else {
                throw .incompatibleModel(path: path, reason: "a \(window)×\(window) pool on a \(last.outputSide)×\(last.outputSide) map")
            }
            finalSide = (last.outputSide - window) / window + 1
        }
        self.architecture = architecture
        features = last.outChannels * finalSide * finalSide
        self.convs = convs
        self.classes = classes
        // A classifier of the right width but another number of outputs: the class list is what is wrong.
        if let shape = builder.file.tensors["classifier.weight"]?.shape, shape.count == 2, shape[1] == features, shape[0] != classes.count {
            let outputs = shape[0]
            let named = meta["classes"] == nil ? "without metadata 'classes' the model is taken for FER2013's \(classes.count)"
                                               : "the metadata names \(classes.count) classes"
            throw .incompatibleModel(path: path, reason: "the classifier has \(outputs) outputs but \(named) (\(classes.joined(separator: ",")))")
        }
        // Calibration: softmax(logits / T) with T fitted on held-out faces, folded into the
        // classifier (the last layer, linear) so every engine and precision applies it alike.
        temperature = try number("temperature", default: 1)
        guard temperature > 0 else { throw .incompatibleModel(path: path, reason: "temperature \(temperature) is not > 0") }
        var weight = try builder.tensor("classifier.weight", [classes.count, features])
        var bias = try builder.tensor("classifier.bias", [classes.count])
        if temperature != 1 {
            for i in weight.indices { weight[i] /= temperature }
            for i in bias.indices { bias[i] /= temperature }
        }
        classifierWeight = weight
        classifierBias = bias
        file = builder.file
        var lastUse = [Int](repeating: -1, count: convs.count)
        for (i, conv) in convs.enumerated() {
            if conv.source >= 0 { lastUse[conv.source] = i }
            if let a = conv.addend { lastUse[a] = i }
        }
        self.lastUse = lastUse
        metadata = meta
        for values in convs.map(\.weight) + [classifierWeight] {
            if let bad = values.first(where: { !$0.isFinite }) {
                throw .incompatibleModel(path: path, reason: "weights hold a non-finite value (\(bad))")
            }
        }
    }

    /// The metadata's `classes` (FER2013's when absent), checked: at least two, unique, each
    /// non-empty and made only of letters, digits, '_', '-' and ' ' (they become JSON keys and
    /// CSV columns).
    static func classes(_ text: String?, path: String) throws(RecognizerError) -> [String] {
        guard let text else { return Emotion.names }
        // Spaces around a name ("anger, contempt") are dropped; spaces inside one are kept.
        let classes = text.split(separator: ",", omittingEmptySubsequences: false).map { part in
            String(part.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
        }
        guard classes.count >= 2 else {
            throw .incompatibleModel(path: path, reason: "metadata 'classes' = '\(printable(text))' names fewer than 2 classes")
        }
        for name in classes {
            let allowed = !name.isEmpty && name.unicodeScalars.allSatisfy { u in
                u == "_" || u == "-" || u == " " || u.properties.isAlphabetic || u.properties.numericType == .decimal
            }
            guard allowed else {
                throw .incompatibleModel(path: path, reason: "metadata 'classes' = '\(printable(text))': class '\(printable(name))' is empty or not only letters, digits, '_', '-' and ' '")
            }
        }
        var seen = Set<String>()
        for name in classes where !seen.insert(name).inserted {
            throw .incompatibleModel(path: path, reason: "metadata 'classes' = '\(printable(text))' names '\(name)' twice")
        }
        return classes
    }

    /// Text for a one-line message: control characters (line breaks, …) shown as `\u{…}`, at most 200 characters.
    private static func printable(_ text: String) -> String {
        var out = ""
        for u in text.unicodeScalars.prefix(200) {
            if u.properties.generalCategory == .control || u == "\u{2028}" || u == "\u{2029}" { out += "\\u{\(String(u.value, radix: 16))}" } else { out.unicodeScalars.append(u) }
        }
        return text.unicodeScalars.count > 200 ? out + "…" : out
    }

    /// Multiply–accumulates of one forward pass of one crop.
    public var macsPerCrop: Int {
        convs.reduce(0) { $0 + $1.inChannels * $1.outChannels * $1.kernel * $1.kernel * $1.convolvedSide * $1.convolvedSide }
            + features * classes.count
    }

    /// Reads the convolutions of either architecture out of a file, folding BatchNorm.
    private struct Builder {
        var file: SafeTensorsFile
        let path: String
        let eps: Float
        let inputSide: Int
        var convs: [Conv] = []

        mutating func tensor(_ name: String, _ shape: [Int]) throws(RecognizerError) -> [Float] {
            guard let t = file.tensors.removeValue(forKey: name) else { throw .missingTensor(path: path, name: name) }
            guard t.shape == shape else { throw .badShape(path: path, name: name, expected: shape, found: t.shape) }
            return t.values
        }

        func channels(of index: Int) -> Int { index == Conv.networkInput ? 1 : convs[index].outChannels }
        func side(of index: Int) -> Int { index == Conv.networkInput ? inputSide : convs[index].outputSide }

        /// Appends `conv` (weights `<conv>.weight`, optional `<conv>.bias`) + `bn`, folded; returns its index.
        @discardableResult
        mutating func add(conv name: String, bn: String, out: Int, kernel: Int, stride: Int, source: Int,
                          addend: Int? = nil, relu: Bool = true) throws(RecognizerError) -> Int {
            let inC = channels(of: source), side = side(of: source)
            let padding = kernel / 2
            let convolved = (side + 2 * padding - kernel) / stride + 1
            guard convolved >= 1 else {
                throw .incompatibleModel(path: path, reason: "\(name) would make a \(side)×\(side) map smaller than 1×1")
            }
            if let addend {
                guard convs[addend].outChannels == out, convs[addend].outputSide == convolved else {
                    throw .incompatibleModel(path: path, reason: "\(name) adds a \(convs[addend].outChannels)×\(convs[addend].outputSide)² map to a \(out)×\(convolved)² one")
                }
            }
            var folded = try tensor("\(name).weight", [out, inC, kernel, kernel])
            let b = file.tensors[name + ".bias"] == nil ? [Float](repeating: 0, count: out) : try tensor("\(name).bias", [out])
            let gamma = try tensor("\(bn).weight", [out])
            let beta = try tensor("\(bn).bias", [out])
            let mean = try tensor("\(bn).running_mean", [out])
            let variance = try tensor("\(bn).running_var", [out])
            // BN(conv(x)) = s·(W x + b − μ) + β with s = γ/√(σ²+ε): scale the weights, shift the bias.
            var bias = [Float](repeating: 0, count: out)
            let k = inC * kernel * kernel
            for o in 0..<out {
                let s = gamma[o] / (variance[o] + eps).squareRoot()
                for j in 0..<k { folded[o * k + j] *= s }
                bias[o] = (b[o] - mean[o]) * s + beta[o]
            }
            convs.append(Conv(inChannels: inC, outChannels: out, kernel: kernel, stride: stride, padding: padding,
                              weight: folded, bias: bias, source: source, addend: addend, relu: relu, poolAfter: false,
                              inputSide: side, outputSide: convolved))
            return convs.count - 1
        }

        /// conv{i}/bn{i} in a chain, "M" marking a 2×2 max-pool after the convolution before it.
        mutating func vgg19(layout: String) throws(RecognizerError) {
            let tokens = layout.split(separator: ",").map { part in
            String(part.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
        }
            for token in tokens {
                if token == "M" {
                    guard let last = convs.popLast(), last.outputSide >= 2, !last.poolAfter else {
                        throw .incompatibleModel(path: path, reason: "layout '\(layout)' pools before a conv, twice, or below 2×2")
                    }
                    convs.append(last.with(poolAfter: true))
                    continue
                }
                guard let out = Int(token), out > 0 else { throw .incompatibleModel(path: path, reason: "layout token '\(token)' is neither a width nor M") }
                let i = convs.count
                try add(conv: "conv\(i)", bn: "bn\(i)", out: out, kernel: 3, stride: 1, source: i - 1)
            }
        }

        /// The stem conv/bn, then per stage s and block b: layer{s}.{b}.conv1 (ReLU), the
        /// projection shortcut_conv (no ReLU) where the shape changes, and conv2 with the
        /// shortcut (or the block's input) added before its ReLU.
        mutating func resnet(stages: String, blocks: Int) throws(RecognizerError) {
            var plan: [(channels: Int, stride: Int)] = []
            for item in stages.split(separator: ",") {
                let parts = item.split(separator: ":").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
                guard parts.count == 2, parts[0] > 0, parts[1] >= 1 else {
                    throw .incompatibleModel(path: path, reason: "stages '\(stages)': '\(item)' is not CHANNELS:STRIDE")
                }
                plan.append((parts[0], parts[1]))
            }
            guard !plan.isEmpty, blocks >= 1 else { throw .incompatibleModel(path: path, reason: "stages '\(stages)', \(blocks) blocks") }
            var blockInput = try add(conv: "conv", bn: "bn", out: plan[0].channels, kernel: 3, stride: 1, source: Conv.networkInput)
            for (s, stage) in plan.enumerated() {
                for b in 0..<blocks {
                    let name = "layer\(s + 1).\(b)"
                    let stride = b == 0 ? stage.stride : 1
                    let first = try add(conv: "\(name).conv1", bn: "\(name).bn1", out: stage.channels, kernel: 3, stride: stride, source: blockInput)
                    var shortcut = blockInput
                    if stride != 1 || channels(of: blockInput) != stage.channels {
                        shortcut = try add(conv: "\(name).shortcut_conv", bn: "\(name).shortcut_bn", out: stage.channels,
                                           kernel: 1, stride: stride, source: blockInput, relu: false)
                    }
                    blockInput = try add(conv: "\(name).conv2", bn: "\(name).bn2", out: stage.channels, kernel: 3, stride: 1,
                                         source: first, addend: shortcut)
                }
            }
        }
    }
}
