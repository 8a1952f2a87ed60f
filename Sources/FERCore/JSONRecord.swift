#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A record fer-stream writes as one line of JSON (`--stats`, `--summary-json`, `eval`,
/// `bench`): the Codable type is the schema, and `json` is the only way it is written.
/// (The per-frame NDJSON/CSV writers stay hand-written: see `NDJSONWriter`.)
public protocol JSONRecord: Encodable {}

extension JSONRecord {
    /// One line, no trailing newline. Keys are sorted: JSONEncoder keeps no declaration order
    /// (on Linux an object's keys come out in hash order, which changes from run to run), so
    /// sorting is the only stable order it offers. Numbers are as short as they print (`12`, not
    /// `12.0`); records hold non-finite numbers as nil (null). An infinity set by hand becomes a
    /// string rather than throwing: writing a record never fails.
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do {
            return String(decoding: try encoder.encode(self), as: UTF8.self)
        } catch {
            // Only a failing `encode(to:)` gets here; the records' hold strings, integers and
            // numbers that are finite or nil.
            preconditionFailure("\(Self.self) cannot be encoded: \(error)")
        }
    }
}

/// `x` in units of 10^-digits, rounded to a whole number (half away from zero), and 10^digits:
/// the one rounding that the records (`roundedOrNil`) and the NDJSON and CSV writers' text
/// (`decimal`) share, so that a record equals its decoded line.
@inline(__always)
public func decimalUnits(_ x: Double, _ digits: Int) -> (units: Double, scale: Double) {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    return ((x * scale).rounded(), scale)
}

/// `x` rounded to `digits` decimals, as the records hold numbers (and the NDJSON writer prints
/// them, so a record equals its decoded line); nil (null) where `x` is not finite. Never -0.
@inline(__always)
public func roundedOrNil(_ x: Double, _ digits: Int) -> Double? {
    guard x.isFinite else { return nil }
    let (units, scale) = decimalUnits(x, digits)
    let r = units / scale
    // Past ~1e304 the scaling overflows; such a number has no decimals to round.
    return r.isFinite ? r + 0 : x
}

/// An optional value a record writes as `null` when nil. Synthesized Codable leaves a nil
/// Optional out of the line; a record keeps every key on every line, so a reader's columns never
/// come and go. Reads as a plain Optional: null or a missing key is nil.
@propertyWrapper
public struct Nullable<Value: Codable & Sendable & Equatable>: Codable, Sendable, Equatable {
    public var wrappedValue: Value?

    public init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        wrappedValue = c.decodeNil() ? nil : try c.decode(Value.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        if let wrappedValue { try c.encode(wrappedValue) } else { try c.encodeNil() }
    }
}

extension KeyedDecodingContainer {
    /// A missing key reads as nil, as it does for a plain Optional.
    public func decode<V>(_ type: Nullable<V>.Type, forKey key: Key) throws -> Nullable<V> {
        try decodeIfPresent(type, forKey: key) ?? Nullable(wrappedValue: nil)
    }
}
