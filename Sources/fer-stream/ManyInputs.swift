import Annotation
import FERStream
import Foundation
import LiveView
import Synchronization

/// Several inputs in one process (`fer-stream A B C`, `--inputs-from`, `--output-dir`, `--shard`):
/// one network for all (`StreamGroup`), each input its own pipeline.
extension Stream {
    /// The inputs given, then those of `--inputs-from`; and this shard's share of them.
    func inputList() throws -> (all: [String], mine: [String]) {
        var list = inputs
        do {
            if let inputsFrom { list += try InputList.read(path: inputsFrom) }
            guard !list.isEmpty else { throw RuntimeFailure(message: "no inputs: \(inputsFrom.map { "'\($0)' lists none" } ?? "give one")") }
            guard let shard else { return (list, list) }
            let s = try Shard.parse(shard, environment: ProcessInfo.processInfo.environment)
            let mine = s.select(list)
            FileHandle.standardError.write(Data("fer-stream: shard \(s): \(mine.count) of \(list.count) inputs\n".utf8))
            return (list, mine)
        } catch let error as CorpusError {
            throw RuntimeFailure(message: error.description)
        }
    }

    /// `list`: this run's inputs; `all`: every input of the job (all shards), which `--output-dir` checks for clashes.
    func runMany(_ list: [String], all: [String], view: LiveViewServer? = nil) throws {
        // Every output is checked before any input is opened.
        if outputDir == nil {
            if annotate != nil { throw RuntimeFailure(message: "--annotate with several inputs needs --output-dir (one video per input)") }
            try OutputPath.checkAll([output])
        }
        if timeline != nil { throw RuntimeFailure(message: "--timeline takes one input") }
        let format = self.format
        var chosen: OutputDirectory?
        if let outputDir {
            do {
                chosen = try OutputDirectory(outputDir, extensions: [format.rawValue] + (annotate.map { [Self.videoExtension($0)] } ?? []), inputs: all)
            } catch {
                throw RuntimeFailure(message: error.description)
            }
        }
        let video = annotate.map(Self.videoExtension)
        let directory = chosen
        let options = streamOptions
        let models = try SharedModels(options: options)
        let publishers = try makePublishers(labels: models.labels)
        defer { finishPublishers(publishers) }
        let labels = models.labels
        // One stdout (or -o) for all inputs without --output-dir: lines carry their source.
        var shared: SharedSink?
        if directory == nil {
            let sink = try output.map { path throws(PipelineError) in try LineSink(path: path) } ?? LineSink()
            shared = SharedSink(WriterSink(Self.writer(format, sink: sink, labels: labels, tagged: true)))
        }
        let stdout = shared

        let group = StreamGroup(inputs: list, options: options, models: models, maxFilesAtOnce: filesAtOnce)
        let signals = Self.onStopSignals { group.stop() }
        defer { signals.forEach { $0.cancel() } }

        let stats = self.stats
        var periodic: (@Sendable (PipelineStats) -> Void)?
        if stats {
            periodic = { s in
                if let input = s.source, InputKind.isLive(input) { FileHandle.standardError.write(Data((s.json + "\n").utf8)) }
            }
        }
        let start = DispatchTime.now().uptimeNanoseconds
        let outcomes = group.run(tagsSource: directory == nil, plan: { source in
            if let directory, directory.isDone(source.input) {
                let done = directory.resultPath(for: source.input, extension: format.rawValue)
                FileHandle.standardError.write(Data("fer-stream: \(source.input): done already (\(done)), skipped\n".utf8))
                return .skip
            }
            let pending = Mutex<[Pending]>([])
            return .run(sinks: { stream throws(PipelineError) in
                var sinks = publishers.map { $0.handle() }
                if let stdout { sinks.insert(stdout.handle(), at: 0) }
                if let view { sinks.append(view.sink(for: stream)) }
                if let directory {
                    let result = try Self.pending(directory, source.input, format.rawValue)
                    pending.withLock { $0.append(result) }
                    sinks.insert(WriterSink(Self.writer(format, sink: try LineSink(path: result.path), labels: labels, tagged: false)), at: 0)
                    if let video {
                        let copy = try Self.pending(directory, source.input, video)
                        pending.withLock { $0.append(copy) }
                        sinks.append(AnnotatorSink(try VideoAnnotator(path: copy.path, frameRate: stream.frameRate, labels: labels)))
                    }
                }
                return sinks
            }, done: { _, failure, interrupted throws(PipelineError) in
                // A complete input's files move into place; an incomplete one leaves none under a final name.
                for p in pending.withLock({ $0 }) {
                    if failure != nil || interrupted { p.abandon(); continue }
                    do throws(CorpusError) { try p.commit() } catch { throw .output(path: p.finalPath, reason: error.description) }
                }
            })
        }, periodicStats: periodic, finished: { outcome in
            view?.ended(outcome.source.input, failure: outcome.error.map { "\($0)" }, skipped: outcome.stats == nil && outcome.error == nil)
            guard let error = outcome.error else { return }
            // The reader of stdout went away: nothing more can be written, so every input stops.
            if Self.isQuietStop(error) { group.stop(); return }
            FileHandle.standardError.write(Data("fer-stream: \(outcome.source.input): \(error)\n".utf8))
        })
        try shared?.finish()

        let ran = outcomes.compactMap { $0.stats }
        if stats {
            for s in ran { FileHandle.standardError.write(Data((s.json + "\n").utf8)) }
            var total = PipelineStats.total(ran, wallSeconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            for p in publishers {
                if let i = total.sinks.firstIndex(where: { $0.name == p.inner.name }) { total.sinks[i].dropped += p.inner.droppedMessages }
            }
            FileHandle.standardError.write(Data((total.json + "\n").utf8))
        }
        if summary || summaryJSON {
            for o in outcomes {
                guard let tracks = o.summary else { continue }
                if summary { FileHandle.standardError.write(Data("\(o.source.input):\n\(tracks.text)".utf8)) }
                if summaryJSON { FileHandle.standardError.write(Data((tracks.json + "\n").utf8)) }
            }
        }
        let failed = outcomes.filter { $0.error.map { !Self.isQuietStop($0) } ?? false }
        if !failed.isEmpty {
            throw RuntimeFailure(message: "\(failed.count) of \(outcomes.count) inputs failed (each said why above)")
        }
    }

    static func pending(_ directory: OutputDirectory, _ input: String, _ fileExtension: String) throws(PipelineError) -> Pending {
        do { return try directory.pending(for: input, extension: fileExtension) } catch {
            throw .output(path: directory.resultPath(for: input, extension: fileExtension), reason: error.description)
        }
    }

    /// Calls `stop` on SIGINT and SIGTERM (instead of dying): the run then finishes what it read.
    /// Cancel the sources returned when the run is over.
    static func onStopSignals(_ stop: @escaping @Sendable () -> Void) -> [DispatchSourceSignal] {
        [SIGINT, SIGTERM].map { sig in
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler(handler: stop)
            s.resume()
            return s
        }
    }

    /// The reader of stdout went away: a stop, not a failure.
    static func isQuietStop(_ error: PipelineError) -> Bool {
        if case .outputClosed = error { return true }
        return false
    }

    static func writer(_ format: OutputFormat, sink: LineSink, labels: LabelSet, tagged: Bool) -> any ResultWriter {
        format == .csv ? CSVWriter(sink: sink, withSource: tagged, labels: labels) : NDJSONWriter(sink: sink, labels: labels)
    }

    /// `mp4`, `.mkv` or `x.mov` given to --annotate with --output-dir: the container of each input's video.
    static func videoExtension(_ given: String) -> String {
        let name = given.split(separator: "/").last.map(String.init) ?? given
        if let dot = name.lastIndex(of: ".") { return String(name[name.index(after: dot)...]) }
        return name
    }

    /// `--publish` URLs as sinks, connected now: a broker that cannot be reached fails the run
    /// before anything is analysed. Shared by every input (one connection each).
    func makePublishers(labels: LabelSet) throws -> [SharedSink] {
        try publish.map { url in
            do {
                return SharedSink(try Publishers.make(url: url, labels: labels) { FileHandle.standardError.write(Data("fer-stream: \($0)\n".utf8)) })
            } catch {
                throw RuntimeFailure(message: "--publish: \(error)")
            }
        }
    }

    func finishPublishers(_ publishers: [SharedSink]) {
        for p in publishers {
            do { try p.finish() } catch { FileHandle.standardError.write(Data("fer-stream: \(p.inner.name): \(error)\n".utf8)) }
        }
    }
}
