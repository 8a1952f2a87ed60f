import Dispatch
import FERCore
import Foundation
import NIOCore
import Output
import Pipeline
import Synchronization

/// One input of the live view: what the page, the MJPEG stream, the snapshot, `/api/sources` and
/// `/metrics` show of it. Filled by its `LiveSink` (on that sink's thread), read by the server.
final class LiveSource: Sendable {
    let id: Int
    /// Unique among the view's inputs, safe in a URL path: `/sources/<name>/mjpeg`.
    let name: String
    let input: String
    /// Viewers (pages and MJPEG clients) watching it now: frames are encoded only while > 0.
    let watchers = Atomic<Int>(0)

    /// Upper bounds (seconds) of the latency histogram in `/metrics`.
    static let latencyBuckets: [Double] = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]

    struct State {
        var attached = false
        var ended = false
        /// Why it ended, when it failed; whether it was skipped without running.
        var failure: String?
        var wasSkipped = false
        var analysed = 0, faces = 0, skipped = 0, decoded = 0, encoded = 0, droppedBefore = 0
        var labels: [String: Int] = [:]
        var latencyCounts = [Int](repeating: 0, count: LiveSource.latencyBuckets.count + 1)
        var latencySum = 0.0
        var latencyCount = 0
        /// The last frame's picture, for a snapshot when nothing is being encoded.
        var picture: ColourPicture?
        var frame = -1
        /// The last JPEG encoded (and for which frame).
        var jpeg: [UInt8]?
        var jpegFrame = -1
        var lastEncode: UInt64 = 0
        /// The pipeline's own stats while it runs (its crops, skips, latencies, sinks); the last of them once it ended.
        var provider: (@Sendable () -> PipelineStats?)?
        var final: PipelineStats?
    }
    let state = Mutex(State())

    init(id: Int, name: String, input: String) {
        self.id = id
        self.name = name
        self.input = input
    }

    /// The pipeline's stats so far, or what the sink counted itself when the stream gives none.
    func pipelineStats() -> PipelineStats {
        let (provider, final, own) = state.withLock { s in (s.provider, s.final, s) }
        if let s = final ?? provider?() { return s }
        var s = PipelineStats.total([], wallSeconds: 0)  // (its memberwise init is internal)
        s.sourceCount = nil
        s.framesDecoded = own.decoded
        s.framesAnalysed = own.analysed
        s.faces = own.faces
        s.framesSkipped = own.skipped
        s.source = input
        return s
    }

    /// One object of `/api/sources` (and of the page's stats message): the input, whether it
    /// ended, its viewers, and its `--stats` record (the same JSON as `--stats` prints).
    func json() -> String {
        let s = pipelineStats()
        let (attached, ended, encoded, frame, failure, skipped) = state.withLock { ($0.attached, $0.ended, $0.encoded, $0.frame, $0.failure, $0.wasSkipped) }
        return "{\"id\":\(id),\"name\":\(jsonString(name)),\"input\":\(jsonString(input)),\"started\":\(attached),\"ended\":\(ended)"
            + (failure.map { ",\"error\":\(jsonString($0))" } ?? "") + (skipped ? ",\"skipped\":true" : "")
            + ",\"frame\":\(frame),\"viewers\":\(watchers.load(ordering: .relaxed)),\"frames_encoded\":\(encoded),\"stats\":\(StatsRecord(s).json)}"
    }
}

/// A JSON string literal, escaped as the NDJSON lines are.
func jsonString(_ text: String) -> String { NDJSONWriter.string(text) }

/// The live view's sink for one input: keeps its latest picture, record and counts, and — only
/// while someone watches that input — encodes at most `maxFPS` JPEGs a second, at most
/// `maxWidth` wide, and hands each (with the frame's NDJSON record) to every viewer's latest-only
/// slot. `.dropOldest(capacity: 1)`: it never holds the analysis back; frames it had no time for
/// are dropped and counted.
final class LiveSink: FrameSink {
    let source: LiveSource
    let hub: ViewerHub
    let options: LiveViewOptions
    private let writer: NDJSONWriter
    private let encoder: Mutex<JPEGEncoder>

    var name: String { "live" }
    var delivery: SinkDelivery { .dropOldest(capacity: 1) }
    var wantsEveryFrame: Bool { true }

    init(source: LiveSource, hub: ViewerHub, labels: LabelSet, options: LiveViewOptions) {
        self.source = source
        self.hub = hub
        self.options = options
        writer = NDJSONWriter(sink: LineSink(), labels: labels)
        encoder = Mutex(JPEGEncoder(quality: options.quality))
    }

    func consume(_ frame: SinkFrame) throws(PipelineError) {
        let now = DispatchTime.now().uptimeNanoseconds
        let wallMs = Date().timeIntervalSince1970 * 1000
        let r = frame.result
        let latency = frame.capturedAt > 0 && now > frame.capturedAt ? Double(now - frame.capturedAt) / 1e9 : nil
        let interval = UInt64(1e9 / max(0.1, options.maxFPS) * 0.9)
        let encode = source.state.withLock { s -> Bool in
            s.attached = true
            s.decoded = max(s.decoded, r.frame + 1)
            s.droppedBefore += frame.droppedBefore
            if let p = frame.picture { s.picture = p }
            s.frame = r.frame
            if frame.analysed {
                s.analysed += 1
                s.faces += r.faces.count
                s.skipped += r.skipped
                for f in r.faces { s.labels[writer.labels.name(at: f.label), default: 0] += 1 }
                if let latency {
                    let b = LiveSource.latencyBuckets.firstIndex { latency <= $0 } ?? LiveSource.latencyBuckets.count
                    s.latencyCounts[b] += 1
                    s.latencySum += latency
                    s.latencyCount += 1
                }
            }
            guard frame.picture != nil, source.watchers.load(ordering: .relaxed) > 0, now &- s.lastEncode >= interval else { return false }
            s.lastEncode = now
            return true
        }
        guard encode, let picture = frame.picture else { return }
        guard let jpeg = encoder.withLock({ $0.encode(picture, maxWidth: options.maxWidth) }) else { return }
        // The frame's own NDJSON line, made only for a frame someone will see.
        let line = writer.line(for: r)
        source.state.withLock { s in
            s.jpeg = jpeg.bytes
            s.jpegFrame = r.frame
            s.encoded += 1
        }
        hub.publish(FrameMessage(source: source.id, frame: r.frame, width: picture.width, height: picture.height,
                                 wallMs: wallMs, record: line, jpeg: jpeg.bytes))
    }

    func finish() throws(PipelineError) {
        let provider = source.state.withLock { $0.provider }
        let final = provider?()
        source.state.withLock { s in
            s.ended = true
            s.final = final
            s.provider = nil
        }
        hub.publishStatus()
    }
}

/// One frame as the page gets it, in one binary WebSocket message: a 24-byte header (big-endian:
/// kind 1, 0, source id u16, frame u32, frame width u16, height u16, record length u32, the
/// record's wall time in ms f64), the frame's NDJSON record (UTF-8), then the JPEG. Made once,
/// shared by every viewer (a `ByteBuffer` is copied on write only).
struct FrameMessage: Sendable {
    let source: Int
    let frame: Int
    let jpeg: [UInt8]
    let buffer: ByteBuffer

    init(source: Int, frame: Int, width: Int, height: Int, wallMs: Double, record: String, jpeg: [UInt8]) {
        self.source = source
        self.frame = frame
        self.jpeg = jpeg
        buffer = Self.pack(source: source, frame: frame, width: width, height: height, wallMs: wallMs, record: record, jpeg: jpeg)
    }

    static func pack(source: Int, frame: Int, width: Int, height: Int, wallMs: Double, record: String, jpeg: [UInt8]) -> ByteBuffer {
        let rec = Array(record.utf8)
        var b = ByteBufferAllocator().buffer(capacity: 24 + rec.count + jpeg.count)
        b.writeInteger(UInt8(1))
        b.writeInteger(UInt8(0))
        b.writeInteger(UInt16(truncatingIfNeeded: source))
        b.writeInteger(UInt32(truncatingIfNeeded: frame))
        b.writeInteger(UInt16(truncatingIfNeeded: width))
        b.writeInteger(UInt16(truncatingIfNeeded: height))
        b.writeInteger(UInt32(rec.count))
        b.writeInteger(wallMs.bitPattern)
        b.writeBytes(rec)
        b.writeBytes(jpeg)
        return b
    }
}
