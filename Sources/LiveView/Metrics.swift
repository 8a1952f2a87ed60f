import Output
import Pipeline

/// `/metrics`: the Prometheus text exposition format (0.0.4), per input (`source` is its short name).
enum Metrics {
    static func text(_ hub: ViewerHub) -> String {
        let sources = hub.sources
        struct Row { let source: LiveSource; let stats: PipelineStats; let state: LiveSource.State }
        let rows = sources.map { s in Row(source: s, stats: s.pipelineStats(), state: s.state.withLock { $0 }) }
        var out = ""
        func family(_ name: String, _ type: String, _ help: String, _ samples: [([(String, String)], String)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for s in samples { out += name + labels(s.0) + " " + s.1 + "\n" }
        }
        func perSource(_ name: String, _ help: String, type: String = "counter", _ value: (Row) -> Int) {
            family(name, type, help, rows.map { r in ([("source", r.source.name)], String(value(r))) })
        }
        perSource("fer_stream_frames_decoded_total", "Frames decoded.") { $0.stats.framesDecoded }
        perSource("fer_stream_frames_analysed_total", "Frames analysed (faces found, tracked and labelled).") { $0.stats.framesAnalysed }
        perSource("fer_stream_frames_skipped_total", "Frames skipped in real time because the stages behind were busy.") { $0.stats.framesSkipped }
        perSource("fer_stream_faces_total", "Faces labelled, summed over analysed frames.") { $0.stats.faces }
        perSource("fer_stream_crops_total", "Face crops given to the network (test-time augmentation included).") { $0.stats.crops }
        perSource("fer_stream_live_frames_encoded_total", "JPEG frames encoded for the live view's viewers.") { $0.state.encoded }
        perSource("fer_stream_viewers", "Viewers (pages and MJPEG clients) watching the input now.", type: "gauge") { $0.source.watchers.load(ordering: .relaxed) }
        perSource("fer_stream_input_ended", "1 once the input has ended.", type: "gauge") { $0.state.ended ? 1 : 0 }
        family("fer_stream_labels_total", "counter", "Faces labelled, by label, summed over analysed frames.",
               rows.flatMap { r in r.state.labels.sorted { $0.key < $1.key }.map { ([("source", r.source.name), ("label", $0.key)], String($0.value)) } })
        family("fer_stream_sink_dropped_total", "counter", "Frames or messages a sink that may drop lost (publishers, the live view).",
               rows.flatMap { r in r.stats.sinks.filter(\.mayDrop).map { ([("source", r.source.name), ("sink", $0.name)], String($0.dropped)) } })
        out += "# HELP fer_stream_latency_seconds Seconds from reading a frame to the live view's sink getting its record.\n"
        out += "# TYPE fer_stream_latency_seconds histogram\n"
        for r in rows {
            var cumulative = 0
            for (i, le) in LiveSource.latencyBuckets.enumerated() {
                cumulative += r.state.latencyCounts[i]
                out += "fer_stream_latency_seconds_bucket" + labels([("source", r.source.name), ("le", number(le))]) + " \(cumulative)\n"
            }
            out += "fer_stream_latency_seconds_bucket" + labels([("source", r.source.name), ("le", "+Inf")]) + " \(r.state.latencyCount)\n"
            out += "fer_stream_latency_seconds_sum" + labels([("source", r.source.name)]) + " \(number(r.state.latencySum))\n"
            out += "fer_stream_latency_seconds_count" + labels([("source", r.source.name)]) + " \(r.state.latencyCount)\n"
        }
        out += "# HELP fer_stream_live_viewers Viewers connected to the live view.\n# TYPE fer_stream_live_viewers gauge\n"
        out += "fer_stream_live_viewers \(hub.viewerCount)\n"
        return out
    }

    static func labels(_ pairs: [(String, String)]) -> String {
        "{" + pairs.map { k, v in
            k + "=\"" + v.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                .replacingOccurrences(of: "\n", with: "\\n") + "\""
        }.joined(separator: ",") + "}"
    }

    static func number(_ x: Double) -> String {
        x.isFinite ? "\(x)" : (x.isNaN ? "NaN" : (x > 0 ? "+Inf" : "-Inf"))
    }
}
