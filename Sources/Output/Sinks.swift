import FERCore
import FaceCrop
import FaceDetection
import Pipeline
import Recognizer

// How the writers plug into a pipeline, and the text and JSON of what a run reports.

/// A `ResultWriter` (NDJSON, CSV, the library's result channel) as a lossless sink of analysed frames.
public final class WriterSink: FrameSink {
    public let writer: any ResultWriter
    public let name: String
    public var delivery: SinkDelivery { .lossless }

    public init(_ writer: any ResultWriter, name: String = "output") {
        self.writer = writer
        self.name = name
    }

    public func consume(_ frame: SinkFrame) throws(PipelineError) {
        try writer.write(frame.result)
    }

    public func finish() throws(PipelineError) {}
}

extension Pipeline {
    /// One writer and, optionally, an annotated video.
    public convenience init(source: FrameProducer, detector: Detector, cropper: FaceCropper, recognizer: any FaceClassifier,
                            writer: ResultWriter, annotator: FrameAnnotator? = nil, options: PipelineOptions = .init()) {
        self.init(source: source, detector: detector, cropper: cropper, classifier: recognizer,
                  sinks: [WriterSink(writer)] + (annotator.map { [AnnotatorSink($0)] } ?? []), options: options)
    }
}

extension PipelineStats {
    /// One JSON object, for `--stats` and the benchmarks.
    public var json: String {
        StatsRecord(self).json
    }
}

extension TrackSummary {
    public var text: String {
        guard !all.isEmpty else { return "summary: no faces\n" }
        var s = "summary: track, seconds on screen (first–last), then the share of time in each emotion\n"
        for t in all {
            let shares = t.labelFrames.indices.filter { t.labelFrames[$0] > 0 }
                .sorted { t.labelFrames[$0] > t.labelFrames[$1] }
                .map { "\(labels.name(at: $0)) \(decimal(t.shares[$0] * 100, digits: 1))%" }
            s += "  #\(t.track)  \(decimal(seconds(t), digits: 2)) s (\(decimal(t.firstSeen, digits: 2))–\(decimal(t.lastSeen, digits: 2)))  "
                + shares.joined(separator: ", ") + "\n"
        }
        return s
    }

    /// `{"tracks":[{"dominant":"happy","first":…,"frames":…,"last":…,"seconds":…,"shares":{…},"track":1}]}`: `SummaryRecord`.
    public var json: String { SummaryRecord(self).json }
}
