@testable import FaceCrop
import FERCore
import Foundation
import XCTest

/// Development-only comparison with OpenCV (skipped unless FER_CMP_DIR is set): writes the raw
/// (ungrouped) hits for every `name_WxH.gray` in that folder to `name.<cascade>.mine.txt`, one
/// "x,y,side" per line, sorted. The OpenCV side, for the same files (python3-opencv):
///
///     img = np.fromfile(path, np.uint8).reshape(h, w)
///     r = cv2.CascadeClassifier(cascade).detectMultiScale(img, 1.1, 0)
///     lines = sorted('%d,%d,%d' % (x, y, s) for x, y, s, _ in r)
///
/// FER_CMP_CASCADES: comma-separated cascade paths (default: the frontal-face one);
/// FER_CMP_SCAN=scalar to check the scalar scan instead of the vector one.
/// On 6 images × 4 Debian cascades (stumps, trees, tilted features) the lists were identical.
final class DevProbeTests: XCTestCase {
    func testDumpRawHits() throws {
        guard let dir = ProcessInfo.processInfo.environment["FER_CMP_DIR"] else { throw XCTSkip("dev only") }
        let cascades = (ProcessInfo.processInfo.environment["FER_CMP_CASCADES"] ?? Fixtures.cascadePath).split(separator: ",").map(String.init)
        for cpath in cascades {
            let cascade = try HaarCascade(contentsOfFile: cpath)
            let cname = URL(fileURLWithPath: cpath).deletingPathExtension().lastPathComponent
            let det = FaceDetector(cascade: cascade, options: .init(minFaceSize: 0, minNeighbors: 0, detectionWidth: 0))
            for f in try FileManager.default.contentsOfDirectory(atPath: dir) where f.hasSuffix(".gray") {
                let stem = String(f.dropLast(5))
                let dims = stem.split(separator: "_").last!.split(separator: "x")
                let w = Int(dims[0])!, h = Int(dims[1])!
                let data = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(f)"))
                let img = GrayImage(width: w, height: h, pixels: [UInt8](data))
                let mode: FaceDetector.ScanMode = ProcessInfo.processInfo.environment["FER_CMP_SCAN"] == "scalar" ? .scalar : .vector
                let raw = det.rawDetections(in: img, scan: mode).boxes
                let lines = raw.map { "\($0.x),\($0.y),\($0.width)" }.sorted().joined(separator: "\n")
                try (lines + "\n").write(toFile: "\(dir)/\(stem).\(cname).mine.txt", atomically: true, encoding: .utf8)
            }
        }
    }
}
