import CDNNL
import Recognizer
import SafeTensors

// Each oneDNN C handle used by the engine is owned by exactly one of the classes below, which
// destroys it in `deinit`. Nothing else calls a `dnnl_*_destroy` function. Everything made on a
// oneDNN engine keeps its `DNNLCPUEngine` alive, so the engine is destroyed last.

/// Throws `RecognizerError.backend` naming oneDNN's status when `status` is not success.
@inline(__always)
package func check(_ status: dnnl_status_t, _ what: @autoclosure () -> String) throws(RecognizerError) {
    guard status != dnnl_success else { return }
    throw .backend(reason: "oneDNN \(what()) failed: \(statusName(status))")
}

/// oneDNN's own name for a status ("invalid_arguments", "unimplemented", ...).
package func statusName(_ status: dnnl_status_t) -> String {
    if let name = dnnl_status2str(status) { return String(cString: name) }
    return "status \(status.rawValue)"
}

/// A CPU engine (`dnnl_engine_t`).
package final class DNNLCPUEngine {
    package let raw: OpaquePointer

    package init() throws(RecognizerError) {
        var handle: OpaquePointer?
        try check(dnnl_engine_create(&handle, dnnl_cpu, 0), "engine creation")
        guard let handle else { throw .backend(reason: "oneDNN engine creation returned no engine") }
        raw = handle
    }

    deinit { dnnl_engine_destroy(raw) }
}

/// An in-order execution stream (`dnnl_stream_t`) on a CPU engine.
package final class DNNLStream {
    package let raw: OpaquePointer
    /// The engine outlives the stream.
    package let engine: DNNLCPUEngine

    package init(engine: DNNLCPUEngine) throws(RecognizerError) {
        var handle: OpaquePointer?
        try check(dnnl_stream_create(&handle, engine.raw, dnnl_stream_default_flags.rawValue), "stream creation")
        guard let handle else { throw .backend(reason: "oneDNN stream creation returned no stream") }
        raw = handle
        self.engine = engine
    }

    package func wait() throws(RecognizerError) {
        try check(dnnl_stream_wait(raw), "stream wait")
    }

    deinit { dnnl_stream_destroy(raw) }
}

/// A post-op chain (`dnnl_post_ops_t`).
package final class DNNLPostOps {
    package let raw: OpaquePointer

    package init() throws(RecognizerError) {
        var handle: OpaquePointer?
        try check(dnnl_post_ops_create(&handle), "post-op creation")
        guard let handle else { throw .backend(reason: "oneDNN post-op creation returned nothing") }
        raw = handle
    }

    package func appendReLU() throws(RecognizerError) {
        try check(dnnl_post_ops_append_eltwise(raw, 1, dnnl_eltwise_relu, 0, 0), "ReLU post-op")
    }

    /// dst ← op(…) + scale · dst: what the destination held before is added (a residual
    /// connection), read as `type` (which may differ from the destination's, same size).
    package func appendSum(scale: Float, type: dnnl_data_type_t) throws(RecognizerError) {
        try check(dnnl_post_ops_append_sum_v2(raw, scale, type), "sum post-op")
    }

    deinit { dnnl_post_ops_destroy(raw) }
}

/// Primitive attributes (`dnnl_primitive_attr_t`). oneDNN copies what is set into it.
package final class DNNLAttributes {
    package let raw: OpaquePointer

    /// Attributes with a user-managed scratchpad (the network hands each primitive one shared buffer).
    package init() throws(RecognizerError) {
        var handle: OpaquePointer?
        try check(dnnl_primitive_attr_create(&handle), "attribute creation")
        guard let handle else { throw .backend(reason: "oneDNN attribute creation returned nothing") }
        raw = handle
        try check(dnnl_primitive_attr_set_scratchpad_mode(raw, dnnl_scratchpad_mode_user), "scratchpad mode")
    }

    package func setPostOps(_ postOps: DNNLPostOps) throws(RecognizerError) {
        try check(dnnl_primitive_attr_set_post_ops(raw, postOps.raw), "post-op attribute")
    }

    /// Output scales: one for the whole output (`mask` 0, one scale) or one per index of the
    /// dimensions set in `mask` (1 << 1: output channels of an activation; 1 << 0: rows of weights).
    package func setOutputScales(_ scales: [Float], mask: Int32) throws(RecognizerError) {
        try check(dnnl_primitive_attr_set_output_scales(raw, Int64(scales.count), mask, scales), "output scales")
    }

    deinit { dnnl_primitive_attr_destroy(raw) }
}

/// A primitive descriptor (`dnnl_primitive_desc_t`): the chosen implementation and its memory formats.
package final class DNNLPrimitiveDesc {
    package let raw: OpaquePointer
    package let engine: DNNLCPUEngine

    /// Creates the descriptor of an operation from its (C struct) operation descriptor.
    package init(operation: UnsafeRawPointer, attributes: DNNLAttributes, engine: DNNLCPUEngine, what: String) throws(RecognizerError) {
        var handle: OpaquePointer?
        try check(dnnl_primitive_desc_create(&handle, operation, attributes.raw, engine.raw, nil), what)
        guard let handle else { throw .backend(reason: "oneDNN \(what) returned no primitive descriptor") }
        raw = handle
        self.engine = engine
    }

    /// A reorder from `source` to `destination` layout/type.
    package init(reorderFrom source: dnnl_memory_desc_t, to destination: dnnl_memory_desc_t, attributes: DNNLAttributes,
         engine: DNNLCPUEngine, what: String) throws(RecognizerError) {
        var handle: OpaquePointer?
        var src = source, dst = destination
        try check(dnnl_reorder_primitive_desc_create(&handle, &src, engine.raw, &dst, engine.raw, attributes.raw), what)
        guard let handle else { throw .backend(reason: "oneDNN \(what) returned no primitive descriptor") }
        raw = handle
        self.engine = engine
    }

    package func memoryDesc(_ query: dnnl_query_t) throws(RecognizerError) -> dnnl_memory_desc_t {
        guard let md = dnnl_primitive_desc_query_md(raw, query, 0) else {
            throw .backend(reason: "oneDNN primitive descriptor has no memory descriptor for query \(query.rawValue)")
        }
        return md.pointee
    }

    /// The implementation oneDNN picked, e.g. "jit:avx512_core_bf16" or "brgconv:avx512_core_vnni".
    package var implementation: String {
        var name: UnsafePointer<CChar>?
        guard dnnl_primitive_desc_query(raw, dnnl_query_impl_info_str, 0, &name) == dnnl_success, let name else { return "?" }
        return String(cString: name)
    }

    deinit { dnnl_primitive_desc_destroy(raw) }
}

/// A primitive (`dnnl_primitive_t`), ready to execute.
package final class DNNLPrimitive {
    package let raw: OpaquePointer
    package let engine: DNNLCPUEngine

    package init(_ descriptor: DNNLPrimitiveDesc, what: String) throws(RecognizerError) {
        var handle: OpaquePointer?
        try check(dnnl_primitive_create(&handle, descriptor.raw), what)
        guard let handle else { throw .backend(reason: "oneDNN \(what) returned no primitive") }
        raw = handle
        engine = descriptor.engine
    }

    deinit { dnnl_primitive_destroy(raw) }
}

/// A memory object (`dnnl_memory_t`). Its data is either allocated and freed by oneDNN
/// (`owning`), or borrowed: a `DNNLBuffer` that the owner of this memory also keeps, or a caller's
/// array for the duration of one call.
package final class DNNLMemory {
    package let raw: OpaquePointer
    package let desc: dnnl_memory_desc_t
    package let engine: DNNLCPUEngine

    /// Memory whose storage oneDNN allocates (and frees on destruction).
    package init(owning desc: dnnl_memory_desc_t, engine: DNNLCPUEngine) throws(RecognizerError) {
        var handle: OpaquePointer?
        var md = desc
        try check(dnnl_memory_create(&handle, &md, engine.raw, fer_dnnl_memory_allocate()), "memory allocation")
        guard let handle else { throw .backend(reason: "oneDNN memory allocation returned nothing") }
        raw = handle
        self.desc = desc
        self.engine = engine
    }

    /// Memory without data yet: `setData` points it at borrowed storage before use.
    package init(borrowing desc: dnnl_memory_desc_t, engine: DNNLCPUEngine) throws(RecognizerError) {
        var handle: OpaquePointer?
        var md = desc
        try check(dnnl_memory_create(&handle, &md, engine.raw, nil), "memory creation")
        guard let handle else { throw .backend(reason: "oneDNN memory creation returned nothing") }
        raw = handle
        self.desc = desc
        self.engine = engine
    }

    package var byteCount: Int {
        var md = desc
        return dnnl_memory_desc_get_size(&md)
    }

    package var data: UnsafeMutableRawPointer? {
        var pointer: UnsafeMutableRawPointer?
        guard dnnl_memory_get_data_handle(raw, &pointer) == dnnl_success else { return nil }
        return pointer
    }

    package func setData(_ pointer: UnsafeMutableRawPointer?) throws(RecognizerError) {
        try check(dnnl_memory_set_data_handle(raw, pointer), "setting a memory's data")
    }

    deinit { dnnl_memory_destroy(raw) }
}

/// The activation and scratch storage that all networks of one engine run in: networks run one
/// at a time, so they share it, and it grows to the largest one's needs (rather than every batch
/// size keeping its own tens of megabytes).
package final class DNNLWorkspace {
    private var buffers: [DNNLBuffer] = []
    /// Bumped whenever a buffer is replaced: memories bound to the old ones must be bound again.
    private(set) var generation = 0

    /// Storage for `sizes` bytes per slot, growing any slot that is too small.
    package func pointers(for sizes: [Int]) -> [UnsafeMutableRawPointer] {
        while buffers.count < sizes.count { buffers.append(DNNLBuffer(byteCount: 0)); generation += 1 }
        for (i, size) in sizes.enumerated() where buffers[i].byteCount < size {
            buffers[i] = DNNLBuffer(byteCount: size)
            generation += 1
        }
        return sizes.indices.map { buffers[$0].pointer }
    }

    package var byteCount: Int { buffers.reduce(0) { $0 + $1.byteCount } }
}

/// A 64-byte aligned block of bytes that activations of a network live in.
package final class DNNLBuffer {
    package let pointer: UnsafeMutableRawPointer
    package let byteCount: Int

    package init(byteCount: Int) {
        self.byteCount = max(byteCount, 64)
        pointer = UnsafeMutableRawPointer.allocate(byteCount: self.byteCount, alignment: 64)
        pointer.initializeMemory(as: UInt8.self, repeating: 0, count: self.byteCount)
    }

    deinit { pointer.deallocate() }
}

extension dnnl_memory_desc_t {
    /// A descriptor of `dims` in `type`, laid out as `tag` (`dnnl_format_tag_any` lets the primitive choose).
    package static func make(_ dims: [Int], _ type: dnnl_data_type_t, _ tag: dnnl_format_tag_t) throws(RecognizerError) -> dnnl_memory_desc_t {
        var md = dnnl_memory_desc_t()
        try check(dnnl_memory_desc_init_by_tag(&md, Int32(dims.count), dims.map(Int64.init), type, tag),
                  "memory descriptor \(dims) \(String(cString: dnnl_dt2str(type)))")
        return md
    }

    /// The logical dims, outermost first.
    package var dimensions: [Int] {
        withUnsafeBytes(of: dims) { raw in (0..<Int(ndims)).map { Int(raw.load(fromByteOffset: 8 * $0, as: Int64.self)) } }
    }

    package func isEqual(to other: dnnl_memory_desc_t) -> Bool {
        var a = self, b = other
        return dnnl_memory_desc_equal(&a, &b) != 0
    }
}
