import FERCore
import Foundation
import XCTest
@testable import FrameSource
import TestSupport

final class FrameSourceTests: XCTestCase {
    override class func setUp() {
        super.setUp()
        FFmpegLogLevel.current = .quiet  // damaged-input tests would otherwise fill the log
    }

    override class func tearDown() {
        try? FileManager.default.removeItem(at: Media.dir)
        super.tearDown()
    }

    /// Decodes everything; returns the frames.
    private func decodeAll(_ source: VideoSource, file: StaticString = #filePath, line: UInt = #line) throws -> [Frame] {
        var frames: [Frame] = []
        while let f = try source.nextFrame() {
            frames.append(f)
            if frames.count > 10_000 { XCTFail("runaway decode", file: file, line: line); break }
        }
        XCTAssertNil(try source.nextFrame(), "stays at the end", file: file, line: line)
        return frames
    }

    /// Checks count, indices, size and timestamps (index / fps) of a constant-rate clip.
    private func checkClip(_ path: String, count: Int, width: Int, height: Int, fps: Double, codec: String,
                           file: StaticString = #filePath, line: UInt = #line) throws -> [Frame] {
        let source = try VideoSource(path)
        XCTAssertEqual(source.width, width, file: file, line: line)
        XCTAssertEqual(source.height, height, file: file, line: line)
        XCTAssertEqual(source.codecName, codec, file: file, line: line)
        XCTAssertEqual(source.frameRate ?? 0, fps, accuracy: 0.01, file: file, line: line)
        XCTAssertFalse(source.isLive, file: file, line: line)
        let frames = try decodeAll(source, file: file, line: line)
        XCTAssertEqual(frames.count, count, "frame count", file: file, line: line)
        for (i, f) in frames.enumerated() {
            XCTAssertEqual(f.index, i, file: file, line: line)
            XCTAssertEqual(f.time, Double(i) / fps, accuracy: 0.002, "time of frame \(i)", file: file, line: line)
            XCTAssertEqual(f.image.width, width, file: file, line: line)
            XCTAssertEqual(f.image.height, height, file: file, line: line)
        }
        return frames
    }

    /// Our grey frames, concatenated, equal ffmpeg's `-pix_fmt gray` output for the same file.
    private func assertMatchesFFmpeg(_ frames: [Frame], _ path: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let reference = try Media.referenceGray(path)
        let ours = Data(frames.flatMap(\.image.pixels))
        XCTAssertEqual(ours.count, reference.count, "byte count vs ffmpeg", file: file, line: line)
        guard ours.count == reference.count else { return }
        let maxDiff = zip(ours, reference).map { abs(Int($0) - Int($1)) }.max() ?? 0
        XCTAssertLessThanOrEqual(maxDiff, 0, "grey differs from ffmpeg's by up to \(maxDiff)", file: file, line: line)
    }

    // MARK: Containers and codecs

    func testMP4H264WithBFrames() throws {
        let path = try Media.h264mp4()
        let frames = try checkClip(path, count: 30, width: 160, height: 120, fps: 25, codec: "h264")
        try assertMatchesFFmpeg(frames, path)
        let source = try VideoSource(path)
        XCTAssertEqual(source.estimatedFrameCount, 30)
        XCTAssertEqual(source.duration ?? 0, 1.2, accuracy: 0.05)
        XCTAssertEqual(source.orientation, .identity)
    }

    func testMatroskaFFV1IsExact() throws {
        let path = try Media.ffv1mkv()
        let frames = try checkClip(path, count: 20, width: 96, height: 64, fps: 10, codec: "ffv1")
        try assertMatchesFFmpeg(frames, path)
    }

    func testWebMVP9() throws {
        let path = try Media.vp9webm()
        let frames = try checkClip(path, count: 10, width: 64, height: 48, fps: 10, codec: "vp9")
        try assertMatchesFFmpeg(frames, path)
    }

    func testAVIMPEG4() throws {
        let path = try Media.mpeg4avi()
        let frames = try checkClip(path, count: 15, width: 128, height: 96, fps: 15, codec: "mpeg4")
        try assertMatchesFFmpeg(frames, path)
    }

    /// Formats off the table path (RGB, 10-bit) and full-range JPEG YUV match ffmpeg's grey too.
    func testOtherPixelFormatsMatchFFmpeg() throws {
        let src = Media.lavfi("testsrc=size=64x48:rate=10")
        let cases: [(String, [String])] = [
            ("rgb.mkv", ["-c:v", "ffv1", "-pix_fmt", "bgr0"]),
            ("10bit.mkv", ["-c:v", "ffv1", "-pix_fmt", "yuv420p10le"]),
            ("mjpeg.avi", ["-c:v", "mjpeg", "-pix_fmt", "yuvj422p", "-q:v", "3"]),
            ("gray.mkv", ["-c:v", "ffv1", "-pix_fmt", "gray"]),
            ("nv12.nut", ["-c:v", "rawvideo", "-pix_fmt", "nv12"]),
        ]
        for (name, args) in cases {
            let path = try Media.make(name, src + ["-frames:v", "3"] + args)
            let frames = try decodeAll(VideoSource(path))
            XCTAssertEqual(frames.count, 3, name)
            try assertMatchesFFmpeg(frames, path)
        }
    }

    /// A stream whose picture size changes mid-way (two raw H.264 streams back to back).
    func testSizeChangeMidStream() throws {
        let a = try Media.make("small.h264", Media.lavfi("testsrc=size=64x48:rate=10") +
                               ["-frames:v", "4", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-f", "h264"])
        let b = try Media.make("large.h264", Media.lavfi("testsrc=size=96x64:rate=10") +
                               ["-frames:v", "4", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-f", "h264"])
        let joined = try Media.file("joined.h264", try Data(contentsOf: URL(fileURLWithPath: a)) + Data(contentsOf: URL(fileURLWithPath: b)))
        let frames = try decodeAll(VideoSource(joined))
        XCTAssertEqual(frames.map(\.image.width), [64, 64, 64, 64, 96, 96, 96, 96])
        XCTAssertEqual(frames.map(\.image.height), [48, 48, 48, 48, 64, 64, 64, 64])
        XCTAssertEqual(frames.map(\.index), Array(0..<8))
        // Each part decodes as it does alone.
        XCTAssertEqual(frames[4].image, try decodeAll(VideoSource(b))[0].image)
    }

    func testOptionsAndFileURL() throws {
        let path = try Media.h264mp4()
        let source = try VideoSource("file:" + path,
                                     options: SourceOptions(threads: 2, formatOptions: ["probesize": "65536", "no_such_option": "1"]))
        XCTAssertEqual(source.ignoredFormatOptions, ["no_such_option"])
        XCTAssertEqual(source.formatName, "mov,mp4,m4a,3gp,3g2,mj2")
        XCTAssertEqual(try decodeAll(source).count, 30)
        // A forced demuxer that does not fit the data fails to open.
        assertOpenError(path, options: SourceOptions(inputFormat: "mpegts")) { e in
            guard case .openFailed = e else { return XCTFail("\(e)") }
        }
    }

    func testGreyValuesOfKnownPicture() throws {
        let frames = try decodeAll(VideoSource(try Media.halves()))
        XCTAssertEqual(frames.count, 5)
        for f in frames {
            // Left half white, right half black; full-range grey (limited-range Y is expanded).
            for y in stride(from: 4, to: 44, by: 8) {
                XCTAssertGreaterThan(f.image[8, y], 245)
                XCTAssertGreaterThan(f.image[24, y], 245)
                XCTAssertLessThan(f.image[40, y], 10)
                XCTAssertLessThan(f.image[60, y], 10)
            }
        }
    }

    func testSingleThreadedDecoderGivesSamePictures() throws {
        let path = try Media.h264mp4()
        let auto = try decodeAll(VideoSource(path))
        let one = try decodeAll(VideoSource(path, options: SourceOptions(threads: 1)))
        XCTAssertEqual(auto.map(\.image), one.map(\.image))
        XCTAssertEqual(auto.map(\.time), one.map(\.time))
    }

    // MARK: Pipes

    /// Writes `data` into `fd` from a background thread, then closes it.
    private func feed(_ data: Data, into fd: Int32) -> Thread {
        let t = Thread {
            data.withUnsafeBytes { raw in
                var off = 0
                while off < raw.count {
                    let n = write(fd, raw.baseAddress! + off, raw.count - off)
                    if n <= 0 { break }
                    off += n
                }
            }
            close(fd)
        }
        t.start()
        return t
    }

    func testPipeDescriptor() throws {
        let path = try Media.h264mkv()
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        defer { close(fds[0]) }
        _ = feed(try Data(contentsOf: URL(fileURLWithPath: path)), into: fds[1])
        let source = try VideoSource("pipe:\(fds[0])")
        XCTAssertFalse(source.isLive)
        let frames = try decodeAll(source)
        XCTAssertEqual(frames.count, 30)
        XCTAssertEqual(frames.last?.time ?? 0, 29.0 / 25, accuracy: 0.002)
        XCTAssertEqual(frames.map(\.image), try decodeAll(VideoSource(path)).map(\.image))
    }

    func testDashMeansStandardInput() throws {
        let path = try Media.h264mkv()
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        let savedStdin = dup(0)
        XCTAssertGreaterThanOrEqual(savedStdin, 0)
        XCTAssertEqual(dup2(fds[0], 0), 0)
        close(fds[0])
        defer { dup2(savedStdin, 0); close(savedStdin) }
        _ = feed(try Data(contentsOf: URL(fileURLWithPath: path)), into: fds[1])
        let frames = try decodeAll(VideoSource("-"))
        XCTAssertEqual(frames.count, 30)
    }

    // MARK: Rotation

    /// The clip is 64×32 with a white square in its top-left corner; ffmpeg 5.1 shows `rotate=90`
    /// turned counter-clockwise (square bottom-left), `rotate=270` clockwise (square top-right).
    /// `keepsColour`: the colour picture is upright like the grey one, its luma follows the grey
    /// picture, and a red source stays red.
    func testColourFramesAreUprightAndKeepTheirColour() throws {
        var options = SourceOptions()
        options.keepsColour = true
        for degrees in [90, 180, 270] {
            let frames = try decodeAll(try VideoSource(try Media.rotated(degrees), options: options))
            let f = try XCTUnwrap(frames.first)
            let c = try XCTUnwrap(f.colour)
            XCTAssertEqual([c.width, c.height], [f.image.width, f.image.height], "rotate=\(degrees)")
            for (x, y) in [(2, 2), (f.image.width - 3, 2), (2, f.image.height - 3), (f.image.width - 3, f.image.height - 3), (8, 56), (56, 24), (24, 8)]
            where x < f.image.width && y < f.image.height {
                // Grey is full range, the colour picture's luma limited range.
                XCTAssertEqual(Double(c.y[y * c.width + x]), 16 + Double(f.image[x, y]) * 219 / 255, accuracy: 3, "(\(x),\(y)) rotate=\(degrees)")
            }
        }
        let red = try Media.make("red.mkv", Media.lavfi("color=c=red:s=34x18:d=0.2") + ["-pix_fmt", "yuv444p", "-c:v", "ffv1"])
        let frames = try decodeAll(try VideoSource(red, options: options))
        XCTAssertEqual(frames.count, 5)
        let c = try XCTUnwrap(frames.last?.colour)
        XCTAssertEqual([c.width, c.height, c.chromaWidth, c.chromaHeight], [34, 18, 17, 9])
        XCTAssertEqual(Double(c.y[40]), 81, accuracy: 2)
        XCTAssertEqual(Double(c.u[20]), 90, accuracy: 2)
        XCTAssertEqual(Double(c.v[20]), 240, accuracy: 2)
        XCTAssertNil(try VideoSource(red).nextFrame()?.colour, "no colour unless asked for")
    }

    func testRotationMetadata() throws {
        let cases: [(degrees: Int, orientation: Orientation, size: (Int, Int), square: (x: Int, y: Int))] = [
            (90, .rotate270, (32, 64), (8, 56)),
            (180, .rotate180, (64, 32), (56, 24)),
            (270, .rotate90, (32, 64), (24, 8)),
        ]
        for c in cases {
            let path = try Media.rotated(c.degrees)
            let source = try VideoSource(path)
            XCTAssertEqual(source.orientation, c.orientation, "rotate=\(c.degrees)")
            XCTAssertEqual(source.width, c.size.0)
            XCTAssertEqual(source.height, c.size.1)
            let frames = try decodeAll(source)
            XCTAssertEqual(frames.count, 3)
            let img = try XCTUnwrap(frames.first?.image)
            XCTAssertEqual(img.width, c.size.0)
            XCTAssertEqual(img.height, c.size.1)
            XCTAssertGreaterThan(img[c.square.x, c.square.y], 200, "square lands at \(c.square) for rotate=\(c.degrees)")
            // Every other corner stays dark.
            for (x, y) in [(2, 2), (img.width - 3, 2), (2, img.height - 3), (img.width - 3, img.height - 3)]
            where abs(x - c.square.x) > 8 || abs(y - c.square.y) > 8 {
                XCTAssertLessThan(img[x, y], 50, "corner (\(x),\(y)) for rotate=\(c.degrees)")
            }
            try assertMatchesFFmpeg(frames, path)
        }
    }

    func testOrientationsAgainstNaiveReference() {
        let w = 37, h = 45, s = 48  // not tile multiples; stride larger than width
        var src = [UInt8](repeating: 0, count: s * h)
        for y in 0..<h { for x in 0..<w { src[y * s + x] = UInt8((x * 7 + y * 13) & 0xFF) } }
        func at(_ x: Int, _ y: Int) -> UInt8 { src[y * s + x] }
        for o in Orientation.allCases {
            let (ow, oh) = o.outputSize(width: w, height: h)
            var dst = [UInt8](repeating: 0, count: ow * oh)
            src.withUnsafeBufferPointer { sp in
                dst.withUnsafeMutableBufferPointer { dp in
                    o.apply(src: sp.baseAddress!, stride: s, width: w, height: h, dst: dp.baseAddress!)
                }
            }
            for y in 0..<oh {
                for x in 0..<ow {
                    let expected: UInt8
                    switch o {
                    case .identity: expected = at(x, y)
                    case .rotate90: expected = at(y, h - 1 - x)
                    case .rotate180: expected = at(w - 1 - x, h - 1 - y)
                    case .rotate270: expected = at(w - 1 - y, x)
                    case .flipHorizontal: expected = at(w - 1 - x, y)
                    case .flipVertical: expected = at(x, h - 1 - y)
                    case .transpose: expected = at(y, x)
                    case .antiTranspose: expected = at(w - 1 - y, h - 1 - x)
                    }
                    if dst[y * ow + x] != expected { XCTFail("\(o) at (\(x),\(y))"); return }
                }
            }
        }
    }

    func testDisplayMatrixMapping() {
        let one: Int32 = 65536, w: Int32 = 1 << 30
        XCTAssertEqual(Orientation(displayMatrix: [one, 0, 0, 0, one, 0, 0, 0, w]), .identity)
        // Matrix as the mov demuxer reports a clip that should turn 90° clockwise (iPhone portrait).
        XCTAssertEqual(Orientation(displayMatrix: [0, one, 0, -one, 0, 0, 0, 0, w]), .rotate90)
        XCTAssertEqual(Orientation(displayMatrix: [0, -one, 0, one, 0, 0, 0, 0, w]), .rotate270)
        XCTAssertEqual(Orientation(displayMatrix: [-one, 0, 0, 0, -one, 0, 0, 0, w]), .rotate180)
        XCTAssertEqual(Orientation(displayMatrix: [-one, 0, 0, 0, one, 0, 0, 0, w]), .flipHorizontal)
        XCTAssertEqual(Orientation(displayMatrix: [one, 0, 0, 0, -one, 0, 0, 0, w]), .flipVertical)
        XCTAssertEqual(Orientation(displayMatrix: [0, 0, 0, 0, 0, 0, 0, 0, 0]), .identity, "degenerate matrix")
    }

    // MARK: Timestamps

    func testVariableFrameRateTimes() throws {
        let frames = try decodeAll(VideoSource(try Media.vfrmkv()))
        let expected = [0.0, 0.1, 0.2, 0.5, 0.6, 1.5]
        XCTAssertEqual(frames.count, expected.count)
        for (f, t) in zip(frames, expected) { XCTAssertEqual(f.time, t, accuracy: 0.002, "frame \(f.index)") }
    }

    func testRawStreamWithoutContainerTimestamps() throws {
        let source = try VideoSource(try Media.rawH264())
        let frames = try decodeAll(source)
        XCTAssertEqual(frames.count, 12)
        let fps = try XCTUnwrap(source.frameRate)
        for (i, f) in frames.enumerated() {
            XCTAssertEqual(f.time, Double(i) / fps, accuracy: 0.002, "frame \(i)")
        }
    }

    // MARK: Errors

    private func assertOpenError(_ input: String, options: SourceOptions = .init(),
                                 file: StaticString = #filePath, line: UInt = #line,
                                 _ check: (FrameSourceError) -> Void) {
        do {
            _ = try VideoSource(input, options: options)
            XCTFail("opened \(input)", file: file, line: line)
        } catch let e as FrameSourceError {
            XCTAssertTrue(e.description.contains("'\(input)'"), "names the input: \(e)", file: file, line: line)
            XCTAssertFalse(e.description.contains("\n"), file: file, line: line)
            check(e)
        } catch {
            XCTFail("unexpected \(error)", file: file, line: line)
        }
    }

    func testMissingFile() {
        let path = Media.path("missing.mp4")
        assertOpenError(path) { e in
            XCTAssertEqual(e, .openFailed(input: path, reason: "No such file or directory"))
            XCTAssertEqual(e.description, "cannot open '\(path)': No such file or directory")
        }
    }

    func testEmptyFile() throws {
        let path = try Media.file("empty.mp4", Data())
        assertOpenError(path) { e in
            guard case .openFailed = e else { return XCTFail("\(e)") }
        }
    }

    func testTextFile() throws {
        let path = try Media.file("notes.txt", Data("hello, this is not a video\nsecond line\n".utf8))
        assertOpenError(path) { e in
            XCTAssertEqual(e, .openFailed(input: path, reason: "Invalid data found when processing input"))
        }
    }

    func testAudioOnlyFile() throws {
        let path = try Media.audioOnly()
        assertOpenError(path) { e in
            XCTAssertEqual(e, .noVideoStream(input: path))
            XCTAssertEqual(e.description, "no video stream in '\(path)'")
        }
        let cover = try Media.audioWithCover()
        assertOpenError(cover) { e in XCTAssertEqual(e, .noVideoStream(input: cover)) }
    }

    func testUnknownSchemeAndFormat() {
        assertOpenError("nosuchproto://host/x") { e in
            XCTAssertEqual(e, .openFailed(input: "nosuchproto://host/x", reason: "Protocol not found"))
        }
        let path = Media.path("whatever")
        assertOpenError(path, options: SourceOptions(inputFormat: "no_such_format")) { e in
            guard case .openFailed(_, let reason) = e else { return XCTFail("\(e)") }
            XCTAssertTrue(reason.contains("no_such_format"))
        }
    }

    func testMissingCamera() {
        assertOpenError("v4l2:/dev/video-does-not-exist") { e in
            guard case .openFailed = e else { return XCTFail("\(e)") }
        }
    }

    /// Truncated files give the frames that are there, then end or fail cleanly.
    func testTruncatedFiles() throws {
        let mkv = try Media.truncated(try Media.h264mkv(), fraction: 0.6, name: "cut.mkv")
        let mp4 = try Media.truncated(try Media.make("faststart.mp4", ["-i", try Media.h264mp4(), "-c", "copy", "-movflags", "+faststart"]),
                                      fraction: 0.6, name: "cut.mp4")
        for path in [mkv, mp4] {
            let source = try VideoSource(path)
            var count = 0
            do {
                while try source.nextFrame() != nil { count += 1 }
            } catch let e as FrameSourceError {
                XCTAssertTrue(e.description.contains(path), "\(e)")
            }
            XCTAssertGreaterThan(count, 5, path)
            XCTAssertLessThan(count, 30, path)
            XCTAssertNil(try source.nextFrame())
        }
        // moov atom at the end, cut off: cannot open at all.
        let noIndex = try Media.truncated(try Media.h264mp4(), fraction: 0.6, name: "cut-noindex.mp4")
        assertOpenError(noIndex) { e in
            guard case .openFailed = e else { return XCTFail("\(e)") }
        }
    }

    // MARK: Cancel and timeouts

    func testOpenTimesOut() throws {
        let server = try LoopbackSocket(listening: true)  // accepts connections, never answers
        defer { server.close() }
        let url = "tcp://127.0.0.1:\(server.port)"
        let start = Date()
        assertOpenError(url, options: SourceOptions(ioTimeout: 0.3)) { e in
            XCTAssertEqual(e, .timedOut(input: url, seconds: 0.3))
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 3)
    }

    func testCancelFromAnotherThread() throws {
        let server = try LoopbackSocket(listening: true)  // accepts connections, never answers
        defer { server.close() }
        let url = "tcp://127.0.0.1:\(server.port)"
        let canceller = SourceCanceller()
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.2) { canceller.cancel() }
        let start = Date()
        assertOpenError(url, options: SourceOptions(canceller: canceller)) { e in
            XCTAssertEqual(e, .cancelled(input: url))
        }
        XCTAssertLessThan(Date().timeIntervalSince(start), 3)
    }

    func testCancelEndsDecoding() throws {
        let source = try VideoSource(try Media.h264mp4())
        XCTAssertNotNil(try source.nextFrame())
        source.cancel()
        XCTAssertNil(try source.nextFrame())
    }

    func testInputSpellings() {
        func check(_ input: String, format: String? = nil, _ url: String, _ fmt: String?, _ live: Bool,
                   line: UInt = #line) {
            let r = VideoSource.resolve(input, inputFormat: format)
            XCTAssertEqual(r.url, url, line: line)
            XCTAssertEqual(r.formatName, fmt, line: line)
            XCTAssertEqual(r.live, live, line: line)
        }
        check("-", "pipe:0", nil, false)
        check("v4l2:/dev/video2", "/dev/video2", "video4linux2", true)
        check("/dev/video0", format: "v4l2", "/dev/video0", "v4l2", true)
        check("clip.mp4", "clip.mp4", nil, false)
        check("dir:with/colon.mp4", "dir:with/colon.mp4", nil, false)
        check("./a:b/c.mp4", "./a:b/c.mp4", nil, false)
        check("file:clip.mp4", "file:clip.mp4", nil, false)
        check("http://host/clip.mp4", "http://host/clip.mp4", nil, false)
        for live in ["rtsp://cam/stream", "RTMP://host/app", "udp://0.0.0.0:1234", "srt://host:9000"] {
            check(live, live, nil, true)
            XCTAssertTrue(InputKind.isNetwork(live), live)
        }
        // One list decides both: downloads are network inputs (time-outs) but not live.
        XCTAssertTrue(InputKind.isNetwork("https://host/clip.mp4"))
        XCTAssertFalse(InputKind.isLive("https://host/clip.mp4"))
        for local in ["clip.mp4", "-", "file:clip.mp4", "v4l2:/dev/video0", "./a:b/c.mp4"] {
            XCTAssertFalse(InputKind.isNetwork(local), local)
        }
        XCTAssertEqual(InputKind.scheme(of: "RTSP://cam/stream"), "rtsp")
        // A refused live URL fails to open cleanly, naming the input.
        assertOpenError("rtsp://127.0.0.1:1/none", options: SourceOptions(ioTimeout: 2)) { e in
            guard case .openFailed = e else { return XCTFail("\(e)") }
        }
    }

    // MARK: Throughput (opt-in: FER_BENCH=1 [FER_BENCH_FILE=some.mp4]; debug builds are slower)

    func testDecodeThroughput() throws {
        guard ProcessInfo.processInfo.environment["FER_BENCH"] != nil else { throw XCTSkip("set FER_BENCH=1") }
        let path = try ProcessInfo.processInfo.environment["FER_BENCH_FILE"] ?? Media.make("bench640.mp4", Media.lavfi("testsrc2=size=640x480:rate=30") +
                                  ["-frames:v", "600", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"])
        for run in 0..<3 {
            let source = try VideoSource(path)
            let start = Date()
            var n = 0
            var checksum = 0
            while let f = try source.nextFrame() { n += 1; checksum &+= Int(f.image.pixels[n % 1000]) }
            let secs = Date().timeIntervalSince(start)
            print("bench run \(run): \(n) frames 640x480 h264 in \(String(format: "%.2f", secs)) s = \(String(format: "%.0f", Double(n) / secs)) frames/s (checksum \(checksum))")
            XCTAssertEqual(n, 600)
        }
    }
}
