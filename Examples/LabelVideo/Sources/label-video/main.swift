// label-video FILE: one NDJSON line per analysed frame of FILE, through the FERStream library.
import FERStream
import Foundation

func fail(_ message: String, code: Int32) -> Never {
    FileHandle.standardError.write(Data("label-video: \(message)\n".utf8))
    exit(code)
}

let arguments = CommandLine.arguments.dropFirst()
guard arguments.count == 1, let file = arguments.first else { fail("usage: label-video FILE", code: 2) }

var options = StreamOptions()
options.recognizer.tta = .center  // one crop per face: quick on any CPU

do {
    let stream = try EmotionStream(file, options: options)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    var faces = 0
    for try await frame in stream.results() {
        faces += frame.faces.count
        var line = try encoder.encode(FrameRecord(frame, labels: stream.labels))
        line.append(UInt8(ascii: "\n"))
        FileHandle.standardOutput.write(line)
    }
    for track in stream.summary.all {
        let name = stream.labels.name(at: track.dominant)
        FileHandle.standardError.write(Data("track \(track.track): \(track.frames) frames, mostly \(name)\n".utf8))
    }
} catch let error as FERStreamError {
    fail(error.description, code: 1)
}
