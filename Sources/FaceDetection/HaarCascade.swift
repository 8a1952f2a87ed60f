import Foundation

/// A boosted cascade of Haar-like features, as written by OpenCV's `opencv_traincascade`
/// (the XML layout `opencv_storage/cascade` with `stageType BOOST` and `featureType HAAR`).
///
/// Immutable once loaded; share one instance between detectors and threads.
public struct HaarCascade: Sendable {
    /// The cascade shipped by Debian's `opencv-data` for frontal faces.
    public static let defaultFrontalFacePath = "/usr/share/opencv4/haarcascades/haarcascade_frontalface_default.xml"

    /// One weighted rectangle of a feature, in window pixels. For a tilted feature the rectangle
    /// is turned 45°: its top corner is at (x, y), `width` runs down-right and `height` down-left.
    public struct WeightedRect: Sendable, Equatable {
        public var x: Int, y: Int, width: Int, height: Int
        public var weight: Float
    }

    public struct Feature: Sendable, Equatable {
        public var rects: [WeightedRect]
        public var tilted: Bool
    }

    /// A decision-tree node. `left`/`right` > 0 index another node of the same tree;
    /// values ≤ 0 are leaves, `-value` indexing the tree's leaf values (OpenCV's convention).
    struct Node: Sendable, Equatable {
        var feature: Int32
        var threshold: Float
        var left: Int32
        var right: Int32
    }

    struct Weak: Sendable, Equatable {
        var firstNode: Int32
        var nodeCount: Int32
        var firstLeaf: Int32
        var leafCount: Int32
    }

    struct Stage: Sendable, Equatable {
        var firstWeak: Int32
        var weakCount: Int32
        var threshold: Float
    }

    /// The detection window the cascade was trained on (24×24 for the frontal face cascades).
    public let windowWidth: Int
    public let windowHeight: Int
    public let features: [Feature]
    let stages: [Stage]
    let weaks: [Weak]
    let nodes: [Node]
    let leaves: [Float]
    /// Where the cascade was read from ("<memory>" for `init(xml:name:)` without a name).
    public let source: String

    public var stageCount: Int { stages.count }
    public var weakClassifierCount: Int { weaks.count }
    /// Every weak classifier is a single split with two leaves.
    public let isStumpBased: Bool
    public let usesTiltedFeatures: Bool

    /// OpenCV subtracts this from every stage threshold when loading, to absorb rounding.
    static let stageThresholdEpsilon: Float = 1e-5

    /// Loads a cascade XML file.
    public init(contentsOfFile path: String) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw CascadeError.cascadeNotFound(path: path)
        }
        if isDir.boolValue { throw CascadeError.cascadeUnreadable(path: path, reason: "is a directory") }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw CascadeError.cascadeUnreadable(path: path, reason: "\(error.localizedDescription)")
        }
        try self.init(xml: [UInt8](data), name: path)
    }

    /// Parses cascade XML held in memory; `name` is used in error messages.
    public init(xml bytes: [UInt8], name: String = "<memory>") throws {
        let doc: MiniXML
        do {
            doc = try MiniXML(bytes: bytes)
        } catch let e as MiniXML.ParseError {
            throw CascadeError.malformedCascade(path: name, reason: e.message)
        }
        var p = CascadeParser(doc: doc, name: name)
        let r = try p.parse()
        windowWidth = r.width
        windowHeight = r.height
        features = r.features
        stages = r.stages
        weaks = r.weaks
        nodes = r.nodes
        leaves = r.leaves
        source = name
        isStumpBased = r.weaks.allSatisfy { $0.nodeCount == 1 && $0.leafCount == 2 }
            && r.nodes.allSatisfy { $0.left == 0 && $0.right == -1 }
        let used = Set(r.nodes.map { Int($0.feature) })
        usesTiltedFeatures = used.contains { r.features[$0].tilted }
    }
}

private struct CascadeParser {
    let doc: MiniXML
    let name: String

    struct Result {
        var width = 0, height = 0
        var features: [HaarCascade.Feature] = []
        var stages: [HaarCascade.Stage] = []
        var weaks: [HaarCascade.Weak] = []
        var nodes: [HaarCascade.Node] = []
        var leaves: [Float] = []
    }

    func malformed(_ reason: String) -> CascadeError { .malformedCascade(path: name, reason: reason) }
    func unsupported(_ reason: String) -> CascadeError { .unsupportedCascade(path: name, reason: reason) }

    func require(_ parent: Int, _ key: StaticString, in what: String) throws -> Int {
        guard let c = doc.child(parent, key) else { throw malformed("missing <\(key)> in \(what)") }
        return c
    }

    func int(_ parent: Int, _ key: StaticString, in what: String) throws -> Int {
        let e = try require(parent, key, in: what)
        guard let v = doc.numbers(e), v.count == 1, let i = Int(exactly: v[0]) else {
            throw malformed("<\(key)> in \(what) is not an integer: '\(doc.text(e).prefix(40))'")
        }
        return i
    }

    func number(_ parent: Int, _ key: StaticString, in what: String) throws -> Double {
        let e = try require(parent, key, in: what)
        guard let v = doc.numbers(e), v.count == 1, v[0].isFinite else {
            throw malformed("<\(key)> in \(what) is not a number: '\(doc.text(e).prefix(40))'")
        }
        return v[0]
    }

    mutating func parse() throws -> Result {
        let top = doc.root
        guard doc.nameIs(top, "opencv_storage") else {
            throw malformed("root element is <\(doc.name(top))>, expected <opencv_storage>")
        }
        let tops = doc.children(top)
        guard !tops.isEmpty else { throw malformed("<opencv_storage> is empty") }
        let cascade = doc.child(top, "cascade") ?? tops[0]
        let typeID = doc.attribute(cascade, "type_id")
        if typeID == "opencv-haar-classifier" || (doc.child(cascade, "stageType") == nil && doc.child(cascade, "size") != nil) {
            throw unsupported("old-style 'opencv-haar-classifier' layout; only the 'opencv-cascade-classifier' layout (opencv_traincascade) is read")
        }
        guard let stEl = doc.child(cascade, "stageType") else { throw malformed("missing <stageType> in <\(doc.name(cascade))>") }
        let stageType = doc.text(stEl)
        guard stageType == "BOOST" else { throw unsupported("stageType \(stageType), only BOOST is supported") }
        guard let ftEl = doc.child(cascade, "featureType") else { throw malformed("missing <featureType>") }
        let featureType = doc.text(ftEl)
        guard featureType == "HAAR" else { throw unsupported("featureType \(featureType), only HAAR is supported") }
        if let fp = doc.child(cascade, "featureParams"), doc.child(fp, "maxCatCount") != nil {
            let cats = try int(fp, "maxCatCount", in: "<featureParams>")
            guard cats == 0 else { throw unsupported("categorical splits (maxCatCount \(cats))") }
        }

        var r = Result()
        r.width = try int(cascade, "width", in: "<cascade>")
        r.height = try int(cascade, "height", in: "<cascade>")
        guard (3...1000).contains(r.width) && (3...1000).contains(r.height) else {
            throw malformed("window size \(r.width)×\(r.height) out of range")
        }

        // features
        let featuresEl = try require(cascade, "features", in: "<cascade>")
        for (fi, f) in doc.children(featuresEl).enumerated() {
            let what = "feature \(fi)"
            let rectsEl = try require(f, "rects", in: what)
            var tilted = false
            if let t = doc.child(f, "tilted") {
                guard let v = doc.numbers(t), v.count == 1, v[0] == 0 || v[0] == 1 else { throw malformed("<tilted> of \(what) is not 0 or 1") }
                tilted = v[0] == 1
            }
            var rects: [HaarCascade.WeightedRect] = []
            for rEl in doc.children(rectsEl) {
                guard let v = doc.numbers(rEl), v.count == 5,
                      let x = Int(exactly: v[0]), let y = Int(exactly: v[1]),
                      let w = Int(exactly: v[2]), let h = Int(exactly: v[3]), v[4].isFinite else {
                    throw malformed("rectangle of \(what) is not 'x y w h weight': '\(doc.text(rEl).prefix(60))'")
                }
                // Each number within the window's range first: the sums below cannot overflow then.
                let window = 0...max(r.width, r.height)
                let inside: Bool
                if !(window.contains(x) && window.contains(y) && window.contains(w) && window.contains(h)) {
                    inside = false
                } else if tilted {
                    inside = w >= 0 && h >= 0 && y >= 0 && x - h >= 0 && x + w <= r.width && y + w + h <= r.height
                } else {
                    inside = w >= 0 && h >= 0 && x >= 0 && y >= 0 && x + w <= r.width && y + h <= r.height
                }
                guard inside else { throw malformed("rectangle \(x) \(y) \(w) \(h) of \(what) lies outside the \(r.width)×\(r.height) window") }
                rects.append(.init(x: x, y: y, width: w, height: h, weight: Float(v[4])))
            }
            guard (1...3).contains(rects.count) else { throw malformed("\(what) has \(rects.count) rectangles (1 to 3 expected)") }
            r.features.append(.init(rects: rects, tilted: tilted))
        }
        guard !r.features.isEmpty else { throw malformed("no features") }

        // stages
        let stagesEl = try require(cascade, "stages", in: "<cascade>")
        for (si, s) in doc.children(stagesEl).enumerated() {
            let what = "stage \(si)"
            let thr = try number(s, "stageThreshold", in: what)
            let weaksEl = try require(s, "weakClassifiers", in: what)
            let first = r.weaks.count
            for (wi, w) in doc.children(weaksEl).enumerated() {
                let wwhat = "weak classifier \(wi) of \(what)"
                let inEl = try require(w, "internalNodes", in: wwhat)
                let lvEl = try require(w, "leafValues", in: wwhat)
                guard let raw = doc.numbers(inEl), !raw.isEmpty, raw.count % 4 == 0 else {
                    throw malformed("<internalNodes> of \(wwhat) is not groups of 'left right feature threshold'")
                }
                guard let lv = doc.numbers(lvEl), !lv.isEmpty, lv.allSatisfy(\.isFinite) else {
                    throw malformed("<leafValues> of \(wwhat) is not a list of numbers")
                }
                let nodeCount = raw.count / 4
                let firstNode = r.nodes.count
                for k in 0..<nodeCount {
                    guard let left = Int(exactly: raw[4 * k]), let right = Int(exactly: raw[4 * k + 1]),
                          let fidx = Int(exactly: raw[4 * k + 2]), raw[4 * k + 3].isFinite else {
                        throw malformed("node \(k) of \(wwhat) is not 'left right feature threshold'")
                    }
                    guard fidx >= 0 && fidx < r.features.count else {
                        throw malformed("node \(k) of \(wwhat) uses feature \(fidx) of \(r.features.count)")
                    }
                    for child in [left, right] {
                        // Children must point forward (guarantees the walk ends) or at a leaf.
                        if child > 0 { guard child > k && child < nodeCount else { throw malformed("node \(k) of \(wwhat) has bad child \(child)") } }
                        else { guard child > -lv.count else { throw malformed("node \(k) of \(wwhat) points at leaf \(child.magnitude) of \(lv.count)") } }
                    }
                    r.nodes.append(.init(feature: Int32(fidx), threshold: Float(raw[4 * k + 3]), left: Int32(left), right: Int32(right)))
                }
                r.weaks.append(.init(firstNode: Int32(firstNode), nodeCount: Int32(nodeCount),
                                     firstLeaf: Int32(r.leaves.count), leafCount: Int32(lv.count)))
                r.leaves.append(contentsOf: lv.map { Float($0) })
            }
            guard r.weaks.count > first else { throw malformed("\(what) has no weak classifiers") }
            r.stages.append(.init(firstWeak: Int32(first), weakCount: Int32(r.weaks.count - first),
                                  threshold: Float(thr) - HaarCascade.stageThresholdEpsilon))
        }
        guard !r.stages.isEmpty else { throw malformed("no stages") }
        return r
    }
}
