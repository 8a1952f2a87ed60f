import Annotation
import ArgumentParser
import FERStream
import Foundation
import LiveView
import Plots

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
        fear, happy, sad, surprise or neutral with a VGG19 trained on FER2013's faces as FER+'s \
        annotators labelled them (or into the classes \
        another model's metadata names, e.g. CK+'s contempt), smooths the labels per \
        face over time, and writes one line per analysed frame. INPUT is a file, '-' for stdin, \
        any URL FFmpeg reads (rtsp://, http://, …) or a camera (v4l2:/dev/video0). Several inputs \
        run in one process, sharing the network; each line then names its source.

        Examples:
          fer-stream clip.mp4 | jq -c '.faces[] | {track, label, score}'
          fer-stream --format csv --output out.csv clip.mkv
          cat clip.webm | fer-stream -
          fer-stream --tta center --every 2 clip.mp4
          fer-stream --realtime --stats rtsp://cam1/s rtsp://cam2/s   (two cameras, one process)
          fer-stream --output-dir out/ --inputs-from list.txt        (a corpus; reruns resume)
          fer-stream --publish mqtt://broker/fer v4l2:/dev/video0    (also to MQTT or Redis)
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

    @Argument(help: ArgumentHelp("Video files, '-' for stdin, URLs or cameras (v4l2:/dev/videoN); several run in one process, sharing the network, and each result names its source.", valueName: "input"))
    var inputs: [String] = []

    @Option(name: .customLong("inputs-from"), help: ArgumentHelp("Also read inputs from this file, one a line ('-': stdin; blank lines and # comments are skipped).", valueName: "file"))
    var inputsFrom: String?

    @Option(name: .customLong("output-dir"), help: ArgumentHelp("One result per input: DIR/<name>.ndjson (or .csv), written under a temporary name and renamed when the input is complete; an input whose result exists is skipped, so a rerun resumes. With --annotate EXT, DIR/<name>.EXT too.", valueName: "dir"))
    var outputDir: String?

    @Option(help: ArgumentHelp("Take only the inputs whose position in the list is ≡ I (mod N); auto: I and N from a Slurm job array or a Kubernetes Indexed Job.", valueName: "I/N|auto"))
    var shard: String?

    @Option(name: .customLong("files-at-once"), help: "With several inputs: files analysed at the same time (cameras and streams all run at once).")
    var filesAtOnce: Int = 4

    @Option(help: ArgumentHelp("Also publish each analysed frame and each face's label changes: mqtt://[user:pass@]host[:port]/PREFIX[?qos=1] or redis://host[:port]/KEY. Repeatable.", valueName: "url"))
    var publish: [String] = []

    @Option(help: "Output format: ndjson or csv.")
    var format: OutputFormat = .ndjson

    @Option(name: .shortAndLong, help: "Write results to this file instead of stdout.")
    var output: String?

    @Option(help: "Analyse every Nth frame.")
    var every: Int = 1

    @Option(name: .customLong("detect-every"), help: "Scan the whole frame for new faces every N analysed frames (and whenever no face is tracked); in between, look only around tracked faces, which is much cheaper. 1 = the whole frame every time.")
    var detectEvery: Int = 5

    @Option(help: "Most crops per network call (faces × TTA crops), batched across frames.")
    var batch: Int = 40

    @Option(help: "Test-time augmentation: 10crop (4 corners + centre, mirrored), flip, center.")
    var tta: TestTimeAugmentation = .tenCrop

    @Option(name: .customLong("crops-per-face"), help: ArgumentHelp("Test-time crops each tracked face gets per frame, the rest of its set on the next frames (a new face gets its whole set at once): auto (2 for files; in real time as many as the CPU keeps up with, 10, 4, 2 or 1) or 1–10 (10 with 10crop: the whole set on every frame).", valueName: "auto|n"))
    var cropsPerFace: CropsPerFace = .auto

    @Option(help: ArgumentHelp("Real time: milliseconds from reading a frame to its line that batching and the crops per face aim for.", valueName: "ms"))
    var latency: Double = 100

    @Option(name: .customLong("crop-half-life"), help: ArgumentHelp("Seconds in which a crop score's weight in a face's mean halves against the newest (crops spread over frames, see --crops-per-face); 0: every fresh crop weighs the same (the plain mean, the default before).", valueName: "s"))
    var cropHalfLife: Double = TemporalEnsemble.Onset.default.halfLife ?? 0

    @Option(name: .customLong("rescore-margin"), help: ArgumentHelp("Re-score a face's whole set in its next frame when its fresh crops lead with another class than the rest of its set by this much probability (0–1); default: never.", valueName: "p"))
    var rescoreMargin: Double?

    @Option(name: .customLong("fast-model"), help: ArgumentHelp("Real time: the cheap network that scores faces when even one crop per face of the model does not fit, before frames are skipped. Default: the bundled Models/student-ferplus.safetensors (or $FER_STREAM_FAST_MODEL), only with the default model; none: no cheap network.", valueName: "file|none"))
    var fastModel: String?

    @OptionGroup(title: "Labels")
    var labels: LabelOptions

    @OptionGroup(title: "Faces")
    var faces: FaceOptions

    @OptionGroup(title: "Model")
    var network: ModelOptions

    @OptionGroup(title: "Live view")
    var live: ServeOptions

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
    var rtspTransport: StreamOptions.RTSPTransport = .tcp

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
        guard !inputs.isEmpty || inputsFrom != nil else { throw ValidationError("give an input (a video file, '-', a URL or a camera), or --inputs-from FILE") }
        guard filesAtOnce >= 1 && filesAtOnce <= 256 else { throw ValidationError("--files-at-once must be between 1 and 256, not \(filesAtOnce)") }
        guard every >= 1 else { throw ValidationError("--every must be ≥ 1, not \(every)") }
        guard detectEvery >= 1 else { throw ValidationError("--detect-every must be ≥ 1, not \(detectEvery)") }
        guard batch >= 1 else { throw ValidationError("--batch must be ≥ 1, not \(batch)") }
        guard cropHalfLife >= 0 && cropHalfLife <= 60 else { throw ValidationError("--crop-half-life must be between 0 and 60 seconds, not \(cropHalfLife)") }
        if let rescoreMargin, !(rescoreMargin >= 0 && rescoreMargin <= 1) { throw ValidationError("--rescore-margin must be between 0 and 1, not \(rescoreMargin)") }
        guard latency > 0 && latency <= 60_000 else { throw ValidationError("--latency must be between 0 and 60000 ms, not \(latency)") }
        guard reconnect >= 0 else { throw ValidationError("--reconnect must be ≥ 0, not \(reconnect)") }
        if let timeout, !(timeout > 0) { throw ValidationError("--timeout must be > 0 seconds, not \(timeout)") }
        // Past this (or inf) the microseconds handed to FFmpeg would overflow Int.
        if let timeout, timeout > 1e6 { throw ValidationError("--timeout must be at most 1000000 seconds, not \(timeout)") }
        if let videoSize { try CameraValue.checkVideoSize(videoSize) }
        if let framerate { try CameraValue.checkFrameRate(framerate) }
    }

    /// The library's options these flags stand for.
    var streamOptions: StreamOptions {
        var o = StreamOptions()
        o.recognizer = network.recognizerOptions(tta: tta)
        o.recognizer.fastModel = switch fastModel {
        case nil: .auto
        case "none"?: .none
        case let path?: .file(path)
        }
        o.faces = faces.detectorOptions
        o.pipeline.every = every
        o.pipeline.detectEvery = detectEvery
        o.pipeline.batch = batch
        o.pipeline.cropsPerFace = cropsPerFace
        o.pipeline.latency = latency / 1000
        o.pipeline.smoothing = labels.smoothing
        o.pipeline.labelRule = labels.rule
        o.pipeline.keepsTimeline = timeline != nil
        o.pipeline.realtime = realtime
        o.pipeline.ensembleOnset = .init(halfLife: cropHalfLife > 0 ? cropHalfLife : nil, margin: rescoreMargin)
        o.reconnect = reconnect
        o.timeout = timeout
        o.rtspTransport = rtspTransport
        o.videoSize = videoSize
        o.framerate = framerate
        o.inputFormat = inputFormat
        o.keepsColour = annotate != nil || live.serve != nil
        o.log = { FileHandle.standardError.write(Data("fer-stream: \($0)\n".utf8)) }
        return o
    }

    func run() throws {
        FFmpegLogLevel.current = verbose ? .warning : .quiet
        let (all, mine) = try inputList()
        // --serve listens before any input is opened: a port in use fails here, nothing analysed.
        let view = try live.start(inputs: mine)
        try runInputs(mine, all: all, view: view)
    }

    /// The timeline and the summaries at the end of a run; a timeline that cannot be written
    /// (checked at the start, but e.g. the disk filled up since) fails the run: exit 1.
    func finish(_ input: String, summary s: TrackSummary) throws(PipelineError) {
        var failure: PipelineError?
        if let timeline {
            let series = s.series.keys.sorted().map { k in
                Plots.Series(name: "track \(k)", times: s.series[k]!.times, values: s.series[k]!.values)
            }
            let svg = Plots.timeline(series, classes: s.labels.names, title: "\(input): smoothed probabilities per face")
            do { try LineSink(path: timeline).write(svg) } catch { failure = error }
        }
        if summary { FileHandle.standardError.write(Data(s.text.utf8)) }
        if summaryJSON { FileHandle.standardError.write(Data((s.json + "\n").utf8)) }
        if let failure { throw failure }
    }
}
