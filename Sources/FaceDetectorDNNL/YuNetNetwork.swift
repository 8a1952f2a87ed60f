import CDNNL
import FaceDetection
import FERCore
import Foundation
import Synchronization
import SafeTensors
import RecognizerDNNL

/// YuNet (libfacedetection's face detector) on oneDNN, f32, for one input size and batch: built
/// once per shape, run many times. A batch runs several inputs of one size in one pass (the
/// neighbourhoods of all tracked faces), which saves the per-step cost of each call.
///
/// The graph is libfacedetection's `objectdetect_cnn`: a 3×3 stride-2 head convolution, units
/// of (1×1 pointwise, 3×3 depthwise + ReLU) with 2×2 max pools between them, feature maps at
/// strides 8, 16 and 32, a top-down neck (nearest ×2 upsampling, add, one unit), and per stride
/// four heads (class 1, box 4, objectness 1, landmarks 10 channels) that this network runs as one
/// 64→16 pointwise and one 16-group depthwise convolution. Activations are NHWC.
final class YuNetGraph {
    let batch: Int, rows: Int, cols: Int
    private let engine: DNNLCPUEngine
    private var steps: [(DNNLPrimitive, [dnnl_exec_arg_t])] = []
    private var kept: [AnyObject] = []
    /// One scratchpad for all steps (they run one at a time): each step's scratch memory points into it.
    private var scratchMemories: [DNNLMemory] = []
    private var scratch = DNNLBuffer(byteCount: 0)
    /// The maps of the stride-2 and stride-4 layers, the largest, are each read only by the next
    /// step: they take turns in two buffers instead of one each.
    private var pingPong = false
    private var turns: [(DNNLMemory, Int)] = []
    private var turnBuffers: [DNNLBuffer] = []
    let input: DNNLMemory
    /// The three head maps (strides 8, 16, 32), 16 channels each.
    private(set) var heads: [(stride: Int, memory: DNNLMemory, rows: Int, cols: Int)] = []

    /// A map between steps: its memory and shape.
    private struct Map {
        let memory: DNNLMemory
        let channels: Int, rows: Int, cols: Int
    }

    /// `rows`×`cols` must be multiples of 32 (the input is zero-padded to that, as in
    /// libfacedetection).
    init(weights: YuNetWeights, batch: Int = 1, rows: Int, cols: Int, engine: DNNLCPUEngine) throws(RecognizerError) {
        precondition(rows % 32 == 0 && cols % 32 == 0 && rows > 0 && cols > 0 && batch > 0)
        self.batch = batch
        self.rows = rows
        self.cols = cols
        self.engine = engine
        table = weights.layers
        input = try DNNLMemory(borrowing: .make([batch, 1, rows, cols], dnnl_f32, dnnl_nhwc), engine: engine)
        var x = Map(memory: input, channels: 1, rows: rows, cols: cols)

        let w = weights.layers
        pingPong = true
        x = try conv(x, weights: weights.headWeights, bias: w[0].bias, outChannels: 16, kernel: 3, stride: 2, groups: 1, relu: true)
        x = try unit(x, 1)
        x = try pool(x)
        x = try unit(try unit(x, 3), 5)
        x = try unit(try unit(x, 7), 9)
        pingPong = false
        x = try pool(x)
        let f1 = try unit(try unit(x, 11), 13)
        let f2 = try unit(try unit(try pool(f1), 15), 17)
        let f3 = try unit(try unit(try pool(f2), 19), 21)
        let n3 = try unit(f3, 27)
        let n2 = try unit(try upsampleAdd(n3, f2), 25)
        let n1 = try unit(try upsampleAdd(n2, f1), 23)
        for (level, (map, stride)) in [(n1, 8), (n2, 16), (n3, 32)].enumerated() {
            let pw = weights.mergedHead(level: level, depthwise: false)
            let dw = weights.mergedHead(level: level, depthwise: true)
            let a = try conv(map, weights: pw.weights, bias: pw.bias, outChannels: 16, kernel: 1, stride: 1, groups: 1, relu: false)
            let b = try conv(a, weights: dw.weights, bias: dw.bias, outChannels: 16, kernel: 3, stride: 1, groups: 16, relu: false)
            heads.append((stride, b.memory, b.rows, b.cols))
        }
        scratch = DNNLBuffer(byteCount: scratchMemories.map(\.byteCount).max() ?? 0)
        for memory in scratchMemories { try memory.setData(scratch.pointer) }
        turnBuffers = (0..<2).map { slot in DNNLBuffer(byteCount: turns.filter { $0.1 == slot }.map(\.0.byteCount).max() ?? 0) }
        for (memory, slot) in turns { try memory.setData(turnBuffers[slot].pointer) }
    }

    /// Pointwise then depthwise + ReLU: layers `first` and `first + 1` of the table.
    private func unit(_ x: Map, _ first: Int) throws(RecognizerError) -> Map {
        let l = table[first], d = table[first + 1]
        let a = try conv(x, weights: l.weights, bias: l.bias, outChannels: l.filters, kernel: 1, stride: 1, groups: 1, relu: false)
        return try conv(a, weights: d.weights, bias: d.bias, outChannels: d.filters, kernel: 3, stride: 1, groups: d.filters, relu: true)
    }

    private let table: [YuNetWeights.Layer]

    private func output(_ channels: Int, _ rows: Int, _ cols: Int) throws(RecognizerError) -> Map {
        let desc = try dnnl_memory_desc_t.make([batch, channels, rows, cols], dnnl_f32, dnnl_nhwc)
        guard pingPong else { return Map(memory: try DNNLMemory(owning: desc, engine: engine), channels: channels, rows: rows, cols: cols) }
        let memory = try DNNLMemory(borrowing: desc, engine: engine)
        turns.append((memory, turns.count % 2))
        return Map(memory: memory, channels: channels, rows: rows, cols: cols)
    }

    private func constant(_ values: [Float], dims: [Int], tag: dnnl_format_tag_t) throws(RecognizerError) -> DNNLMemory {
        let memory = try DNNLMemory(owning: .make(dims, dnnl_f32, tag), engine: engine)
        guard let data = memory.data, memory.byteCount == values.count * 4 else {
            throw .backend(reason: "oneDNN constant of \(dims) has \(memory.byteCount) bytes for \(values.count) values")
        }
        values.withUnsafeBytes { data.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        return memory
    }

    /// A convolution with bias; `groups` == channels is depthwise. Weights are given
    /// [out][in/groups][k][k] (OIHW, GOIHW for groups > 1).
    private func conv(_ x: Map, weights: [Float], bias: [Float], outChannels: Int, kernel: Int, stride: Int, groups: Int,
                      relu: Bool) throws(RecognizerError) -> Map {
        // Stride 2 pads (1, 0): libfacedetection's head reads rows 2r−1 … 2r+1 of an even-sized input.
        let pad = kernel / 2, padR = stride == 2 ? 0 : pad
        let y = try output(outChannels, (x.rows + pad + padR - kernel) / stride + 1, (x.cols + pad + padR - kernel) / stride + 1)
        let wDims = groups > 1 ? [groups, outChannels / groups, x.channels / groups, kernel, kernel]
                               : [outChannels, x.channels, kernel, kernel]
        let wTag = groups > 1 ? dnnl_goihw : dnnl_oihw
        let wUser = try constant(weights, dims: wDims, tag: wTag)
        let bMemory = try constant(bias, dims: [outChannels], tag: dnnl_x)
        var src = x.memory.desc, dst = y.memory.desc, b = bMemory.desc
        var wAny = try dnnl_memory_desc_t.make(wDims, dnnl_f32, dnnl_format_tag_any)
        var desc = dnnl_convolution_desc_t()
        try check(dnnl_convolution_forward_desc_init(&desc, dnnl_forward_inference, dnnl_convolution_direct, &src, &wAny, &b, &dst,
                                                     [Int64(stride), Int64(stride)], [Int64(pad), Int64(pad)], [Int64(padR), Int64(padR)]),
                  "YuNet convolution descriptor")
        let attributes = try DNNLAttributes()
        if relu {
            let postOps = try DNNLPostOps()
            try postOps.appendReLU()
            try attributes.setPostOps(postOps)
        }
        let pd = try DNNLPrimitiveDesc(operation: &desc, attributes: attributes, engine: engine, what: "YuNet convolution")
        let wWanted = try pd.memoryDesc(dnnl_query_weights_md)
        var wMemory = wUser
        if !wWanted.isEqual(to: wUser.desc) {
            wMemory = try DNNLMemory(owning: wWanted, engine: engine)
            let rpd = try DNNLPrimitiveDesc(reorderFrom: wUser.desc, to: wWanted, attributes: try DNNLAttributes(), engine: engine,
                                            what: "YuNet weight reorder")
            let reorder = try DNNLPrimitive(rpd, what: "YuNet weight reorder")
            let stream = try DNNLStream(engine: engine)
            var args = [dnnl_exec_arg_t(arg: DNNL_ARG_FROM, memory: wUser.raw), dnnl_exec_arg_t(arg: DNNL_ARG_TO, memory: wMemory.raw)]
            try check(dnnl_primitive_execute(reorder.raw, stream.raw, Int32(args.count), &args), "YuNet weight reorder")
            try stream.wait()
        }
        try add(pd, [(DNNL_ARG_SRC, x.memory), (DNNL_ARG_WEIGHTS, wMemory), (DNNL_ARG_BIAS, bMemory), (DNNL_ARG_DST, y.memory)])
        kept += [wMemory, bMemory]
        return y
    }

    private func pool(_ x: Map) throws(RecognizerError) -> Map {
        let y = try output(x.channels, x.rows / 2, x.cols / 2)
        var src = x.memory.desc, dst = y.memory.desc
        var desc = dnnl_pooling_v2_desc_t()
        try check(dnnl_pooling_v2_forward_desc_init(&desc, dnnl_forward_inference, dnnl_pooling_max, &src, &dst,
                                                    [2, 2], [2, 2], [0, 0], [0, 0], [0, 0]), "YuNet pooling descriptor")
        let pd = try DNNLPrimitiveDesc(operation: &desc, attributes: try DNNLAttributes(), engine: engine, what: "YuNet pooling")
        try add(pd, [(DNNL_ARG_SRC, x.memory), (DNNL_ARG_DST, y.memory)])
        return y
    }

    /// `coarse` upsampled ×2 (nearest) plus `fine`.
    private func upsampleAdd(_ coarse: Map, _ fine: Map) throws(RecognizerError) -> Map {
        let up = try output(coarse.channels, fine.rows, fine.cols)
        var src = coarse.memory.desc, dst = up.memory.desc
        var desc = dnnl_resampling_desc_t()
        try check(dnnl_resampling_forward_desc_init(&desc, dnnl_forward_inference, dnnl_resampling_nearest, nil, &src, &dst),
                  "YuNet upsampling descriptor")
        let pd = try DNNLPrimitiveDesc(operation: &desc, attributes: try DNNLAttributes(), engine: engine, what: "YuNet upsampling")
        try add(pd, [(DNNL_ARG_SRC, coarse.memory), (DNNL_ARG_DST, up.memory)])
        let sum = try output(fine.channels, fine.rows, fine.cols)
        var a = up.memory.desc, b = fine.memory.desc, c = sum.memory.desc
        var bdesc = dnnl_binary_desc_t()
        try check(dnnl_binary_desc_init(&bdesc, dnnl_binary_add, &a, &b, &c), "YuNet add descriptor")
        let bpd = try DNNLPrimitiveDesc(operation: &bdesc, attributes: try DNNLAttributes(), engine: engine, what: "YuNet add")
        try add(bpd, [(DNNL_ARG_SRC_0, up.memory), (DNNL_ARG_SRC_1, fine.memory), (DNNL_ARG_DST, sum.memory)])
        return sum
    }

    private func add(_ pd: DNNLPrimitiveDesc, _ args: [(Int32, DNNLMemory)]) throws(RecognizerError) {
        let primitive = try DNNLPrimitive(pd, what: "YuNet step")
        var list = args.map { dnnl_exec_arg_t(arg: $0.0, memory: $0.1.raw) }
        let scratchpad = try pd.memoryDesc(dnnl_query_scratchpad_md)
        var scratchDesc = scratchpad
        if dnnl_memory_desc_get_size(&scratchDesc) > 0 {
            let memory = try DNNLMemory(borrowing: scratchpad, engine: engine)
            list.append(dnnl_exec_arg_t(arg: DNNL_ARG_SCRATCHPAD, memory: memory.raw))
            scratchMemories.append(memory)
        }
        kept.append(contentsOf: args.map { $0.1 })
        steps.append((primitive, list))
    }

    /// Runs on `pixels` (`batch` inputs of rows×cols grey values, row-major, one after the
    /// other) and returns each input's head maps.
    func run(_ pixels: [Float], stream: DNNLStream) throws(RecognizerError) -> [[YuNetHeadMap]] {
        precondition(pixels.count == batch * rows * cols)
        try pixels.withUnsafeBufferPointer { (p) throws(RecognizerError) in
            try input.setData(UnsafeMutableRawPointer(mutating: p.baseAddress))
            for (primitive, args) in steps {
                let status = args.withUnsafeBufferPointer { dnnl_primitive_execute(primitive.raw, stream.raw, Int32($0.count), $0.baseAddress) }
                try check(status, "executing YuNet")
            }
            try stream.wait()
        }
        try input.setData(nil)
        // NHWC with N outermost: each input's map is one contiguous run.
        return (0..<batch).map { b in
            heads.map { h in
                let n = h.rows * h.cols * 16
                let start = h.memory.data!.assumingMemoryBound(to: Float.self) + b * n
                return YuNetHeadMap(stride: h.stride, rows: h.rows, cols: h.cols, values: Array(UnsafeBufferPointer(start: start, count: n)))
            }
        }
    }
}

/// YuNet's weights as `scripts/convert-yunet.py` writes them: libfacedetection's table of 53
/// layers, pointwise [filters][channels], depthwise [9 taps][channels], with biases.
public struct YuNetWeights: Sendable {
    public struct Layer: Sendable {
        public let channels: Int, filters: Int
        public let depthwise: Bool
        /// OIHW for pointwise layers ([filters][channels]); GOIHW ([channels][1][1][3][3]) for depthwise.
        public let weights: [Float]
        public let bias: [Float]
    }

    public static let fileName = "yunet.safetensors"
    /// (channels, filters, depthwise) of each of the 53 layers, in table order.
    static let shapes: [(Int, Int, Bool)] = {
        var s: [(Int, Int, Bool)] = [(32, 16, false), (16, 16, false), (16, 16, true)]
        for (c, f) in [(16, 16), (16, 32), (32, 32), (32, 64)] + Array(repeating: (64, 64), count: 9) {
            s += [(c, f, false), (f, f, true)]
        }
        for f in [1, 4, 1, 10] { s += Array(repeating: [(64, f, false), (f, f, true)], count: 3).flatMap { $0 } }
        return s
    }()

    public let layers: [Layer]

    public init(file: SafeTensorsFile, path: String) throws(RecognizerError) {
        guard file.metadata["format"] == "yunet" else {
            throw .malformed(path: path, reason: "not a YuNet face detector (metadata format is '\(file.metadata["format"] ?? "none")', expected 'yunet')")
        }
        var layers: [Layer] = []
        for (i, (c, f, dw)) in Self.shapes.enumerated() {
            let name = String(format: "l%02d", i)
            guard let w = file.tensors["\(name).weight"], let b = file.tensors["\(name).bias"] else {
                throw .malformed(path: path, reason: "tensor '\(name).weight' or '\(name).bias' is missing")
            }
            let shape = dw ? [9, c] : [f, c]
            guard w.shape == shape, b.shape == [f] else {
                throw .malformed(path: path, reason: "tensor '\(name).weight' has shape \(w.shape), expected \(shape)")
            }
            // Depthwise taps are stored [tap][channel]; oneDNN's GOIHW wants [channel][tap].
            let values = dw ? (0..<c * 9).map { w.values[($0 % 9) * c + $0 / 9] } : w.values
            layers.append(Layer(channels: c, filters: f, depthwise: dw, weights: values, bias: b.values))
        }
        self.layers = layers
    }

    public static func load(path: String) throws(RecognizerError) -> YuNetWeights {
        try YuNetWeights(file: SafeTensorsFile(path: path), path: path)
    }

    /// The head convolution as a 3×3 stride-2 convolution of one grey channel: libfacedetection
    /// runs it as a 1×1 convolution over 27 (+5 zero) channels of 3×3 BGR patches; a grey image
    /// has B = G = R, so the three colour weights of each tap add up.
    var headWeights: [Float] {
        let l = layers[0]
        return (0..<16 * 9).map { i in
            let f = i / 9, tap = i % 9
            return (0..<3).reduce(Float(0)) { $0 + l.weights[f * 32 + tap * 3 + $1] }
        }
    }

    /// The four heads of one level (class 1, box 4, objectness 1, landmarks 10 channels) as one
    /// 16-channel layer.
    func mergedHead(level: Int, depthwise: Bool) -> (weights: [Float], bias: [Float]) {
        let parts = [29, 35, 41, 47].map { layers[$0 + 2 * level + (depthwise ? 1 : 0)] }
        return (parts.flatMap(\.weights), parts.flatMap(\.bias))
    }
}

/// YuNet on oneDNN: one graph per input size, built on first use and kept.
/// The oneDNN handles are not thread-safe: they live inside a `Mutex`, so every use is exclusive.
public final class YuNetNetwork: YuNetRunning {
    /// The oneDNN engine, its stream and the graphs built so far, used only with the lock held.
    private struct Handles {
        let engine: DNNLCPUEngine
        let stream: DNNLStream
        var graphs: [[Int]: YuNetGraph] = [:]
        /// Graph keys, least recently used first.
        var recent: [[Int]] = []
    }
    private let weights: YuNetWeights
    private let handles: Mutex<Handles>
    /// Shapes kept at most (a stream whose size keeps changing must not grow without bound):
    /// room for a frame's tiles and coarse pass and a batch of neighbourhoods per face count.
    private let maxGraphs = 12

    public init(weights: YuNetWeights) throws(RecognizerError) {
        self.weights = weights
        let engine = try DNNLCPUEngine()
        handles = Mutex(Handles(engine: engine, stream: try DNNLStream(engine: engine)))
    }

    public convenience init(path: String) throws(RecognizerError) {
        try self.init(weights: YuNetWeights.load(path: path))
    }

    public func heads(batch pixels: [Float], count: Int, rows: Int, cols: Int) throws -> [[YuNetHeadMap]] {
        try handles.withLock { (h: inout Handles) throws(RecognizerError) -> [[YuNetHeadMap]] in
            let key = [count, rows, cols]
            let graph: YuNetGraph
            h.recent.removeAll { $0 == key }
            if let g = h.graphs[key] {
                graph = g
            } else {
                if h.graphs.count >= maxGraphs { h.graphs[h.recent.removeFirst()] = nil }
                graph = try YuNetGraph(weights: weights, batch: count, rows: rows, cols: cols, engine: h.engine)
                h.graphs[key] = graph
            }
            h.recent.append(key)
            return try graph.run(pixels, stream: h.stream)
        }
    }
}
