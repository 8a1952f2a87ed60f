import Foundation
import XCTest
import TestSupport

/// Runs programs and makes inputs for end-to-end tests of the built `fer-stream` binary.
enum CLI {
    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
        var lines: [String] { stdout.split(separator: "\n").map(String.init) }
    }

    /// The directory SwiftPM builds products into (the test bundle sits there too).
    static var productsDirectory: URL { Bundle.main.bundleURL }
    static var binary: String { productsDirectory.appendingPathComponent("fer-stream").path }

    /// The repository root (this file is Tests/CLITests/CLITestSupport.swift).
    static var root: URL { URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }

    static var model: String { root.appendingPathComponent("Models/vgg19-fer2013.safetensors").path }

    static func run(_ executable: String, _ arguments: [String], stdin: FileHandle? = nil, environment: [String: String]? = nil) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = stdin ?? FileHandle.nullDevice
        try process.run()
        // Read both pipes concurrently so neither fills up and blocks the child.
        final class Box: @unchecked Sendable { var data = Data() }
        let errBox = Box()
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            errBox.data = err.fileHandleForReading.readDataToEndOfFile()
            done.signal()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        done.wait()
        return Result(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errBox.data, as: UTF8.self))
    }

    /// Runs a program and returns its standard output as bytes (binary output); fails on a non-zero exit.
    static func runData(_ executable: String, _ arguments: [String]) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, "\(executable) \(arguments)")
        return data
    }

    static func ferStream(_ arguments: [String], stdin: FileHandle? = nil) throws -> Result {
        try run(binary, arguments, stdin: stdin)
    }

    static func shell(_ script: String) throws -> Result {
        try run("/bin/bash", ["-c", script])
    }

    static func tempDirectory() throws -> URL {
        try Scratch.directory("fer-cli")
    }

    static let portrait = "/usr/lib/python3/dist-packages/skimage/data/astronaut.png"

    /// A short clip of a real face (Debian's public-domain astronaut portrait) zooming slowly.
    static func faceClip(in dir: URL, name: String = "face.mp4", frames: Int = 12, size: Int = 320) throws -> String {
        guard FileManager.default.fileExists(atPath: portrait) else { throw XCTSkip("\(portrait) is missing: apt-get install python3-skimage") }
        let path = dir.appendingPathComponent(name).path
        let r = try run("/usr/bin/ffmpeg", ["-v", "error", "-y", "-loop", "1", "-framerate", "25", "-i", portrait, "-vf",
                                            "zoompan=z='1+0.004*on':x='(iw-iw/zoom)*0.3':y='(ih-ih/zoom)*0.2':d=1:s=\(size)x\(size):fps=25,format=yuv420p",
                                            "-frames:v", "\(frames)", "-c:v", "libx264", "-preset", "veryfast", path])
        XCTAssertEqual(r.status, 0, r.stderr)
        return path
    }
}
