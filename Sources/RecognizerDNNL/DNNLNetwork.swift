import CDNNL
import Recognizer
import SafeTensors

/// The element types a network runs in: activations between layers, the first convolution, the
/// classifier's input.
enum RunType {
    case f32, bf16, int8

    /// Activations between layers (int8: u8, every one of them is after a ReLU).
    var activation: dnnl_data_type_t {
        switch self {
        case .f32: dnnl_f32
        case .bf16: dnnl_bf16
        case .int8: dnnl_u8
        }
    }

    /// The first convolution's input and output (int8: it stays f32, its output is then
    /// quantised; it has one input channel and does a thousandth of the work).
    var firstLayer: dnnl_data_type_t { self == .bf16 ? dnnl_bf16 : dnnl_f32 }

    /// Weights of layer `index` (the classifier is layer `convs.count`).
    func weights(ofLayer index: Int) -> dnnl_data_type_t {
        switch self {
        case .f32: dnnl_f32
        case .bf16: dnnl_bf16
        case .int8: index == 0 ? dnnl_f32 : dnnl_s8
        }
    }
}

/// Where the weights of one layer come from, in the form a network needs them (the engine
/// caches the reordered results and shares them between batch sizes).
protocol DNNLWeightSource: AnyObject {
    /// Weights of layer `layer` (`dense`: a convolution on a map of side ≤ 2 done as an inner
    /// product) reordered to `desc`.
    func weights(layer: Int, dense: Bool, side: Int, desc: dnnl_memory_desc_t) throws(RecognizerError) -> DNNLMemory
    /// Per-output-row quantisation steps of int8 weights (w ≈ step·q).
    func weightSteps(layer: Int, dense: Bool, side: Int) -> [Float]
    var engine: DNNLCPUEngine { get }
}

/// The whole forward pass for one batch size: primitives in order, their arguments, and the
/// memory they run in. Built once, run many times; one caller at a time.
final class DNNLNetwork {
    struct Step {
        let primitive: DNNLPrimitive
        let args: [dnnl_exec_arg_t]
        /// Set when the destination of this step is the output (after ReLU) of convolution `layer`.
        let layerOutput: Int?
        let destination: DNNLMemory
    }

    let count: Int
    let runType: RunType
    private(set) var steps: [Step] = []
    /// f32 nchw {count, 1, side, side}; pointed at the caller's array during a call.
    let input: DNNLMemory
    /// f32 nc {count, classes}; pointed at the result array during a call.
    let output: DNNLMemory
    /// The implementation oneDNN picked for each step, in order, e.g. "conv3 brgconv:avx512_core_vnni".
    private(set) var implementations: [String] = []

    /// Everything the primitives read or write that is not the caller's or the workspace's:
    /// weights, biases, the memory objects.
    private var kept: [AnyObject] = []
    /// The engine's storage for activations and the scratchpad, in slots (the networks of one
    /// engine run one at a time and share it).
    private let workspace: DNNLWorkspace
    /// Bytes this network needs in each workspace slot (slot 0: the scratchpad).
    private var slotSizes: [Int] = []
    /// The workspace generation the memories were last bound to (-1: never).
    private var boundGeneration = -1

    /// Workspace slot 0 holds the scratchpad, slots 1... activations.
    private static let scratchSlot = 0
    private var placed: [(DNNLMemory, Int)] = []
    /// Activation slots whose contents a later step still reads (while building).
    private var reserved: Set<Int> = []

    /// The activation between two steps.
    private struct Activation {
        var memory: DNNLMemory
        /// nil: the network input (the caller's array).
        var slot: Int?
        var channels: Int
        var side: Int
        /// Flat {N, side²·channels} features in (y, x, c) order (an inner product's output) rather than a 4-D map.
        var flat: Bool
        /// int8: the value of one quantisation step (real = step · u8).
        var step: Float

        var features: Int { channels * side * side }
    }

    /// `maxima`: int8 only, the largest output (after ReLU; in magnitude where there is none) of
    /// each convolution on calibration data.
    /// `denseSmallMaps`: run 3×3 convolutions on maps of side ≤ 2 as inner products.
    init(weights model: NetworkWeights, count: Int, runType: RunType, maxima: [Float]?, denseSmallMaps: Bool,
         source: DNNLWeightSource, workspace: DNNLWorkspace) throws(RecognizerError) {
        self.count = count
        self.workspace = workspace
        self.runType = runType
        let engine = source.engine
        let n = count, s = model.inputSize
        input = try DNNLMemory(borrowing: .make([n, 1, s, s], dnnl_f32, dnnl_nchw), engine: engine)
        output = try DNNLMemory(borrowing: .make([n, model.classes.count], dnnl_f32, dnnl_nc), engine: engine)
        if runType == .int8 {
            guard let maxima, maxima.count == model.convs.count else {
                throw .backend(reason: "int8 network needs \(model.convs.count) calibrated activation maxima")
            }
        }
        let convs = model.convs
        func stepOf(_ layer: Int) -> Float {
            // u8 covers [0, max] after a ReLU, s8 [−max, max] without one; a layer that never
            // fired still needs a positive step.
            max(maxima?[layer] ?? 1, 1e-6) / (convs[layer].relu ? 255 : 127)
        }
        // Each output stays in its slot until the last convolution that reads or adds it.
        let lastUse = model.lastUse
        let networkInput = Activation(memory: input, slot: nil, channels: 1, side: s, flat: false, step: 1)
        var outputs = [Activation?](repeating: nil, count: convs.count)

        for (i, conv) in convs.enumerated() {
            guard var act = conv.source == NetworkWeights.Conv.networkInput ? networkInput : outputs[conv.source],
                  conv.addend.map({ outputs[$0] != nil }) ?? true else {
                throw .backend(reason: "internal: convolution \(i) reads an output not made yet")
            }
            let residual = conv.addend.flatMap { outputs[$0] }
            reserved = Set((0..<i).filter { lastUse[$0] > i }.compactMap { outputs[$0]?.slot })
            if let slot = residual?.slot { reserved.insert(slot) }
            let first = conv.source == NetworkWeights.Conv.networkInput
            let dense = denseSmallMaps && act.side <= 2 && conv.kernel == 3 && conv.stride == 1 && conv.padding == 1 && residual == nil
            let inType = first ? runType.firstLayer : runType.activation
            // int8: a map without ReLU (a projection shortcut) is signed.
            let outType = first ? runType.firstLayer : (runType == .int8 && !conv.relu ? dnnl_s8 : runType.activation)
            let outSide = conv.convolvedSide
            let rows = dense ? conv.outChannels * act.side * act.side : conv.outChannels
            // Dense rows are (y, x, out channel): bias by channel.
            var bias = (0..<rows).map { conv.bias[$0 % conv.outChannels] }
            var scales: [Float] = []
            if runType == .int8 && !first {
                // Output scales fold the steps of input, weights and output; the f32 bias is added
                // to the integer accumulator before scaling, so it is divided by the same steps.
                let w = source.weightSteps(layer: i, dense: dense, side: act.side)
                let outStep = stepOf(i)
                scales = (0..<rows).map { act.step * w[$0] / outStep }
                bias = (0..<rows).map { bias[$0] / (act.step * w[$0]) }
            }
            let attributes = try DNNLAttributes()
            let postOps = try DNNLPostOps()
            if let residual {
                // The destination holds the residual when the convolution runs; in int8 its steps
                // differ from the output's.
                let scale = runType == .int8 && !first ? residual.step / stepOf(i) : 1
                try postOps.appendSum(scale: scale, type: residual.memory.desc.data_type)
            }
            if conv.relu { try postOps.appendReLU() }
            try attributes.setPostOps(postOps)
            if !scales.isEmpty { try attributes.setOutputScales(scales, mask: 1 << 1) }
            let biasMemory = try Self.constant(bias, engine: engine)
            var bDesc = biasMemory.desc
            let descriptor: DNNLPrimitiveDesc
            if dense {
                // A 3×3 pad-1 convolution on a map of side ≤ 2 sees the whole map from every
                // output pixel: it is a dense layer over the (y, x, c) features.
                act = try flatten(act, engine: engine)
                var src = try dnnl_memory_desc_t.make([n, act.features], inType, dnnl_nc)
                var wDesc = try dnnl_memory_desc_t.make([rows, act.features], runType.weights(ofLayer: i), dnnl_format_tag_any)
                var dstDesc = try dnnl_memory_desc_t.make([n, rows], outType, dnnl_nc)
                var desc = dnnl_inner_product_desc_t()
                try check(dnnl_inner_product_forward_desc_init(&desc, dnnl_forward_inference, &src, &wDesc, &bDesc, &dstDesc),
                          "inner-product descriptor for convolution \(i)")
                descriptor = try DNNLPrimitiveDesc(operation: &desc, attributes: attributes, engine: engine, what: "inner product for convolution \(i)")
            } else {
                if act.flat { act = try unflatten(act, engine: engine) }
                let k = conv.kernel, st = Int64(conv.stride), pad = Int64(conv.padding)
                var src = try dnnl_memory_desc_t.make([n, act.channels, act.side, act.side], inType, dnnl_format_tag_any)
                var wDesc = try dnnl_memory_desc_t.make([conv.outChannels, act.channels, k, k], runType.weights(ofLayer: i), dnnl_format_tag_any)
                var dstDesc = try dnnl_memory_desc_t.make([n, conv.outChannels, outSide, outSide], outType, dnnl_format_tag_any)
                var desc = dnnl_convolution_desc_t()
                try check(dnnl_convolution_forward_desc_init(&desc, dnnl_forward_inference, dnnl_convolution_direct,
                                                             &src, &wDesc, &bDesc, &dstDesc, [st, st], [pad, pad], [pad, pad]),
                          "convolution \(i) descriptor")
                descriptor = try DNNLPrimitiveDesc(operation: &desc, attributes: attributes, engine: engine, what: "convolution \(i)")
            }
            act = try conform(act, to: descriptor.memoryDesc(dnnl_query_src_md), engine: engine, label: "conv\(i) input")
            let weightMemory = try source.weights(layer: i, dense: dense, side: act.side, desc: descriptor.memoryDesc(dnnl_query_weights_md))
            let dstDesc = try descriptor.memoryDesc(dnnl_query_dst_md)
            let dst: (memory: DNNLMemory, slot: Int)
            if let residual, let addend = conv.addend {
                // The residual in the destination's layout, in a slot of its own: where it already is
                // when no later step reads it (the usual case), else a copy.
                var wanted = dstDesc
                wanted.data_type = residual.memory.desc.data_type
                var holder = residual
                if !(residual.memory.desc.isEqual(to: wanted) && lastUse[addend] == i && residual.slot != nil && residual.slot != act.slot) {
                    holder = try copy(residual, to: wanted, avoiding: act.slot, engine: engine, label: "residual of conv\(i)")
                }
                guard let slot = holder.slot else { throw .backend(reason: "internal: the residual of conv\(i) has no slot") }
                dst = (try placeIn(slot, dstDesc, engine: engine), slot)
            } else {
                dst = try place(dstDesc, avoiding: act.slot, engine: engine)
            }
            try add(descriptor, label: "conv\(i)\(dense ? " (dense)" : "")\(residual == nil ? "" : " + residual")", layerOutput: i, args: [
                (DNNL_ARG_SRC, act.memory), (DNNL_ARG_WEIGHTS, weightMemory), (DNNL_ARG_BIAS, biasMemory), (DNNL_ARG_DST, dst.memory),
            ], destination: dst.memory, engine: engine)
            kept += [weightMemory, biasMemory]
            act = Activation(memory: dst.memory, slot: dst.slot, channels: conv.outChannels, side: outSide, flat: dense, step: act.step)

            if runType == .int8 {
                if first {
                    act = try quantize(act, step: stepOf(i), engine: engine)
                } else {
                    act.step = stepOf(i)
                }
            }
            if conv.poolAfter {
                act = try pool(act, kind: dnnl_pooling_max, window: 2, engine: engine, label: "pool\(i)")
            }
            outputs[i] = act
        }
        reserved = []
        guard var act = outputs.last ?? nil else { throw .backend(reason: "internal: the network has no convolution") }
        if case .averagePool(let window) = model.head {
            act = try pool(act, kind: dnnl_pooling_avg_exclude_padding, window: window, engine: engine, label: "average pool")
        }

        // Classifier on the (y, x, c) features, logits straight into the caller's f32 array.
        let classes = model.classes.count
        let layer = model.convs.count
        act = try flatten(act, engine: engine)
        guard act.features == model.features else {
            throw .backend(reason: "internal: the classifier expects \(model.features) features, the network makes \(act.features)")
        }
        var bias = model.classifierBias
        var scales: [Float] = []
        if runType == .int8 {
            let w = source.weightSteps(layer: layer, dense: true, side: act.side)
            scales = (0..<classes).map { act.step * w[$0] }
            bias = (0..<classes).map { bias[$0] / (act.step * w[$0]) }
        }
        let attributes = try DNNLAttributes()
        if !scales.isEmpty { try attributes.setOutputScales(scales, mask: 1 << 1) }
        let biasMemory = try Self.constant(bias, engine: engine)
        var src = try dnnl_memory_desc_t.make([n, act.features], runType.activation, dnnl_nc)
        var wDesc = try dnnl_memory_desc_t.make([classes, act.features], runType.weights(ofLayer: layer), dnnl_format_tag_any)
        var bDesc = biasMemory.desc
        var dstDesc = output.desc
        var desc = dnnl_inner_product_desc_t()
        try check(dnnl_inner_product_forward_desc_init(&desc, dnnl_forward_inference, &src, &wDesc, &bDesc, &dstDesc), "classifier descriptor")
        let descriptor = try DNNLPrimitiveDesc(operation: &desc, attributes: attributes, engine: engine, what: "classifier")
        act = try conform(act, to: descriptor.memoryDesc(dnnl_query_src_md), engine: engine, label: "classifier input")
        let weightMemory = try source.weights(layer: layer, dense: true, side: act.side, desc: descriptor.memoryDesc(dnnl_query_weights_md))
        try add(descriptor, label: "classifier", layerOutput: nil, args: [
            (DNNL_ARG_SRC, act.memory), (DNNL_ARG_WEIGHTS, weightMemory), (DNNL_ARG_BIAS, biasMemory), (DNNL_ARG_DST, output),
        ], destination: output, engine: engine)
        kept += [weightMemory, biasMemory]

        // Storage: each slot as large as the largest memory placed in it, in the shared workspace.
        slotSizes = [Int](repeating: 0, count: (placed.map(\.1).max() ?? 0) + 1)
        for (memory, slot) in placed { slotSizes[slot] = max(slotSizes[slot], memory.byteCount) }
        try bind()
    }

    /// Points the memories at the workspace (again, if another network made it grow).
    private func bind() throws(RecognizerError) {
        let pointers = workspace.pointers(for: slotSizes)
        guard boundGeneration != workspace.generation else { return }
        for (memory, slot) in placed { try memory.setData(pointers[slot]) }
        boundGeneration = workspace.generation
    }

    /// Runs the network on `input` (count × side² floats) into `output` (count × classes).
    /// `observe` sees the destination of every convolution after it ran (calibration).
    func run(input values: UnsafeBufferPointer<Float>, output result: UnsafeMutableBufferPointer<Float>, stream: DNNLStream,
             observe: ((Int, DNNLMemory) -> Void)? = nil) throws(RecognizerError) {
        try bind()
        try input.setData(UnsafeMutableRawPointer(mutating: values.baseAddress))
        try output.setData(UnsafeMutableRawPointer(result.baseAddress))
        defer {
            _ = try? input.setData(nil)
            _ = try? output.setData(nil)
        }
        for step in steps {
            let status = step.args.withUnsafeBufferPointer {
                dnnl_primitive_execute(step.primitive.raw, stream.raw, Int32($0.count), $0.baseAddress)
            }
            try check(status, "executing \(step.layerOutput.map { "layer \($0)" } ?? "a step")")
            if let observe, let layer = step.layerOutput {
                try stream.wait()
                observe(layer, step.destination)
            }
        }
        try stream.wait()
    }

    // MARK: building

    /// A new memory for `desc` in the lowest activation slot that neither holds `slot` (the
    /// step's input) nor an output a later step reads.
    private func place(_ desc: dnnl_memory_desc_t, avoiding slot: Int?, engine: DNNLCPUEngine) throws(RecognizerError) -> (memory: DNNLMemory, slot: Int) {
        var target = Self.scratchSlot + 1
        while target == slot || reserved.contains(target) { target += 1 }
        return (try placeIn(target, desc, engine: engine), target)
    }

    /// A new memory for `desc` in slot `slot` (a view of what is there, or storage for a result).
    private func placeIn(_ slot: Int, _ desc: dnnl_memory_desc_t, engine: DNNLCPUEngine) throws(RecognizerError) -> DNNLMemory {
        let memory = try DNNLMemory(borrowing: desc, engine: engine)
        placed.append((memory, slot))
        kept.append(memory)
        return memory
    }

    private func add(_ descriptor: DNNLPrimitiveDesc, label: String, layerOutput: Int?, args: [(Int32, DNNLMemory)],
                     destination: DNNLMemory, engine: DNNLCPUEngine) throws(RecognizerError) {
        let primitive = try DNNLPrimitive(descriptor, what: label)
        var list = args.map { dnnl_exec_arg_t(arg: $0.0, memory: $0.1.raw) }
        let scratch = try descriptor.memoryDesc(dnnl_query_scratchpad_md)
        var scratchDesc = scratch
        if dnnl_memory_desc_get_size(&scratchDesc) > 0 {
            let memory = try placeIn(Self.scratchSlot, scratch, engine: engine)
            list.append(dnnl_exec_arg_t(arg: DNNL_ARG_SCRATCHPAD, memory: memory.raw))
        }
        steps.append(Step(primitive: primitive, args: list, layerOutput: layerOutput, destination: destination))
        implementations.append("\(label) \(descriptor.implementation)")
    }

    /// `act` as `desc` wants it: the same memory when the layout already matches (the usual case:
    /// every primitive picks the layout the previous one produced), else a reorder into the other
    /// slot (the usual case for the network input, f32 nchw).
    private func conform(_ act: Activation, to desc: dnnl_memory_desc_t, engine: DNNLCPUEngine,
                         label: String) throws(RecognizerError) -> Activation {
        if act.memory.desc.isEqual(to: desc) { return act }
        return try copy(act, to: desc, avoiding: act.slot, engine: engine, label: label)
    }

    /// `act` reordered to `desc` in another slot.
    private func copy(_ act: Activation, to desc: dnnl_memory_desc_t, avoiding slot: Int?, engine: DNNLCPUEngine,
                      label: String) throws(RecognizerError) -> Activation {
        let descriptor = try DNNLPrimitiveDesc(reorderFrom: act.memory.desc, to: desc, attributes: DNNLAttributes(), engine: engine,
                                               what: "reorder for \(label)")
        let dst = try place(desc, avoiding: slot, engine: engine)
        try add(descriptor, label: "reorder for \(label)", layerOutput: nil,
                args: [(DNNL_ARG_FROM, act.memory), (DNNL_ARG_TO, dst.memory)], destination: dst.memory, engine: engine)
        return Activation(memory: dst.memory, slot: dst.slot, channels: act.channels, side: act.side, flat: act.flat, step: act.step)
    }

    /// The map as flat {N, side²·C} features in (y, x, c) order: nhwc storage seen as 2-D (a
    /// reorder to nhwc first when the map is in another layout).
    private func flatten(_ input: Activation, engine: DNNLCPUEngine) throws(RecognizerError) -> Activation {
        if input.flat { return input }
        let type = input.memory.desc.data_type
        let act = try conform(input, to: .make([count, input.channels, input.side, input.side], type, dnnl_nhwc), engine: engine,
                              label: "flattening")
        return try view(act, as: .make([count, act.features], type, dnnl_nc), flat: true, engine: engine)
    }

    /// Flat (y, x, c) features as the nhwc map they are (same storage).
    private func unflatten(_ act: Activation, engine: DNNLCPUEngine) throws(RecognizerError) -> Activation {
        try view(act, as: .make([count, act.channels, act.side, act.side], act.memory.desc.data_type, dnnl_nhwc), flat: false, engine: engine)
    }

    private func view(_ act: Activation, as desc: dnnl_memory_desc_t, flat: Bool, engine: DNNLCPUEngine) throws(RecognizerError) -> Activation {
        guard let slot = act.slot else { throw .backend(reason: "internal: the network input cannot be reshaped") }
        let view = try placeIn(slot, desc, engine: engine)
        return Activation(memory: view, slot: slot, channels: act.channels, side: act.side, flat: flat, step: act.step)
    }

    /// f32 activations → u8 with the given step (same layout).
    private func quantize(_ act: Activation, step: Float, engine: DNNLCPUEngine) throws(RecognizerError) -> Activation {
        // nhwc: the layout oneDNN's int8 convolutions take on this kind of CPU (anything else is
        // reordered by `conform`).
        let target: dnnl_memory_desc_t = act.flat
            ? try .make([count, act.features], dnnl_u8, dnnl_nc)
            : try .make([count, act.channels, act.side, act.side], dnnl_u8, dnnl_nhwc)
        let attributes = try DNNLAttributes()
        try attributes.setOutputScales([1 / step], mask: 0)
        let descriptor = try DNNLPrimitiveDesc(reorderFrom: act.memory.desc, to: target, attributes: attributes, engine: engine, what: "quantising reorder")
        let dst = try place(target, avoiding: act.slot, engine: engine)
        try add(descriptor, label: "quantise conv0 output", layerOutput: nil,
                args: [(DNNL_ARG_FROM, act.memory), (DNNL_ARG_TO, dst.memory)], destination: dst.memory, engine: engine)
        return Activation(memory: dst.memory, slot: dst.slot, channels: act.channels, side: act.side, flat: act.flat, step: step)
    }

    /// window×window stride-window pooling without padding (floor mode).
    private func pool(_ input: Activation, kind: dnnl_alg_kind_t, window: Int, engine: DNNLCPUEngine, label: String) throws(RecognizerError) -> Activation {
        var act = input
        let type = act.memory.desc.data_type
        if act.flat { act = try unflatten(act, engine: engine) }
        let outSide = (act.side - window) / window + 1
        let w = Int64(window)
        var src = act.memory.desc
        var dst = try dnnl_memory_desc_t.make([count, act.channels, outSide, outSide], type, dnnl_format_tag_any)
        var desc = dnnl_pooling_v2_desc_t()
        try check(dnnl_pooling_v2_forward_desc_init(&desc, dnnl_forward_inference, kind, &src, &dst,
                                                    [w, w], [w, w], [0, 0], [0, 0], [0, 0]), "\(label) descriptor")
        let descriptor = try DNNLPrimitiveDesc(operation: &desc, attributes: DNNLAttributes(), engine: engine, what: label)
        let out = try place(descriptor.memoryDesc(dnnl_query_dst_md), avoiding: act.slot, engine: engine)
        try add(descriptor, label: label, layerOutput: nil, args: [(DNNL_ARG_SRC, act.memory), (DNNL_ARG_DST, out.memory)],
                destination: out.memory, engine: engine)
        return Activation(memory: out.memory, slot: out.slot, channels: act.channels, side: outSide, flat: false, step: act.step)
    }

    /// A small f32 vector (biases) in memory oneDNN owns.
    static func constant(_ values: [Float], engine: DNNLCPUEngine) throws(RecognizerError) -> DNNLMemory {
        let memory = try DNNLMemory(owning: .make([values.count], dnnl_f32, dnnl_a), engine: engine)
        guard let data = memory.data else { throw .backend(reason: "oneDNN bias memory has no data") }
        values.withUnsafeBytes { data.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        return memory
    }
}
