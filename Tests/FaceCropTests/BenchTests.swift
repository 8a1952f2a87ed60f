@testable import FaceCrop
import FERCore
import Foundation
import XCTest

/// Speed measurement, skipped unless FER_BENCH is set. Run in release:
///   FER_BENCH=1 swift test -c release -Xswiftc -enable-testing --filter BenchTests
/// CPU time of the calling thread, in ms (insensitive to other processes sharing the cores).
func threadCPUms() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) * 1000 + Double(ts.tv_nsec) / 1e6
}

final class BenchTests: XCTestCase {
    func testDetectionSpeed() throws {
        guard ProcessInfo.processInfo.environment["FER_BENCH"] != nil else { throw XCTSkip("set FER_BENCH=1 to measure") }
        try Fixtures.requireCascade()
        var t = Date()
        let cascade = try HaarCascade(contentsOfFile: Fixtures.cascadePath)
        print(String(format: "BENCH cascade load: %.1f ms", Date().timeIntervalSince(t) * 1000))
        let reps = Int(ProcessInfo.processInfo.environment["FER_BENCH_REPS"] ?? "20") ?? 20
        for (w, h) in [(640, 480), (1280, 720), (1920, 1080)] {
            // A frame with the astronaut's face at about a quarter of the frame height, on a
            // textured background (the whole photo, stretched).
            var frame = try Fixtures.astronaut(width: w, height: h)
            let side = h / 3
            let face = try Fixtures.astronaut(width: side * 512 / 95, height: side * 512 / 95)
                .cut(Box(x: side * 150 / 95, y: side * 40 / 95, width: side * 150 / 95, height: side * 150 / 95))
            frame.paste(face, x: w / 2, y: h / 3)
            for opts in [FaceDetector.Options(), FaceDetector.Options(detectionWidth: 640)] {
                let det = FaceDetector(cascade: cascade, options: opts)
                var faces: [Box] = []
                faces = det.detect(in: frame)   // warm-up
                t = Date()
                var times: [Double] = []
                for _ in 0..<reps {
                    let c0 = threadCPUms()
                    faces = det.detect(in: frame)
                    times.append(threadCPUms() - c0)
                }
                times.sort()
                let ms = times[0], med = times[times.count / 2]
                let wall = Date().timeIntervalSince(t) * 1000 / Double(reps)
                let s = det.detectionScale(width: w, height: h)
                print(String(format: "BENCH %dx%d detectionWidth %d (detect at %dx%d, min face %d px): min %.2f / median %.2f ms/frame CPU (wall mean %.1f), faces %@", w, h, opts.detectionWidth,
                             Int((Double(w) * s).rounded()), Int((Double(h) * s).rounded()), det.effectiveMinFaceSize(width: w, height: h), ms, med, wall, faces.description))
                if opts.detectionWidth == 320 { profile(det, frame) }
            }
        }
    }

    /// Rough split of one detection into its phases (CPU ms).
    func profile(_ det: FaceDetector, _ frame: GrayImage) {
        let s = det.detectionScale(width: frame.width, height: frame.height)
        let dw = Int((Double(frame.width) * s).rounded()), dh = Int((Double(frame.height) * s).rounded())
        var c = threadCPUms()
        var small = frame.pixels
        for _ in 0..<10 { small = frame.pixels.withUnsafeBufferPointer { ImageOps.resizeArea($0.baseAddress!, frame.width, frame.height, dw, dh) } }
        let tArea = (threadCPUms() - c) / 10
        var buf = [UInt8](repeating: 0, count: dw * dh)
        var sum = [UInt32](repeating: 0, count: (dw + 1) * (dh + 1)), sq = sum
        var tResize = 0.0, tIntegral = 0.0
        var f = 1.1
        while Int(Double(dh) / f) >= 24 {
            let lw = Int((Double(dw) / f).rounded()), lh = Int((Double(dh) / f).rounded())
            c = threadCPUms()
            for _ in 0..<10 { small.withUnsafeBufferPointer { s in buf.withUnsafeMutableBufferPointer { ImageOps.resizeBilinear(s.baseAddress!, dw, dh, $0.baseAddress!, lw, lh) } } }
            tResize += (threadCPUms() - c) / 10
            c = threadCPUms()
            for _ in 0..<10 { buf.withUnsafeBufferPointer { b in sum.withUnsafeMutableBufferPointer { s in sq.withUnsafeMutableBufferPointer { q in
                ImageOps.integral(b.baseAddress!, lw, lh, sum: s.baseAddress!, sqsum: q.baseAddress!, stride: dw + 1) } } } }
            tIntegral += (threadCPUms() - c) / 10
            f *= 1.1
        }
        c = threadCPUms()
        var n = 0
        for _ in 0..<10 { n = det.rawDetections(in: frame).boxes.count }
        let tRaw = (threadCPUms() - c) / 10
        print(String(format: "BENCH   phases: area %.2f, pyramid resize %.2f, integrals %.2f, all raw %.2f (hits %d) ms", tArea, tResize, tIntegral, tRaw, n))
    }
}
