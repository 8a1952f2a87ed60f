import Foundation

/// `fer-stream bench`: the recognizer's speed on this machine, one JSON object, and as Codable.
public struct BenchRecord: Codable, Sendable, Equatable {
    /// "vgg19" or "resnet18".
    public var network: String
    /// E.g. "onednn-int8", "reference".
    public var engine: String
    public var batch: Int
    public var threads: Int
    public var calls: Int
    public var crops_per_s: Double
    public var ms_per_call_median: Double
    public var gflop_per_crop: Double
    public var gflop_per_s: Double
    public var seconds: Double

    /// From the calls' times: the median call sets the rates.
    public init(network: String, engine: String, batch: Int, threads: Int, callSeconds: [Double], gflopPerCrop: Double, seconds: Double) {
        let sorted = callSeconds.sorted()
        let median = sorted.isEmpty ? 0 : sorted[sorted.count / 2]
        let rate = median > 0 ? Double(batch) / median : 0
        func r(_ x: Double, _ d: Double) -> Double { (x * d).rounded() / d }
        self.network = network; self.engine = engine; self.batch = batch; self.threads = threads
        calls = callSeconds.count
        crops_per_s = r(rate, 10)
        ms_per_call_median = r(median * 1000, 100)
        gflop_per_crop = r(gflopPerCrop, 1000)
        gflop_per_s = r(gflopPerCrop * rate, 10)
        self.seconds = r(seconds, 100)
    }

    /// One line, in the order the fields are declared.
    public var json: String {
        String(format: #"{"network":"%@","engine":"%@","batch":%d,"threads":%d,"calls":%d,"crops_per_s":%.1f,"ms_per_call_median":%.2f,"gflop_per_crop":%.3f,"gflop_per_s":%.1f,"seconds":%.2f}"#,
               network, engine, batch, threads, calls, crops_per_s, ms_per_call_median, gflop_per_crop, gflop_per_s, seconds)
    }
}
