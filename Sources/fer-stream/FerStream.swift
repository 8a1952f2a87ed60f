import Annotation
import ArgumentParser
import FaceCrop
import FERCore
import Foundation
import FrameSource
import Pipeline
import Plots
import Recognizer
import RecognizerDNNL

/// A runtime failure already phrased for a person.
struct RuntimeFailure: Error {
    let message: String
}

struct Stream: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fer-stream",
        abstract: "Per-face emotion labels from video, streamed as NDJSON or CSV.",
        discussion: """
        Decodes video with FFmpeg, finds faces (YuNet), classifies each into angry, disgust, \
        fear, happy, sad, surprise or neutral with a VGG19 trained on FER2013 (or into the classes \
        another model's metadata names, e.g. CK+'s contempt), smooths the labels per \
        face over time, and writes one line per analysed frame. INPUT is a file, '-' for stdin, or \
        any URL FFmpeg reads (rtsp://, http://, …).

        Examples:
          fer-stream clip.mp4 | jq -c '.faces[] | {track, label, score}'
          fer-stream --format csv --output out.csv clip.mkv
          cat clip.webm | fer-stream -
          fer-stream --tta center --every 2 clip.mp4
          fer-stream bench --batch 10                  (recognizer speed here)
          fer-stream eval --fer2013 fer2013.csv.gz     (accuracy on PrivateTest)
          fer-stream image portrait.jpg                (still images)

        Output, one line per analysed frame, flushed at once:
          ndjson  {"frame":0,"t":0.0,"faces":[{"track":1,"box":[x,y,w,h],
                   "label":"happy","score":0.91,"probs":{…},"raw":{…}}]}
          csv     frame,t,track,x,y,w,h,label,score, then 7 smoothed and 7
                  raw probabilities (one of each per class of the model);
                  a frame without faces is one row with empty face fields.

        Exit codes: 0 success (also when stdout's reader goes away),
        1 runtime failure (input, model, cascade), 2 usage error.
        """,
        version: "0.1.0",
        // main.swift dispatches these itself (a first argument that names one); listing them here
        // puts them in --help, the manual pages and the shell completions.
        subcommands: [Image.self, Eval.self, Bench.self, Resmooth.self]
    )

    @Argument(help: "Video file, '-' for stdin, or a URL.")
    var input: String

    @Option(help: "Output format: ndjson or csv.")
    var format: String = "ndjson"

    @Option(name: .shortAndLong, help: "Write results to this file instead of stdout.")
    var output: String?

    @Option(help: "Analyse every Nth frame.")
    var every: Int = 1

    @Option(name: .customLong("detect-every"), help: "Scan the whole frame for new faces every N analysed frames (and whenever no face is tracked); in between, look only around tracked faces, which is much cheaper. 1 = the whole frame every time.")
    var detectEvery: Int = 5

    @Option(help: "Most crops per network call (faces × TTA crops), batched across frames.")
    var batch: Int = 40

    @Option(help: "Test-time augmentation: 10crop (4 corners + centre, mirrored), flip, center.")
    var tta: String = "10crop"

    @OptionGroup(title: "Labels")
    var labels: LabelOptions

    @OptionGroup(title: "Faces")
    var faces: FaceOptions

    @OptionGroup(title: "Model")
    var network: ModelOptions

    @Flag(name: .shortAndLong, help: "Also show FFmpeg's own warnings on stderr (by default only fer-stream's one-line errors, which include FFmpeg's message).")
    var verbose = false

    @Option(help: ArgumentHelp("Also write the video with each face's box, track, label and probabilities drawn in (.mp4, .mkv, .mov or .avi).", valueName: "video-file"))
    var annotate: String?

    @Option(help: "Write each face track's smoothed probabilities over time to this SVG file.")
    var timeline: String?

    @Flag(help: "At the end, per face track: time on screen and the share of time in each emotion (stderr).")
    var summary = false

    @Flag(name: .customLong("summary-json"), help: "The same summary as one JSON line on stderr.")
    var summaryJSON = false

    @Flag(inversion: .prefixedNo, help: "Real time: never fall behind the source, skip frames when busy (default: on for cameras and network streams, off for files and stdin).")
    var realtime: Bool?

    @Option(help: "Live sources: tries to reconnect, with back-off, after the stream fails or ends (0 = off).")
    var reconnect: Int = 5

    @Option(help: "Seconds before opening or reading a network source gives up (default 10 for network streams).")
    var timeout: Double?

    @Option(name: .customLong("rtsp-transport"), help: "RTSP transport: tcp or udp.")
    var rtspTransport: String = "tcp"

    @Option(name: .customLong("video-size"), help: "Camera frame size, e.g. 640x480 (v4l2).")
    var videoSize: String?

    @Option(help: "Camera frame rate, e.g. 30 (v4l2).")
    var framerate: String?

    @Option(name: .customLong("input-format"), help: "Camera pixel format, e.g. mjpeg (v4l2).")
    var inputFormat: String?

    @Flag(name: .customLong("no-progress"), help: "No progress line on stderr (shown only for files, when stderr is a terminal).")
    var noProgress = false

    @Flag(help: "Print run statistics to stderr as one JSON line at the end (and every 10 s for live sources): frames, skips, latency percentiles, busy time per stage.")
    var stats = false

    mutating func validate() throws {
        guard OutputFormat(rawValue: format) != nil else { throw ValidationError("--format must be ndjson or csv, not '\(format)'") }
        guard every >= 1 else { throw ValidationError("--every must be ≥ 1, not \(every)") }
        guard detectEvery >= 1 else { throw ValidationError("--detect-every must be ≥ 1, not \(detectEvery)") }
        guard batch >= 1 else { throw ValidationError("--batch must be ≥ 1, not \(batch)") }
        guard TestTimeAugmentation(rawValue: tta) != nil else { throw ValidationError("--tta must be 10crop, flip or center, not '\(tta)'") }
        guard reconnect >= 0 else { throw ValidationError("--reconnect must be ≥ 0, not \(reconnect)") }
        guard ["tcp", "udp"].contains(rtspTransport) else { throw ValidationError("--rtsp-transport must be tcp or udp, not '\(rtspTransport)'") }
        if let timeout, !(timeout > 0) { throw ValidationError("--timeout must be > 0 seconds, not \(timeout)") }
    }

    func run() throws {
        let (weights, engine) = try network.loadNetwork()
        let recognizer = Recognizer(weights: weights, engine: engine, tta: TestTimeAugmentation(rawValue: tta)!)

        let faceDetector = try faces.makeDetector()

        FFmpegLogLevel.current = verbose ? .warning : .quiet
        let isNetwork = ["rtsp://", "rtsps://", "rtmp://", "udp://", "srt://", "http://", "https://", "tcp://"].contains { input.hasPrefix($0) }
        let timeout = self.timeout ?? (isNetwork ? 10 : nil)
        var sourceOptions = SourceOptions()
        sourceOptions.threads = network.threads
        sourceOptions.ioTimeout = timeout
        if let timeout {
            // Protocol-level read timeouts (µs): FFmpeg's UDP and RTSP reads wait on their own.
            let micros = String(Int(timeout * 1e6))
            sourceOptions.formatOptions["rw_timeout"] = micros
            if input.hasPrefix("udp://") || input.hasPrefix("rtsp://") || input.hasPrefix("rtsps://") || input.hasPrefix("srt://") {
                sourceOptions.formatOptions["timeout"] = micros
            }
        }
        if input.hasPrefix("rtsp://") || input.hasPrefix("rtsps://") { sourceOptions.formatOptions["rtsp_transport"] = rtspTransport }
        if let videoSize { sourceOptions.formatOptions["video_size"] = videoSize }
        if let framerate { sourceOptions.formatOptions["framerate"] = framerate }
        if let inputFormat { sourceOptions.formatOptions["input_format"] = inputFormat }
        sourceOptions.keepsColour = annotate != nil
        let (frames, isLive, estimatedFrames, frameRate) = try openFrames(sourceOptions)
        // Created only once the input has opened: a bad input leaves existing output files alone.
        let sink = try output.map { path throws(PipelineError) in try LineSink(path: path) } ?? LineSink()
        // Names, columns and colours are the model's classes (FER2013's seven, or e.g. CK+'s).
        let classes = weights.labels
        let annotator = try annotate.map { path throws(PipelineError) in try VideoAnnotator(path: path, frameRate: frameRate, labels: classes) }
        let writer: ResultWriter = OutputFormat(rawValue: format)! == .csv ? CSVWriter(sink: sink, labels: classes)
                                                                           : NDJSONWriter(sink: sink, labels: classes)

        var options = PipelineOptions()
        options.every = every
        options.detectEvery = detectEvery
        options.batch = batch
        options.smoothing = labels.smoothing
        options.labelRule = labels.rule
        options.tracker = faceDetector.trackerOptions
        options.keepsTimeline = timeline != nil
        options.realtime = realtime ?? isLive
        if stats && isLive {
            options.periodicStats = { s in FileHandle.standardError.write(Data((s.json + "\n").utf8)) }
        }
        if !isLive && !noProgress { options.progress = ProgressLine(totalFrames: estimatedFrames) }
        let pipeline = Pipeline(source: frames, detector: faceDetector, cropper: faces.cropper, recognizer: recognizer,
                                writer: writer, annotator: annotator, options: options)

        // Ctrl-C / SIGTERM: stop reading, finish the frames in flight, flush, exit 0.
        let signals = [SIGINT, SIGTERM].map { sig -> DispatchSourceSignal in
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { pipeline.stop() }
            s.resume()
            return s
        }
        defer { signals.forEach { $0.cancel() } }

        // The summary covers what was written, also when the run stops on an error.
        defer {
            if let timeline {
                let s = pipeline.summary
                let series = s.series.keys.sorted().map { k in
                    Plots.Series(name: "track \(k)", times: s.series[k]!.times, values: s.series[k]!.values)
                }
                let svg = Plots.timeline(series, classes: classes.names, title: "\(input): smoothed probabilities per face")
                do { try svg.write(toFile: timeline, atomically: true, encoding: .utf8) } catch {
                    FileHandle.standardError.write(Data("fer-stream: cannot write '\(timeline)': \(error.localizedDescription)\n".utf8))
                }
            }
            if summary { FileHandle.standardError.write(Data(pipeline.summary.text.utf8)) }
            if summaryJSON { FileHandle.standardError.write(Data((pipeline.summary.json + "\n").utf8)) }
        }
        let result = try pipeline.run()
        if stats {
            FileHandle.standardError.write(Data((result.json + "\n").utf8))
        }
    }

    /// Opens the input; a live one is wrapped to reconnect. Only the returned producer holds the
    /// source, so a reconnect can close it (and free its port) before opening the next.
    private func openFrames(_ options: SourceOptions) throws(PipelineError)
        -> (FrameProducer, isLive: Bool, estimatedFrames: Int?, frameRate: Double?) {
        let source: VideoSource
        do { source = try VideoSource(input, options: options) } catch { throw PipelineError(error) }
        guard source.isLive && reconnect > 0 else { return (source, source.isLive, source.estimatedFrameCount, source.frameRate) }
        let name = input
        let frames = ReconnectingSource(first: source, maxAttempts: reconnect,
                                        log: { FileHandle.standardError.write(Data("fer-stream: \(name): \($0)\n".utf8)) },
                                        open: { try VideoSource(name, options: options) })
        return (frames, true, nil, source.frameRate)
    }
}
