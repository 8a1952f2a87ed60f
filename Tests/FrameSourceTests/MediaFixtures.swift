import Foundation
import XCTest
import TestSupport

/// Test inputs made with the `ffmpeg` CLI into one temp directory, once per test run.
enum Media {
    struct Failure: Error, CustomStringConvertible { let description: String }

    static let ffmpegPath: String? = {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let p = "\(dir)/ffmpeg"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }()

    static let dir: URL = {
        (try? Scratch.directory("FrameSourceTests")) ?? Scratch.root
    }()

    static func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    /// Runs ffmpeg with `args`; returns its stdout.
    @discardableResult
    static func ffmpeg(_ args: [String]) throws -> Data {
        guard let exe = ffmpegPath else { throw XCTSkip("ffmpeg CLI not installed") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = ["-nostdin", "-v", "error", "-y"] + args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        // Never let a stuck encoder hang the test run.
        DispatchQueue.global().asyncAfter(deadline: .now() + 60) { if p.isRunning { p.terminate() } }
        // Drain stdout before waiting so a large output cannot block the child (with `-v error`
        // stderr stays far below a pipe's capacity).
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw Failure(description: "ffmpeg \(args.joined(separator: " ")) failed: \(String(decoding: errData, as: UTF8.self))")
        }
        return data
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var made: [String: String] = [:]

    /// Makes `name` in the temp dir with `args` (output path appended) unless already made.
    static func make(_ name: String, _ args: [String]) throws -> String {
        lock.lock(); defer { lock.unlock() }
        if let p = made[name] { return p }
        let p = path(name)
        try ffmpeg(args + [p])
        made[name] = p
        return p
    }

    /// ffmpeg's own grey rendering of every frame of `file` (with its default autorotation).
    static func referenceGray(_ file: String) throws -> Data {
        try ffmpeg(["-i", file, "-f", "rawvideo", "-pix_fmt", "gray", "-"])
    }

    static func lavfi(_ graph: String) -> [String] { ["-f", "lavfi", "-i", graph] }

    // MARK: Named inputs

    /// 160×120 testsrc, 25 fps, 30 frames, H.264 with B-frames in MP4.
    static func h264mp4() throws -> String {
        try make("h264.mp4", lavfi("testsrc=size=160x120:rate=25") +
                 ["-frames:v", "30", "-c:v", "libx264", "-preset", "veryfast", "-bf", "2", "-g", "12",
                  "-pix_fmt", "yuv420p"])
    }

    /// Same picture as a streamable Matroska H.264 file (for pipes and truncation).
    static func h264mkv() throws -> String {
        try make("h264.mkv", lavfi("testsrc=size=160x120:rate=25") +
                 ["-frames:v", "30", "-c:v", "libx264", "-preset", "veryfast", "-g", "12", "-pix_fmt", "yuv420p"])
    }

    /// 96×64 testsrc, 10 fps, 20 frames, lossless FFV1 in Matroska.
    static func ffv1mkv() throws -> String {
        try make("ffv1.mkv", lavfi("testsrc=size=96x64:rate=10") + ["-frames:v", "20", "-c:v", "ffv1"])
    }

    /// 64×48, 10 fps, 10 frames, VP9 in WebM.
    static func vp9webm() throws -> String {
        try make("vp9.webm", lavfi("testsrc=size=64x48:rate=10") +
                 ["-frames:v", "10", "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "200k"])
    }

    /// 128×96, 15 fps, 15 frames, MPEG-4 part 2 in AVI.
    static func mpeg4avi() throws -> String {
        try make("mpeg4.avi", lavfi("testsrc=size=128x96:rate=15") + ["-frames:v", "15", "-c:v", "mpeg4", "-q:v", "3"])
    }

    /// 64×48 black with the left half white, 5 frames of H.264.
    static func halves() throws -> String {
        try make("halves.mp4", lavfi("color=c=black:size=64x48:rate=10,drawbox=x=0:y=0:w=32:h=48:color=white:t=fill") +
                 ["-frames:v", "5", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"])
    }

    /// 64×32 black with a white 16×16 square in the top-left corner, tagged `rotate=degrees`.
    static func rotated(_ degrees: Int) throws -> String {
        let plain = try make("corner.mp4", lavfi("color=c=black:size=64x32:rate=10,drawbox=x=0:y=0:w=16:h=16:color=white:t=fill") +
                             ["-frames:v", "3", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"])
        // FFmpeg 5.1 writes the display matrix from the `rotate` tag when remuxing.
        return try make("rot\(degrees).mp4", ["-i", plain, "-c", "copy", "-metadata:s:v:0", "rotate=\(degrees)"])
    }

    /// H.264 in Matroska with irregular frame times: 0, 0.1, 0.2, 0.5, 0.6, 1.5 s.
    static func vfrmkv() throws -> String {
        try make("vfr.mkv", lavfi("testsrc=size=64x48:rate=10") +
                 ["-frames:v", "6", "-vf", "setpts='(N*0.1+gte(N,3)*0.2+gte(N,5)*0.8)/TB'", "-fps_mode", "passthrough",
                  "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"])
    }

    /// A raw Annex-B H.264 stream (no container timestamps), 12 frames at 10 fps.
    static func rawH264() throws -> String {
        try make("raw.h264", lavfi("testsrc=size=64x48:rate=10") +
                 ["-frames:v", "12", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-f", "h264"])
    }

    /// Half a second of a sine tone in AAC/M4A: no video.
    static func audioOnly() throws -> String {
        try make("sine.m4a", lavfi("sine=frequency=440:duration=0.5") + ["-c:a", "aac"])
    }

    /// An MP3 tone with cover art (an attached picture, which is not video).
    static func audioWithCover() throws -> String {
        try make("cover.mp3", lavfi("sine=frequency=440:duration=0.3") + lavfi("color=c=red:size=32x32:duration=0.1") +
                 ["-map", "0:a", "-map", "1:v", "-frames:v", "1", "-c:a", "libmp3lame", "-c:v", "mjpeg",
                  "-disposition:v:0", "attached_pic"])
    }

    /// Writes `bytes` to `name` in the temp dir.
    static func file(_ name: String, _ bytes: Data) throws -> String {
        let p = path(name)
        try bytes.write(to: URL(fileURLWithPath: p))
        return p
    }

    /// The first `fraction` of `source`'s bytes as a new file.
    static func truncated(_ source: String, fraction: Double, name: String) throws -> String {
        let data = try Data(contentsOf: URL(fileURLWithPath: source))
        return try file(name, data.prefix(Int(Double(data.count) * fraction)))
    }
}
