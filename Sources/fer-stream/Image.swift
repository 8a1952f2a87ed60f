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
        // The network, then the detector (searching a still at up to 1280 px wide), as the stream loads them.
        let analyzer = try FaceAnalyzer(recognizer: network.recognizerOptions(tta: tta), faces: faces.detectorOptions)
        let sink = try output.map { path throws(PipelineError) in try LineSink(path: path) } ?? LineSink()
        let classes = analyzer.labels
        let writer: ResultWriter = format == .csv ? CSVWriter(sink: sink, withFile: true, labels: classes) : NDJSONWriter(sink: sink, labels: classes)
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
            let faces = try analyzer.faces(in: image)
            try writer.write(FrameResult(frame: index, time: 0, faces: faces, file: file))
            panels += faces.map { ("\((file as NSString).lastPathComponent), face \($0.track): \(classes.name(at: $0.label))", $0.probs) }
        }
        if let plot {
            try LineSink(path: plot).write(Plots.bars(panels, classes: classes.names))
        }
        if failures > 0 { throw RuntimeFailure(message: "\(failures) of \(files.count) images could not be read") }
    }
}
