@testable import FaceCrop
import FERCore
import Foundation
import XCTest

final class DevProbeTests: XCTestCase {
    func testProbe() throws {
        guard ProcessInfo.processInfo.environment["FER_PROBE"] != nil else { throw XCTSkip("dev only") }
        let img = try Fixtures.astronaut()
        let t0 = Date()
        let cascade = try HaarCascade(contentsOfFile: Fixtures.cascadePath)
        print("load", Date().timeIntervalSince(t0), cascade.stageCount, cascade.weakClassifierCount, cascade.isStumpBased)
        var det = FaceDetector(cascade: cascade, options: .init(minFaceSize: 0, minNeighbors: 0, detectionWidth: 0))
        let t1 = Date()
        let raw = det.rawDetections(in: img)
        print("raw", raw.boxes.count, Date().timeIntervalSince(t1))
        det.options.minNeighbors = 3
        print("grouped3", det.detect(in: img))
        det.options = .init()
        print("default", det.detect(in: img))
    }
}
