import FERCore

/// `fer-stream bench`: the recognizer's speed on this machine, one JSON object (`json`).
public struct BenchRecord: JSONRecord, Codable, Sendable, Equatable {
    /// "vgg19", "resnet18" or "vgg" (a VGG of another layout: the student).
    public var network: String
    /// E.g. "onednn-int8", "reference".
    public var engine: String
    public var batch: Int
    public var threads: Int
    public var calls: Int
    /// The rates and times, rounded (1, 2, 3, 1, 2 decimals); nil (null) where not a number.
    @Nullable public var crops_per_s: Double?
    @Nullable public var ms_per_call_median: Double?
    @Nullable public var gflop_per_crop: Double?
    @Nullable public var gflop_per_s: Double?
    @Nullable public var seconds: Double?
    /// The first call's time: it builds the network for this batch size (oneDNN: primitives and
    /// weight reorders), what a stream pays once per new batch size unless warmed up.
    @Nullable public var first_call_ms: Double?

    /// From the calls' times: the median call sets the rates.
    public init(network: String, engine: String, batch: Int, threads: Int, callSeconds: [Double], gflopPerCrop: Double, seconds: Double,
                firstCallSeconds: Double? = nil) {
        let sorted = callSeconds.sorted()
        let median = sorted.isEmpty ? 0 : sorted[sorted.count / 2]
        let rate = median > 0 ? Double(batch) / median : 0
        self.network = network; self.engine = engine; self.batch = batch; self.threads = threads
        calls = callSeconds.count
        crops_per_s = roundedOrNil(rate, 1)
        ms_per_call_median = roundedOrNil(median * 1000, 2)
        gflop_per_crop = roundedOrNil(gflopPerCrop, 3)
        gflop_per_s = roundedOrNil(gflopPerCrop * rate, 1)
        self.seconds = roundedOrNil(seconds, 2)
        first_call_ms = firstCallSeconds.flatMap { roundedOrNil($0 * 1000, 1) }
    }
}
