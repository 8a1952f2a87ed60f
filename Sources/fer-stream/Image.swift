import ArgumentParser
import Foundation
import FERStream
import Plots

/// `fer-stream image`: the faces of still images, one output line per image.
struct Image: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Label the faces in still images (PNG, JPEG, … anything FFmpeg decodes).",
        discussion: """
        One line per image in the stream's schema, with "file" added, "frame" the image's position among \
        the arguments and "track" numbering the \
        faces of that image from 1 (largest first); "probs" and "raw" are equal (no smoothing).

        Examples:
          fer-stream image portrait.jpg group.png | jq -c '.faces[] | {label, score}'
          fer-stream image --detector full-frame faces/*.png      (already cropped faces)
        """
    )

    @Argument(help: "Image files.")
    var files: [String]

    @Option(help: "Output format: ndjson or csv.")
    var format: OutputFormat = .ndjson

    @Option(name: .shortAndLong, help: "Write results to this file instead of stdout.")
    var output: String?

    @Option(help: "Test-time augmentation: 10crop, flip, center.")
    var tta: TestTimeAugmentation = .tenCrop

    @Option(help: "Also draw each face's probabilities as bars into this SVG file.")
    var plot: String?

    @OptionGroup(title: "Faces")
    var faces: FaceOptions

    @OptionGroup(title: "Model")
    var network: ModelOptions

    mutating func validate() throws {
        guard !files.isEmpty else { throw ValidationError("name at least one image") }
    }

    func run() throws {
        FFmpegLogLevel.current = .quiet
        try OutputPath.checkAll([output, plot])  // before any work, without creating them
        let (weights, engine) = try network.loadNetwork()
        let recognizer = Recognizer(weights: weights, engine: engine, tta: tta)
        // A still image is searched at up to 1280 px wide: there is no frame rate to keep up with.
        let faceDetector = try faces.makeDetector(detectionWidth: 1280)
        let sink = try output.map { path throws(PipelineError) in try LineSink(path: path) } ?? LineSink()
        let classes = weights.labels
        let writer: ResultWriter = format == .csv ? CSVWriter(sink: sink, withFile: true, labels: classes) : NDJSONWriter(sink: sink, labels: classes)
        let cropper = faces.cropper
        var failures = 0
        var panels: [(title: String, probs: [Float])] = []
        for (index, file) in files.enumerated() {
            let image: GrayImage
            do {
                image = try VideoSource.firstPicture(of: file)
            } catch {
                // One bad file does not stop the others; the exit code says something failed.
                FileHandle.standardError.write(Data("fer-stream: \(PipelineError(error).description)\n".utf8))
                failures += 1
                continue
            }
            let found: [Detection]
            do { found = try faceDetector.confidentDetections(in: image) } catch { throw PipelineError(error) }
            let probs: [[Float]]
            do { probs = try recognizer.probabilities(for: found.map { cropper.crop(image, box: $0.box, landmarks: $0.landmarks) }) } catch {
                throw PipelineError.recognizer(error)
            }
            let faces = zip(found, probs).enumerated().map { i, pair in
                FaceResult(track: i + 1, box: pair.0.box, probs: pair.1, raw: pair.1, confidence: pair.0.confidence, landmarks: pair.0.landmarks)
            }
            try writer.write(FrameResult(frame: index, time: 0, faces: faces, file: file))
            panels += faces.map { ("\((file as NSString).lastPathComponent), face \($0.track): \(classes.name(at: $0.label))", $0.probs) }
        }
        if let plot {
            try LineSink(path: plot).write(Plots.bars(panels, classes: classes.names))
        }
        if failures > 0 { throw RuntimeFailure(message: "\(failures) of \(files.count) images could not be read") }
    }
}
