import CDNNL
import Recognizer
import SafeTensors
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The VGG19 on oneDNN (CPU): convolutions in the layout oneDNN picks (`any`), bias and ReLU
/// fused, max-pooling, the classifier as an inner product; the 3×3 convolutions on 2×2 maps run
/// as dense layers, which they are exactly. f32 in, f32 logits out whatever the precision inside.
///
/// The network is built once per batch size (`count`) and kept (the most recent
/// `cachedBatchSizes` sizes); weights are reordered once per layout oneDNN asks for and shared
/// between batch sizes. One thread at a time.
///
/// Threads: oneDNN here runs on OpenMP (libgomp). The engine sets the OpenMP thread count of the
/// calling thread (`omp_set_num_threads`, a per-thread setting) before building and before each
/// run, so `threads` holds whichever thread calls. The wait policy cannot be set from here:
/// libgomp reads `OMP_WAIT_POLICY` once, when it is loaded — before `main` for any program that
/// links this module — so it must be in the environment the program starts with.
///
/// `@unchecked Sendable`: it owns oneDNN handles and a network cache that are not thread-safe;
/// every public entry point runs under `exclusive`, so calls from several threads take turns
/// (in the pipeline only the recognizer service's thread calls it).
public final class DNNLEngine: InferenceEngine, @unchecked Sendable {
    public enum Precision: String, CaseIterable, Sendable {
        case f32, bf16, int8
        /// The fastest precision this CPU runs well (see `DNNLEngine.resolve`).
        case auto
    }

    public let weights: NetworkWeights
    /// What runs: never `.auto`.
    public let precision: Precision
    public let threads: Int
    public var name: String { "onednn-\(precision.rawValue)" }
    /// Networks kept at once, one per batch size. Video asks for many sizes (faces × crops per
    /// face, new faces' whole sets) and building one costs a frame's time, so keep plenty: they
    /// share the weights and the workspace, each holds little more than its primitives.
    public var cachedBatchSizes: Int {
        get { exclusive.withLock { _ in cacheLimit } }
        set { exclusive.withLock { _ in cacheLimit = newValue } }
    }
    private var cacheLimit = 16
    /// Held by every public entry point (see the type's comment).
    private let exclusive = Mutex(())

    /// int8: the largest output (after ReLU) of each convolution seen in calibration, in order.
    /// nil until `calibrate(with:count:)` or `setCalibration(_:)`; an int8 engine run before
    /// either calibrates on its first input.
    public var calibration: [Float]? { exclusive.withLock { _ in maxima } }
    private var maxima: [Float]?

    let cpu: DNNLCPUEngine
    let runStream: DNNLStream
    let denseSmallMaps: Bool
    private var networks: [Int: DNNLNetwork] = [:]
    /// Activation storage shared by the networks (they run one at a time).
    private let workspace = DNNLWorkspace()
    private var recentCounts: [Int] = []
    /// Reordered weights per layer key, one per layout asked for.
    private var reordered: [Int: [DNNLMemory]] = [:]
    private var steps: [Int: [Float]] = [:]

    public convenience init(weights: NetworkWeights, precision: Precision = .auto, threads: Int = 2) throws(RecognizerError) {
        try self.init(weights: weights, precision: precision, threads: threads, denseSmallMaps: true)
    }

    /// `denseSmallMaps`: run 3×3 convolutions on maps of side ≤ 2 as inner products (faster; off
    /// only to compare).
    init(weights: NetworkWeights, precision: Precision, threads: Int, denseSmallMaps: Bool) throws(RecognizerError) {
        self.weights = weights
        self.precision = Self.resolve(precision)
        self.threads = max(1, threads)
        self.denseSmallMaps = denseSmallMaps
        Self.useThreads(self.threads)
        cpu = try DNNLCPUEngine()
        runStream = try DNNLStream(engine: cpu)
    }

    // MARK: running

    public func logits(for input: [Float], count: Int) throws(RecognizerError) -> [Float] {
        try exclusive.withLock { _ throws(RecognizerError) in try logitsLocked(for: input, count: count) }
    }

    private func logitsLocked(for input: [Float], count: Int) throws(RecognizerError) -> [Float] {
        try validate(input, count: count)
        if precision == .int8 && maxima == nil {
            try calibrateLocked(with: input, count: count)
        }
        Self.useThreads(threads)
        let network = try network(for: count)
        var result = [Float](repeating: 0, count: count * weights.classes.count)
        try run(network, input: input, into: &result)
        return result
    }

    /// The implementation oneDNN picked for each step of the network for `count` crops, in order
    /// (e.g. "conv3 brgconv:avx512_core_vnni"), for logs and checks.
    public func implementations(forBatch count: Int) throws(RecognizerError) -> [String] {
        try exclusive.withLock { _ throws(RecognizerError) in
            guard count > 0 else { throw .badInput(reason: "batch size \(count)") }
            if precision == .int8 && maxima == nil { throw .backend(reason: "int8 engine is not calibrated yet") }
            Self.useThreads(threads)
            return try network(for: count).implementations
        }
    }

    private func validate(_ input: [Float], count: Int) throws(RecognizerError) {
        let s = weights.inputSize
        guard count > 0, input.count == count * s * s else {
            throw .badInput(reason: "expected \(count) crops of \(s)×\(s) (\(max(count, 0) * s * s) floats), got \(input.count)")
        }
    }

    private func run(_ network: DNNLNetwork, input: [Float], into result: inout [Float],
                     observe: ((Int, DNNLMemory) -> Void)? = nil) throws(RecognizerError) {
        var failure: RecognizerError?
        input.withUnsafeBufferPointer { source in
            result.withUnsafeMutableBufferPointer { destination in
                do throws(RecognizerError) { try network.run(input: source, output: destination, stream: runStream, observe: observe) } catch { failure = error }
            }
        }
        if let failure { throw failure }
    }

    private func network(for count: Int) throws(RecognizerError) -> DNNLNetwork {
        if let network = networks[count] {
            recentCounts.removeAll { $0 == count }
            recentCounts.append(count)
            return network
        }
        let network = try DNNLNetwork(weights: weights, count: count, runType: runType, maxima: maxima,
                                      denseSmallMaps: denseSmallMaps, source: self, workspace: workspace)
        networks[count] = network
        recentCounts.append(count)
        while recentCounts.count > max(1, cacheLimit) {
            networks[recentCounts.removeFirst()] = nil
        }
        return network
    }

    private var runType: RunType {
        switch precision {
        case .bf16: .bf16
        case .int8: .int8
        default: .f32
        }
    }

    // MARK: int8 calibration

    /// Runs `count` crops through the f32 network and records the largest output of each
    /// convolution; repeated calls widen the ranges (max over all calls). Cached int8 networks are
    /// rebuilt with the new scales at their next use. Works on an engine of any precision.
    public func calibrate(with input: [Float], count: Int) throws(RecognizerError) {
        try exclusive.withLock { _ throws(RecognizerError) in try calibrateLocked(with: input, count: count) }
    }

    private func calibrateLocked(with input: [Float], count: Int) throws(RecognizerError) {
        try validate(input, count: count)
        Self.useThreads(threads)
        let network = try DNNLNetwork(weights: weights, count: count, runType: .f32, maxima: nil,
                                      denseSmallMaps: denseSmallMaps, source: self, workspace: workspace)
        var seen = maxima ?? [Float](repeating: 0, count: weights.convs.count)
        var result = [Float](repeating: 0, count: count * weights.classes.count)
        try run(network, input: input, into: &result) { layer, memory in
            guard let data = memory.data else { return }
            let values = data.assumingMemoryBound(to: Float.self)
            var m = seen[layer]
            for k in 0..<(memory.byteCount / 4) { m = max(m, abs(values[k])) }  // signed where there is no ReLU
            seen[layer] = m
        }
        try setCalibrationLocked(seen)
    }

    /// Sets the per-convolution activation maxima (from an earlier `calibration`).
    public func setCalibration(_ maxima: [Float]) throws(RecognizerError) {
        try exclusive.withLock { _ throws(RecognizerError) in try setCalibrationLocked(maxima) }
    }

    private func setCalibrationLocked(_ given: [Float]) throws(RecognizerError) {
        guard given.count == weights.convs.count, given.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
            throw .badInput(reason: "calibration needs \(weights.convs.count) finite non-negative maxima, got \(given.count)")
        }
        maxima = given
        if precision == .int8 {
            networks = [:]
            recentCounts = []
        }
    }

    // MARK: CPU and OpenMP

    /// `.auto` → int8 from AVX2 up, else f32; other precisions unchanged. With 8-bit dot products
    /// (AVX512-VNNI, AVX-VNNI, AMX) int8 is the obvious choice; on plain AVX2 oneDNN multiplies
    /// u8×s8 pairs into int16 (`vpmaddubsw`), which can saturate, so it halves the weights' scale
    /// to stay clear of it. Measured on an AVX2-only Zen 3 (docs/performance.md, "Real time"): int8 runs
    /// about 2.4× f32 and scores the same on FER2013 PrivateTest. Below AVX2 (pre-2013 CPUs) int8's
    /// accuracy was not checked, so f32 stays the choice there. bf16 is never chosen: without AMX it measured
    /// slower than f32 here (about 0.6–0.8×), and with AMX, int8 is about twice bf16.
    public static func resolve(_ precision: Precision) -> Precision {
        guard precision == .auto else { return precision }
        let isa = dnnl_get_effective_cpu_isa()
        return isa.rawValue & dnnl_cpu_isa_avx2.rawValue == dnnl_cpu_isa_avx2.rawValue ? .int8 : .f32
    }

    /// The instruction set oneDNN dispatches to here, e.g. "avx512_core_bf16" or "avx512_core_amx".
    public static var cpuISA: String {
        let isa = dnnl_get_effective_cpu_isa()
        let names: [(dnnl_cpu_isa_t, String)] = [
            (dnnl_cpu_isa_avx512_core_amx, "avx512_core_amx"), (dnnl_cpu_isa_avx512_core_bf16, "avx512_core_bf16"),
            (dnnl_cpu_isa_avx512_core_vnni, "avx512_core_vnni"), (dnnl_cpu_isa_avx512_core, "avx512_core"),
            (dnnl_cpu_isa_avx2_vnni, "avx2_vnni"), (dnnl_cpu_isa_avx2, "avx2"), (dnnl_cpu_isa_avx, "avx"),
            (dnnl_cpu_isa_sse41, "sse41"),
        ]
        return names.first { $0.0 == isa }?.1 ?? "isa 0x\(String(isa.rawValue, radix: 16))"
    }

    /// OpenMP threads of the calling thread (an OpenMP setting is per calling thread).
    static func useThreads(_ threads: Int) {
        // Clamped: a library caller may pass any Int, and Int32(_:) would trap past its range.
        if fer_omp_get_max_threads() != threads { _ = fer_omp_set_num_threads(Int32(clamping: threads)) }
    }
}

// MARK: weights

extension DNNLEngine: DNNLWeightSource {
    var engine: DNNLCPUEngine { cpu }

    private func key(layer: Int, dense: Bool, side: Int) -> Int {
        layer * 16 + (dense ? 1 + side : 0)
    }

    func weights(layer: Int, dense: Bool, side: Int, desc: dnnl_memory_desc_t) throws(RecognizerError) -> DNNLMemory {
        let k = key(layer: layer, dense: dense, side: side)
        if let ready = reordered[k]?.first(where: { $0.desc.isEqual(to: desc) }) { return ready }
        let values = plainWeights(layer: layer, dense: dense, side: side)
        let memory = try DNNLMemory(owning: desc, engine: cpu)
        // int8: oneDNN's reorder quantises, row by row (w ≈ step·q, q = round(w / step)).
        let scales = desc.data_type == dnnl_s8 ? weightSteps(layer: layer, dense: dense, side: side).map { 1 / $0 } : []
        try reorder(values, scales: scales, into: memory)
        reordered[k, default: []].append(memory)
        return memory
    }

    func weightSteps(layer: Int, dense: Bool, side: Int) -> [Float] {
        let k = key(layer: layer, dense: dense, side: side)
        if let known = steps[k] { return known }
        let values = plainWeights(layer: layer, dense: dense, side: side)
        let rows = layer == weights.convs.count ? weights.classes.count
            : weights.convs[layer].outChannels * (dense ? side * side : 1)
        let perRow = values.count / rows
        let result = values.withUnsafeBufferPointer { w in
            (0..<rows).map { r in
                var m: Float = 0
                for j in (r * perRow)..<((r + 1) * perRow) { m = max(m, abs(w[j])) }
                return m > 0 ? m / 127 : 1
            }
        }
        steps[k] = result
        return result
    }

    /// Layer `layer`'s weights, plain row-major: a convolution as [out][in][3][3]; its dense form
    /// on a side-`side` map as rows (oy, ox, out) by columns (iy, ix, in); the classifier as
    /// [classes][features] with features in (c, y, x) order, or (y, x, c) when `dense`.
    private func plainWeights(layer: Int, dense: Bool, side s: Int) -> [Float] {
        let plane = s * s
        if layer == weights.convs.count {
            guard dense, plane > 1 else { return weights.classifierWeight }
            let classes = weights.classes.count, features = weights.features, channels = features / plane
            var matrix = [Float](repeating: 0, count: classes * features)
            weights.classifierWeight.withUnsafeBufferPointer { w in
                matrix.withUnsafeMutableBufferPointer { m in
                    for k in 0..<classes { for c in 0..<channels { for p in 0..<plane {
                        m[k * features + p * channels + c] = w[k * features + c * plane + p]
                    } } }
                }
            }
            return matrix
        }
        let conv = weights.convs[layer]
        guard dense else { return conv.weight }
        let inC = conv.inChannels, outC = conv.outChannels
        let columns = inC * plane
        var matrix = [Float](repeating: 0, count: outC * plane * columns)
        conv.weight.withUnsafeBufferPointer { w in
            matrix.withUnsafeMutableBufferPointer { m in
                for oy in 0..<s { for ox in 0..<s { for o in 0..<outC {
                    let row = ((oy * s + ox) * outC + o) * columns
                    for iy in 0..<s { for ix in 0..<s {
                        // Input (iy, ix) is under tap (iy − oy + 1, ix − ox + 1) of output (oy, ox).
                        let tap = (iy - oy + 1) * 3 + (ix - ox + 1)
                        let column = row + (iy * s + ix) * inC
                        for c in 0..<inC { m[column + c] = w[(o * inC + c) * 9 + tap] }
                    } }
                } } }
            }
        }
        return matrix
    }

    /// Copies f32 `values`, plain row-major in the logical order of `destination`'s dims, into
    /// `destination` through a oneDNN reorder (layout and type change), multiplying row r by
    /// `scales[r]` when scales are given.
    private func reorder(_ values: [Float], scales: [Float], into destination: DNNLMemory) throws(RecognizerError) {
        let dims = destination.desc.dimensions
        guard dims.reduce(1, *) == values.count else {
            throw .backend(reason: "internal: \(values.count) weights for a \(dims) tensor")
        }
        let desc = try dnnl_memory_desc_t.make(dims, dnnl_f32, dims.count == 4 ? dnnl_abcd : dnnl_ab)
        let source = try DNNLMemory(borrowing: desc, engine: cpu)
        let attributes = try DNNLAttributes()
        if !scales.isEmpty { try attributes.setOutputScales(scales, mask: 1 << 0) }
        let descriptor = try DNNLPrimitiveDesc(reorderFrom: desc, to: destination.desc, attributes: attributes, engine: cpu, what: "weight reorder")
        let primitive = try DNNLPrimitive(descriptor, what: "weight reorder")
        var scratch: DNNLMemory?
        var scratchDesc = try descriptor.memoryDesc(dnnl_query_scratchpad_md)
        var buffer: DNNLBuffer?
        if dnnl_memory_desc_get_size(&scratchDesc) > 0 {
            buffer = DNNLBuffer(byteCount: dnnl_memory_desc_get_size(&scratchDesc))
            scratch = try DNNLMemory(borrowing: scratchDesc, engine: cpu)
            try scratch?.setData(buffer?.pointer)
        }
        var failure: RecognizerError?
        values.withUnsafeBytes { raw in
            do throws(RecognizerError) {
                try source.setData(UnsafeMutableRawPointer(mutating: raw.baseAddress))
                var args = [dnnl_exec_arg_t(arg: DNNL_ARG_FROM, memory: source.raw), dnnl_exec_arg_t(arg: DNNL_ARG_TO, memory: destination.raw)]
                if let scratch { args.append(dnnl_exec_arg_t(arg: DNNL_ARG_SCRATCHPAD, memory: scratch.raw)) }
                try check(dnnl_primitive_execute(primitive.raw, runStream.raw, Int32(args.count), args), "weight reorder")
                try runStream.wait()
                try source.setData(nil)
            } catch {
                failure = error
            }
        }
        withExtendedLifetime(buffer) {}
        if let failure { throw failure }
    }
}
