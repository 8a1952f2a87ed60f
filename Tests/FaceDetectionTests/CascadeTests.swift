@testable import FaceDetection
import FERCore
import Foundation
import XCTest
import TestSupport

final class CascadeTests: XCTestCase {
    private func tempFile(_ text: String, name: String = "cascade.xml") throws -> String {
        let dir = try Scratch.directory("facecrop")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    private func loadError(_ path: String) -> CascadeError? {
        do {
            _ = try HaarCascade(contentsOfFile: path)
            return nil
        } catch let e as CascadeError {
            return e
        } catch {
            XCTFail("unexpected error type \(error)")
            return nil
        }
    }

    /// The Debian default frontal-face cascade parses into the structure its file declares.
    /// (Its load time is a benchmark's business, not a timed assertion's.)
    func testLoadsDefaultFrontalFaceCascade() throws {
        try Fixtures.requireCascade()
        let c = try HaarCascade(contentsOfFile: Fixtures.cascadePath)
        XCTAssertEqual(c.windowWidth, 24)
        XCTAssertEqual(c.windowHeight, 24)
        XCTAssertEqual(c.stageCount, 25)
        XCTAssertEqual(c.weakClassifierCount, 2913)
        XCTAssertEqual(c.features.count, 2913)
        XCTAssertTrue(c.isStumpBased)
        XCTAssertFalse(c.usesTiltedFeatures)
        // First stump of the file: "0 -1 0 -3.1511999666690826e-02", leaves 2.0875… -2.2172…
        XCTAssertEqual(c.nodes[0], HaarCascade.Node(feature: 0, threshold: -3.1511999666690826e-02, left: 0, right: -1))
        XCTAssertEqual(c.leaves[0], 2.0875380039215088, accuracy: 1e-6)
        XCTAssertEqual(c.leaves[1], -2.2172100543975830, accuracy: 1e-6)
        XCTAssertEqual(c.stages[0].threshold, Float(-5.0425500869750977) - 1e-5, accuracy: 1e-6)
        // Last feature of the file: "9 1 6 22 -1.", "12 1 3 11 2.", "9 12 3 11 2."
        XCTAssertEqual(c.features.last?.rects.map { [$0.x, $0.y, $0.width, $0.height] }, [[9, 1, 6, 22], [12, 1, 3, 11], [9, 12, 3, 11]])
        XCTAssertEqual(c.features.last?.rects.map(\.weight), [-1, 2, 2])
    }

    /// Tree-shaped weak classifiers and tilted features (another Debian cascade) are read.
    func testLoadsTreeCascadeWithTiltedFeatures() throws {
        let path = "/usr/share/opencv4/haarcascades/haarcascade_eye_tree_eyeglasses.xml"
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("\(path) absent") }
        let c = try HaarCascade(contentsOfFile: path)
        XCTAssertFalse(c.isStumpBased)
        XCTAssertTrue(c.usesTiltedFeatures)
        XCTAssertEqual(c.windowWidth, 20)
    }

    func testMissingFileIsATypedError() {
        let path = "/nonexistent/dir/no-such-cascade.xml"
        let e = loadError(path)
        XCTAssertEqual(e, .cascadeNotFound(path: path))
        XCTAssertEqual(e?.description, "face cascade /nonexistent/dir/no-such-cascade.xml: file not found")
    }

    func testDirectoryIsUnreadable() {
        guard case .cascadeUnreadable(let path, _)? = loadError("/tmp") else { return XCTFail("expected cascadeUnreadable") }
        XCTAssertEqual(path, "/tmp")
    }

    func testGarbageIsMalformed() throws {
        for text in ["this is not xml at all", "<opencv_storage><cascade><stageType>BOOST</stageType>",
                     "\u{0}\u{1}\u{2}binary", "<a><b></a></b>", ""] {
            let path = try tempFile(text)
            guard case .malformedCascade(let p, let reason)? = loadError(path) else {
                XCTFail("expected malformedCascade for \(text.debugDescription), got \(String(describing: loadError(path)))")
                continue
            }
            XCTAssertEqual(p, path)
            XCTAssertFalse(reason.isEmpty)
            let d = CascadeError.malformedCascade(path: p, reason: reason).description
            XCTAssertTrue(d.hasPrefix("face cascade \(path): malformed cascade XML: "), d)
            XCTAssertFalse(d.contains("\n"), "one line: \(d)")
        }
    }

    func testWellFormedXMLWithoutCascadePartsIsMalformed() throws {
        let path = try tempFile("""
            <?xml version="1.0"?>
            <opencv_storage><cascade type_id="opencv-cascade-classifier"><stageType>BOOST</stageType>
            <featureType>HAAR</featureType><height>24</height><width>24</width>
            <stages><_><stageThreshold>1.0</stageThreshold><weakClassifiers><_>
            <internalNodes>0 -1 7 0.5</internalNodes><leafValues>1 -1</leafValues></_></weakClassifiers></_></stages>
            <features><_><rects><_>0 0 2 2 1.</_></rects></_></features></cascade></opencv_storage>
            """)
        guard case .malformedCascade(_, let reason)? = loadError(path) else { return XCTFail("expected malformedCascade") }
        XCTAssertTrue(reason.contains("feature 7"), reason)
    }

    func testErrorDescriptionIsOneLine() throws {
        let path = try tempFile("<opencv_storage><cascade><stageType>BOOST</stageType><featureType>HAAR</featureType>" +
                                "<height>24</height><width>\r\n2\n4\r\n</width></cascade></opencv_storage>")
        let e = try XCTUnwrap(loadError(path))
        XCTAssertTrue(e.description.contains("<width>"), e.description)
        XCTAssertFalse(e.description.contains { $0.isNewline }, e.description)
    }

    func testRectangleOutsideWindowIsMalformed() throws {
        let path = try tempFile(Self.tinyCascade(rects: ["20 0 8 4 1."]))
        guard case .malformedCascade(_, let reason)? = loadError(path) else { return XCTFail("expected malformedCascade") }
        XCTAssertTrue(reason.contains("outside"), reason)
    }

    /// Integers a hostile file holds (Int's edges, as exact doubles) are malformed-cascade
    /// errors, not overflow traps: `x + w` and `-child` used to trap on them (issue 36).
    func testHugeIntegersAreMalformedNotATrap() throws {
        let big = "9.2e18", min = "-9223372036854775808"
        for rect in ["\(big) 0 \(big) 4 1.", "0 \(big) 3 \(big) 1.", "\(min) 0 3 4 1.", "3 3 \(min) 1 1."] {
            for tilted in [false, true] {
                let xml = Self.tinyCascade(rects: [rect], tilted: tilted)
                XCTAssertThrowsError(try HaarCascade(xml: Array(xml.utf8), name: "huge")) { error in
                    guard case .malformedCascade(_, let reason)? = error as? CascadeError else { return XCTFail("\(error)") }
                    XCTAssertTrue(reason.contains("outside"), reason)
                }
            }
        }
        for nodes in ["\(min) 0 0 0.5 -1 -2 1 1.", "1 \(min) 0 0.5 -1 -2 1 1.", "1 0 \(big) 0.5 -1 -2 1 1.", "1 0 0 0.5 -1 -2 \(min) 1."] {
            let xml = Self.tinyCascade().replacingOccurrences(of: "1 0 0 0.5 -1 -2 1 1.0", with: nodes)
            XCTAssertNotEqual(xml, Self.tinyCascade())
            XCTAssertThrowsError(try HaarCascade(xml: Array(xml.utf8), name: "huge")) { error in
                guard case .malformedCascade? = error as? CascadeError else { return XCTFail("\(error)") }
            }
        }
        for (tag, value) in [("width", big), ("height", min), ("maxCatCount", "1e300")] {
            let xml = Self.tinyCascade().replacingOccurrences(of: tag == "maxCatCount" ? "<maxCatCount>0<" : "<\(tag)>6<",
                                                             with: "<\(tag)>\(value)<")
            XCTAssertThrowsError(try HaarCascade(xml: Array(xml.utf8), name: "huge"), tag)
        }
    }

    func testLBPCascadeIsUnsupported() throws {
        let path = Fixtures.lbpCascadePath
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("\(path) absent (opencv-data)") }
        let e = loadError(path)
        guard case .unsupportedCascade(let p, let reason)? = e else { return XCTFail("expected unsupportedCascade, got \(String(describing: e))") }
        XCTAssertEqual(p, path)
        XCTAssertTrue(reason.contains("LBP"), reason)
        XCTAssertEqual(e?.description, "face cascade \(path): unsupported cascade: featureType LBP, only HAAR is supported")
    }

    func testOldStyleCascadeIsUnsupported() throws {
        let path = try tempFile("""
            <opencv_storage><haarcascade_x type_id="opencv-haar-classifier"><size>20 20</size>
            <stages><_><trees></trees></_></stages></haarcascade_x></opencv_storage>
            """)
        guard case .unsupportedCascade(_, let reason)? = loadError(path) else { return XCTFail("expected unsupportedCascade") }
        XCTAssertTrue(reason.contains("old-style"), reason)
    }

    func testNonBoostStageTypeIsUnsupported() throws {
        let path = try tempFile(Self.tinyCascade(rects: ["0 0 3 6 1."]).replacingOccurrences(of: "BOOST", with: "GAB"))
        guard case .unsupportedCascade? = loadError(path) else { return XCTFail("expected unsupportedCascade") }
    }

    // MARK: evaluation semantics on a hand-made cascade

    /// A 6×6-window cascade with one stage holding one 2-node tree:
    /// node 0 (feature 0 = left half sum) < t0 → node 1, else leaf 0;
    /// node 1 (feature 1 = right half sum) < t1 → leaf 1, else leaf 2.
    /// Leaves −1, −1, +1; stage threshold 0: only leaf 2 passes.
    static func tinyCascade(rects: [String]? = nil, t0: Double = 0.5, t1: Double = 1.0, tilted: Bool = false) -> String {
        let r = rects ?? ["0 0 3 6 1."]
        let feature0 = "<_><rects>" + r.map { "<_>\($0)</_>" }.joined() + "</rects>\(tilted ? "<tilted>1</tilted>" : "")</_>"
        return """
            <?xml version="1.0"?>
            <!-- hand-made test cascade -->
            <opencv_storage>
            <cascade type_id="opencv-cascade-classifier"><stageType>BOOST</stageType>
              <featureType>HAAR</featureType><height>6</height><width>6</width>
              <stageParams><maxWeakCount>1</maxWeakCount></stageParams>
              <featureParams><maxCatCount>0</maxCatCount></featureParams>
              <stageNum>1</stageNum>
              <stages><_><maxWeakCount>1</maxWeakCount><stageThreshold>0.</stageThreshold>
                <weakClassifiers><_>
                  <internalNodes>1 0 0 \(t0) -1 -2 1 \(t1)</internalNodes>
                  <leafValues>-1. -1. 1.</leafValues></_></weakClassifiers></_></stages>
              <features>\(feature0)<_><rects><_>3 0 3 6 1.</_></rects></_></features>
            </cascade>
            </opencv_storage>
            """
    }

    private func accepts(_ xml: String, _ image: GrayImage) throws -> Bool {
        let c = try HaarCascade(xml: Array(xml.utf8), name: "tiny")
        XCTAssertFalse(c.isStumpBased)
        let d = FaceDetector(cascade: c, options: .init(minFaceSize: 0, minNeighbors: 0, detectionWidth: 0))
        let hits = d.rawDetections(in: image).boxes
        XCTAssertTrue(hits.allSatisfy { $0 == Box(x: 0, y: 0, width: 6, height: 6) })
        return hits.count == 1
    }

    /// Left `a`, right `b` (columns 0–2 and 3–5).
    private func halves(_ a: UInt8, _ b: UInt8) -> GrayImage {
        var img = GrayImage(width: 6, height: 6)
        for y in 0..<6 { for x in 0..<6 { img[x, y] = x < 3 ? a : b } }
        return img
    }

    /// Feature values are divided by area·σ of the window interior (4×4 here): for a black left
    /// and grey-level-v right half the normalised values are 0 and 18·v / (16·v/2) = 2.25 for
    /// any v, so the tree reaches leaf 2 (accept) when t1 < 2.25 and leaf 1 otherwise.
    func testTreeWalkLeavesAndVarianceNormalisation() throws {
        let accept = Self.tinyCascade(t0: 0.5, t1: 1.0)
        XCTAssertTrue(try accepts(accept, halves(0, 200)))
        XCTAssertTrue(try accepts(accept, halves(0, 40)), "contrast-invariant (σ = 20)")
        XCTAssertFalse(try accepts(accept, halves(200, 0)), "node 0 → leaf 0")
        XCTAssertFalse(try accepts(Self.tinyCascade(t0: 0.5, t1: 3.0), halves(0, 200)), "node 1 → leaf 1")
        XCTAssertTrue(try accepts(Self.tinyCascade(t0: 0.5, t1: 2.2), halves(0, 200)))
        XCTAssertFalse(try accepts(Self.tinyCascade(t0: 0.5, t1: 2.3), halves(0, 200)))
    }

    /// Windows with σ ≤ 10 grey levels are rejected before any stage (OpenCV's rule).
    func testFlatWindowsAreRejected() throws {
        let accept = Self.tinyCascade(t0: 0.5, t1: 1.0)
        XCTAssertFalse(try accepts(accept, halves(0, 0)))
        XCTAssertFalse(try accepts(accept, halves(0, 20)), "σ = 10")
        XCTAssertTrue(try accepts(accept, halves(0, 22)), "σ = 11")
    }

    /// The tilted integral table matches its definition on a random image.
    func testTiltedIntegralMatchesDefinition() {
        var rng = SplitMix(seed: 7)
        let w = 9, h = 7
        let img = (0..<(w * h)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        let col0 = h + 1, stride = col0 + w + h + 2
        var t = [UInt32](repeating: 0xDEAD, count: (h + 1) * stride)
        img.withUnsafeBufferPointer { src in
            t.withUnsafeMutableBufferPointer { ImageOps.tiltedIntegral(src.baseAddress!, w, h, t: $0.baseAddress!, stride: stride, col0: col0) }
        }
        for Y in 0...h {
            for X in 0...w {
                var expect: UInt32 = 0
                for y in 0..<Y { for x in 0..<w where abs(x - X + 1) <= Y - y - 1 { expect += UInt32(img[y * w + x]) } }
                XCTAssertEqual(t[Y * stride + X + col0], expect, "T(\(X),\(Y))")
            }
        }
    }

    func testNumberParsing() {
        let cases: [(String, Double)] = [("0", 0), ("-1", -1), ("2.", 2), (".5", 0.5), ("-3.1511999666690826e-02", -0.031511999666690826),
                                         ("1.0079263709485531e-002", 0.010079263709485531), ("+4E3", 4000), ("123456789012345678901234", 1.2345678901234568e23)]
        for (text, value) in cases {
            let bytes = Array(text.utf8)
            let v = bytes.withUnsafeBufferPointer { MiniXML.parseNumber($0, 0, bytes.count) }
            XCTAssertEqual(v ?? .nan, value, accuracy: abs(value) * 1e-15, text)
        }
        for bad in ["", "-", "e5", "1e", "1.2.3", "0x10", "nan", "1,5"] {
            let bytes = Array(bad.utf8)
            XCTAssertNil(bytes.withUnsafeBufferPointer { MiniXML.parseNumber($0, 0, bytes.count) }, bad)
        }
    }
}

