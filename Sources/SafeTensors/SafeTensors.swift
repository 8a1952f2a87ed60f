import Foundation

/// A tensor read from a safetensors file, widened to f32.
public struct Tensor: Sendable, Equatable {
    public let shape: [Int]
    public let values: [Float]

    public init(shape: [Int], values: [Float]) {
        precondition(shape.reduce(1, *) == values.count, "tensor shape \(shape) vs \(values.count) values")
        self.shape = shape
        self.values = values
    }
}

/// Reader for the safetensors format: an 8-byte little-endian header length, a JSON header
/// (`{"name": {"dtype", "shape", "data_offsets"}, "__metadata__": {...}}`), then raw little-endian data.
public struct SafeTensorsFile: Sendable {
    public let metadata: [String: String]
    public var tensors: [String: Tensor]

    public init(path: String) throws(RecognizerError) {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
        } catch {
            let reason = FileManager.default.fileExists(atPath: path)
                ? "\((error as NSError).localizedDescription)" : "No such file or directory"
            throw .cannotRead(path: path, reason: reason)
        }
        try self.init(data: data, path: path)
    }

    public init(data: Data, path: String = "<memory>") throws(RecognizerError) {
        guard data.count >= 8 else { throw .malformed(path: path, reason: "file is \(data.count) bytes, shorter than the 8-byte header length") }
        let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength > 1, headerLength <= UInt64(data.count - 8), headerLength < 100_000_000 else {
            throw .malformed(path: path, reason: "header length \(headerLength) does not fit a \(data.count)-byte file")
        }
        let headerEnd = 8 + Int(headerLength)
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<headerEnd))
        } catch {
            throw .malformed(path: path, reason: "header is not JSON")
        }
        guard let header = json as? [String: Any] else { throw .malformed(path: path, reason: "header is not a JSON object") }
        let payload = headerEnd
        var tensors: [String: Tensor] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                for (k, v) in (value as? [String: Any]) ?? [:] { metadata[k] = "\(v)" }
                continue
            }
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                  let rawShape = entry["shape"] as? [Any], let rawOffsets = entry["data_offsets"] as? [Any] else {
                throw .malformed(path: path, reason: "entry '\(name)' lacks dtype, shape or data_offsets")
            }
            // Sizes and offsets are whole numbers no larger than the file: anything else (negative,
            // fractional, 1e300, a product past Int.max) would trap or index outside the data.
            let shape = rawShape.compactMap { Self.size($0, limit: data.count) }
            let offsets = rawOffsets.compactMap { Self.size($0, limit: data.count) }
            guard shape.count == rawShape.count, offsets.count == 2 else {
                throw .malformed(path: path, reason: "tensor '\(name)' has a shape or data_offsets that is not a list of sizes within the file")
            }
            var count = 1
            for d in shape {
                let (product, overflow) = count.multipliedReportingOverflow(by: d)
                guard !overflow, product <= data.count else {
                    throw .malformed(path: path, reason: "tensor '\(name)' has shape \(shape), larger than the file")
                }
                count = product
            }
            let width: Int
            switch dtype {
            case "F32": width = 4
            case "F16", "BF16": width = 2
            default: throw .unsupportedDType(path: path, name: name, dtype: dtype)
            }
            let start = payload + offsets[0], end = payload + offsets[1]
            guard offsets[0] >= 0, end >= start, end <= data.count, end - start == count * width else {
                throw .malformed(path: path, reason: "tensor '\(name)' data [\(offsets[0]), \(offsets[1])) does not match its shape \(shape) or the file size (truncated file?)")
            }
            var values = [Float](repeating: 0, count: count)
            data.withUnsafeBytes { raw in
                let base = raw.baseAddress!.advanced(by: start)
                switch dtype {
                case "F32":
                    for i in 0..<count { values[i] = Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
                case "F16":
                    for i in 0..<count { values[i] = floatFromHalf(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
                default: // BF16: the top half of an f32
                    for i in 0..<count { values[i] = Float(bitPattern: UInt32(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16) }
                }
            }
            tensors[name] = Tensor(shape: shape, values: values)
        }
        self.metadata = metadata
        self.tensors = tensors
    }

    /// A JSON number that is a whole size from 0 to `limit`.
    private static func size(_ value: Any, limit: Int) -> Int? {
        guard let n = value as? NSNumber else { return nil }
        let d = n.doubleValue
        guard d >= 0, d <= Double(limit), d == d.rounded() else { return nil }
        return Int(d)
    }
}

/// IEEE 754 binary16 → binary32, exact (subnormals, infinities and NaN included).
@inlinable func floatFromHalf(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exponent = Int((h >> 10) & 0x1F)
    let mantissa = UInt32(h & 0x3FF)
    if exponent == 0 {
        // Zero or subnormal: mantissa × 2^-24.
        let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
        return sign != 0 ? -magnitude : magnitude
    }
    if exponent == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
    return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
}

extension SafeTensorsFile {
    /// Encodes f32 tensors (sorted by name) and string metadata as a safetensors file.
    public static func encode(_ tensors: [String: Tensor], metadata: [String: String] = [:]) -> Data {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var payload = Data()
        for name in tensors.keys.sorted() {
            let t = tensors[name]!
            let start = payload.count
            for v in t.values { withUnsafeBytes(of: v.bitPattern.littleEndian) { payload.append(contentsOf: $0) } }
            header[name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [start, payload.count]]
        }
        var json = (try? JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])) ?? Data("{}".utf8)
        while json.count % 8 != 0 { json.append(0x20) }  // pad the header with spaces, as the format allows
        var out = Data()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        out.append(payload)
        return out
    }
}
