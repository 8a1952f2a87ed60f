import Annotation
import FERStream
import Foundation
import LiveView
import Synchronization

/// The inputs of a run (`fer-stream A [B C …]`, `--inputs-from`, `--output-dir`, `--shard`), one
/// or many, run one way: one network for all (`StreamGroup`), each input its own pipeline.
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

    /// Runs `list`, this run's inputs, as one `StreamGroup` (one input is a group of one); `all`:
    /// every input of the job (all shards), which `--output-dir` checks for clashes. One input
    /// alone (no `--output-dir`, no `--shard`) writes untagged lines, may take `--annotate FILE`
    /// and `--timeline`, shows progress, and fails with its own error; several share one output
    /// (or one result each in `--output-dir`), print their errors as they end, and fail at the end.
    func runInputs(_ list: [String], all: [String], view: LiveViewServer? = nil) throws {
        let single = all.count == 1 && outputDir == nil && shard == nil
        // Every output is checked before any input is opened; nothing is created yet.
        if single {
            try OutputPath.checkAll([output, annotate, timeline])
        } else {
            if outputDir == nil {
                if annotate != nil { throw RuntimeFailure(message: "--annotate with several inputs needs --output-dir (one video per input)") }
                try OutputPath.checkAll([output])
            }
            if timeline != nil { throw RuntimeFailure(message: "--timeline takes one input") }
        }
        let format = self.format
        var chosen: OutputDirectory?
        if let outputDir {
            do {
                chosen = try OutputDirectory(outputDir, extensions: [format.rawValue] + (annotate.map { [Self.videoExtension($0)] } ?? []), inputs: all)
            } catch {
                throw RuntimeFailure(message: error.description)
            }
        }
        let directory = chosen
        // The model, the detector, the brokers, then the inputs: any of them bad fails before an output file is touched.
        let options = streamOptions
        let models = try SharedModels(options: options)
        let publishers = try makePublishers(labels: models.labels)
        defer { finishPublishers(publishers) }
        let labels = models.labels
        // Several inputs without --output-dir share one stdout (or -o), their lines carrying their
        // source. One input's output is created only once the input has opened, so that a bad
        // input leaves an existing output file alone.
        var shared: SharedSink?
        if !single && directory == nil {
            let sink = try output.map { path throws(PipelineError) in try LineSink(path: path) } ?? LineSink()
            shared = SharedSink(WriterSink(format.writer(into: sink, labels: labels, tagged: true)))
        }
        let stdout = shared
        let (output, annotate) = (self.output, self.annotate)
        let annotated = annotate.map { given in
            OutputDirectory.AnnotatedCopy(fileExtension: Self.videoExtension(given)) { stream, path throws(PipelineError) in
                AnnotatorSink(try VideoAnnotator(path: path, frameRate: stream.frameRate, labels: labels))
            }
        }

        let group = StreamGroup(inputs: list, options: options, models: models, maxFilesAtOnce: filesAtOnce)
        let signals = Self.onStopSignals { group.stop() }
        defer { signals.forEach { $0.cancel() } }

        // Live inputs' stats also every 10 s: they may never end.
        let stats = self.stats
        let periodic: @Sendable (EmotionStream) -> (@Sendable (PipelineStats) -> Void)? = { stream in
            guard stats && stream.isLive else { return nil }
            return { s in FileHandle.standardError.write(Data((s.json + "\n").utf8)) }
        }
        let noProgress = self.noProgress
        // Whether each input's sinks were made: one whose were not never ran, and has no summary or timeline.
        let sinksMade = Mutex(false)
        let start = DispatchTime.now().uptimeNanoseconds
        let outcomes = group.run(tagsSource: !single && directory == nil, plan: { source in
            if let directory {
                return directory.plan(for: source, format: format, labels: labels, annotated: annotated,
                                      alongside: { stream in publishers.map { $0.handle() } + (view.map { [$0.sink(for: stream)] } ?? []) },
                                      skipped: { done in FileHandle.standardError.write(Data("fer-stream: \(source.input): done already (\(done)), skipped\n".utf8)) })
            }
            return .run(sinks: { stream throws(PipelineError) in
                var sinks: [any FrameSink]
                if let stdout {
                    sinks = [stdout.handle()]
                } else {
                    let sink = try output.map { path throws(PipelineError) in try LineSink(path: path) } ?? LineSink()
                    sinks = [WriterSink(format.writer(into: sink, labels: labels, tagged: false))]
                    if let annotate, let annotated { sinks.append(try annotated.make(stream, annotate)) }
                }
                sinksMade.withLock { $0 = true }
                return sinks + publishers.map { $0.handle() } + (view.map { [$0.sink(for: stream)] } ?? [])
            }, done: { _, _, _ in })
        }, progress: { stream in
            single && !stream.isLive && !noProgress ? ProgressLine(totalFrames: stream.estimatedFrameCount) : nil
        }, periodicStats: periodic, finished: { outcome in
            view?.ended(outcome.source.input, failure: outcome.error.map { "\($0)" }, skipped: outcome.stats == nil && outcome.error == nil)
            guard let error = outcome.error else { return }
            // The reader of stdout went away: nothing more can be written, so every input stops.
            if Self.isQuietStop(error) { group.stop(); return }
            // One input alone fails with its own error, below; several say theirs as they end.
            if !single { FileHandle.standardError.write(Data("fer-stream: \(outcome.source.input): \(error)\n".utf8)) }
        })
        try shared?.finish()

        let ran = outcomes.compactMap { $0.stats }
        if stats {
            for s in ran { FileHandle.standardError.write(Data((s.json + "\n").utf8)) }
            if !single {
                var total = PipelineStats.total(ran, wallSeconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
                for p in publishers {
                    if let i = total.sinks.firstIndex(where: { $0.name == p.inner.name }) { total.sinks[i].dropped += p.inner.droppedMessages }
                }
                FileHandle.standardError.write(Data((total.json + "\n").utf8))
            }
        }
        if single, let outcome = outcomes.first {
            // The timeline and summary cover what was written, also when the run stopped on an
            // error (that error decides the exit; a timeline failure on top of it is reported too).
            if let tracks = outcome.summary, sinksMade.withLock({ $0 }) {
                if let error = outcome.error {
                    do { try finish(outcome.source.input, summary: tracks) } catch { FileHandle.standardError.write(Data("fer-stream: \(error)\n".utf8)) }
                    throw error
                }
                try finish(outcome.source.input, summary: tracks)
            }
            if let error = outcome.error { throw error }
            return
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
