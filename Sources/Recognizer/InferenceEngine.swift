import SafeTensors

/// A way to run the network: the reference engine here, faster backends beside it.
/// Engines are built once and run many times; one engine is used by one thread at a time.
public protocol InferenceEngine: AnyObject, Sendable {
    /// A short name for logs and benchmarks, e.g. "reference" or "onednn-bf16".
    var name: String { get }
    /// `input` holds `count` crops of `inputSize`×`inputSize` already normalised floats, row-major,
    /// one after another. Returns `count` × classes logits.
    func logits(for input: [Float], count: Int) throws(RecognizerError) -> [Float]
}
