import FERCore
import Foundation
import XCTest

/// Real inputs built at test time from files Debian packages install (nothing committed).
public enum Fixtures {
    public static let cascadePath = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml"
    public static let lbpCascadePath = "/usr/share/opencv4/lbpcascades/lbpcascade_frontalface.xml"
    /// Public-domain portrait shipped by python3-skimage (512×512, RGB PNG).
    public static let astronautPath = "/usr/lib/python3/dist-packages/skimage/data/astronaut.png"
    /// Where the astronaut's face is (checked by eye and with OpenCV's detector: [176,66,95,95]).
    public static let astronautFace = Box(x: 176, y: 66, width: 95, height: 95)

    public static func executable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") + ["/usr/bin", "/usr/local/bin"] {
            let p = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    /// Runs a tool, returning its stdout; throws with its stderr if it fails.
    public static func run(_ tool: String, _ args: [String]) throws -> Data {
        guard let exe = executable(tool) else { throw XCTSkip("\(tool) not found on PATH") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            throw NSError(domain: "Fixtures", code: Int(p.terminationStatus), userInfo: [
                NSLocalizedDescriptionKey: "\(tool) \(args.joined(separator: " ")) failed: \(String(decoding: errData, as: UTF8.self))"])
        }
        return data
    }

    /// Decodes an image file to grey with the ffmpeg CLI, optionally scaled to `width`×`height`.
    public static func gray(_ path: String, width: Int? = nil, height: Int? = nil) throws -> GrayImage {
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("\(path) is absent") }
        var w = width, h = height
        if w == nil || h == nil {
            let probe = try run("ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
                                            "-of", "csv=p=0:s=x", path])
            let dims = String(decoding: probe, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "x")
            guard dims.count == 2, let pw = Int(dims[0]), let ph = Int(dims[1]) else {
                throw NSError(domain: "Fixtures", code: 1, userInfo: [NSLocalizedDescriptionKey: "cannot probe \(path)"])
            }
            w = w ?? pw; h = h ?? ph
        }
        var args = ["-v", "error", "-i", path]
        if width != nil || height != nil { args += ["-vf", "scale=\(w!):\(h!):flags=area"] }
        args += ["-f", "rawvideo", "-pix_fmt", "gray", "-"]
        let data = try run("ffmpeg", args)
        guard data.count == w! * h! else {
            throw NSError(domain: "Fixtures", code: 2, userInfo: [NSLocalizedDescriptionKey: "ffmpeg gave \(data.count) bytes for \(w!)×\(h!)"])
        }
        return GrayImage(width: w!, height: h!, pixels: [UInt8](data))
    }

    private static let cacheLock = NSLock()
    nonisolated(unsafe) private static var cache: [String: GrayImage] = [:]

    /// The astronaut portrait in grey (decoded once per size per test run).
    public static func astronaut(width: Int? = nil, height: Int? = nil) throws -> GrayImage {
        guard FileManager.default.fileExists(atPath: astronautPath) else {
            throw XCTSkip("\(astronautPath) is absent (Debian package python3-skimage)")
        }
        let key = "\(width ?? 0)x\(height ?? 0)"
        if let hit = cacheLock.withLock({ cache[key] }) { return hit }
        let img = try gray(astronautPath, width: width, height: height)
        cacheLock.withLock { cache[key] = img }
        return img
    }

    public static func requireCascade() throws {
        guard FileManager.default.fileExists(atPath: cascadePath) else {
            throw XCTSkip("\(cascadePath) is absent (Debian package opencv-data)")
        }
    }
}

extension GrayImage {
    /// Copies `src` into this image with its top-left corner at (x, y), clipping at the edges.
    public mutating func paste(_ src: GrayImage, x: Int, y: Int) {
        for sy in 0..<src.height {
            let ty = y + sy
            guard ty >= 0 && ty < height else { continue }
            for sx in 0..<src.width {
                let tx = x + sx
                guard tx >= 0 && tx < width else { continue }
                self[tx, ty] = src[sx, sy]
            }
        }
    }

    /// The sub-image `box` (must lie inside).
    public func cut(_ box: Box) -> GrayImage {
        var out = GrayImage(width: box.width, height: box.height)
        for y in 0..<box.height { for x in 0..<box.width { out[x, y] = self[box.x + x, box.y + y] } }
        return out
    }
}
