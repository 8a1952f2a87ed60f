import FERCore
import Foundation
import Synchronization

/// Viola–Jones face detection with a `HaarCascade`, following OpenCV's `detectMultiScale`:
/// the frame is (optionally) shrunk to a detection size, then an image pyramid is scanned with
/// the cascade's fixed window (24×24); each window is variance-normalised, evaluated stage by
/// stage with early rejection, and the raw hits are merged with `groupRectangles` semantics.
///
/// A value type holding an immutable cascade: safe to share and call from any thread.
public struct FaceDetector: Sendable {
    public struct Options: Sendable, Equatable {
        /// Smallest face side, in pixels of the original frame (smaller windows are not scanned).
        public var minFaceSize: Int
        /// Largest face side in pixels of the original frame; nil: up to the frame size.
        public var maxFaceSize: Int?
        /// Pyramid step between scales (> 1).
        public var scaleFactor: Double
        /// A face needs more than this many raw hits in its cluster (OpenCV's `minNeighbors`).
        public var minNeighbors: Int
        /// The frame is shrunk (area averaging) to at most this width before detecting; boxes
        /// are mapped back to frame pixels. ≤ 0: never shrink. The cascade window (24 px) then
        /// sets a floor on face size: see `effectiveMinFaceSize(width:height:)`.
        public var detectionWidth: Int

        public init(minFaceSize: Int = 40, maxFaceSize: Int? = nil, scaleFactor: Double = 1.1,
                    minNeighbors: Int = 4, detectionWidth: Int = 320) {
            self.minFaceSize = minFaceSize
            self.maxFaceSize = maxFaceSize
            self.scaleFactor = scaleFactor
            self.minNeighbors = minNeighbors
            self.detectionWidth = detectionWidth
        }
    }

    public let cascade: HaarCascade
    public var options: Options

    /// Similarity tolerance when grouping raw hits (OpenCV's `GROUP_EPS`).
    static let groupEps = 0.2

    /// Compiled layouts of the cascade, shared by copies of this detector.
    private let compiled: CompiledCascadeCache

    public init(cascade: HaarCascade, options: Options = Options()) {
        self.init(cascade: cascade, options: options, compiled: CompiledCascadeCache())
    }

    private init(cascade: HaarCascade, options: Options, compiled: CompiledCascadeCache) {
        self.cascade = cascade
        self.options = options
        self.compiled = compiled
    }

    /// Loads the cascade at `cascadePath` (default: Debian's frontal face cascade).
    public init(cascadePath: String = HaarCascade.defaultFrontalFacePath, options: Options = Options()) throws {
        self.init(cascade: try HaarCascade(contentsOfFile: cascadePath), options: options)
    }

    /// The faces in `image`, in its pixels, largest first (ties: top-to-bottom, left-to-right).
    public func detect(in image: GrayImage) -> [Box] {
        detections(in: image).map(\.box)
    }

    /// `detect`, with how strongly the cascade fired on each face (see `Detection.strength`).
    public func detections(in image: GrayImage) -> [Detection] {
        let raw = rawDetections(in: image)
        let window = Double(max(cascade.windowWidth, cascade.windowHeight))
        let grouped = groupRectanglesCounted(raw.boxes, minNeighbors: options.minNeighbors, eps: Self.groupEps)
        return grouped.map { g in
            let side = Double(max(g.box.width, g.box.height))
            return Detection(box: raw.toFrame(g.box), strength: Double(g.hits) * window / max(side, 1))
        }
        .filter { $0.box.width > 0 && $0.box.height > 0 }
        .sorted { ($0.box.area, -$0.box.y, -$0.box.x) > ($1.box.area, -$1.box.y, -$1.box.x) }
    }

    /// Faces near known ones only: around each of `boxes` (frame pixels), the frame within half a
    /// box side of it is scanned for faces from 1/1.5 to 1.5 times the box's size, at the same
    /// detection scale as a scan of the whole frame, so a face found there gets the box and
    /// strength a whole-frame scan would give it (up to the pyramid's alignment). A small fraction
    /// of a whole-frame scan's cost: what follows tracked faces between whole-frame scans.
    /// Results of overlapping regions are merged (the stronger kept).
    public func detections(in image: GrayImage, near boxes: [Box]) -> [Detection] {
        let s = detectionScale(width: image.width, height: image.height)
        var found: [Detection] = []
        for box in boxes {
            let side = max(box.width, box.height)
            guard side > 0 else { continue }
            let margin = side / 2
            let x0 = max(0, box.x - margin), y0 = max(0, box.y - margin)
            let x1 = min(image.width, box.x + box.width + margin), y1 = min(image.height, box.y + box.height + margin)
            guard x1 > x0, y1 > y0 else { continue }
            let region = image.cropped(x: x0, y: y0, width: x1 - x0, height: y1 - y0)
            var near = options
            near.minFaceSize = max(options.minFaceSize, Int(Double(side) / 1.5))
            near.maxFaceSize = min(options.maxFaceSize ?? Int.max, Int((Double(side) * 1.5).rounded(.up)))
            // ≤ 0 never shrinks: right when the whole frame is not shrunk either.
            near.detectionWidth = s < 1 ? max(1, Int((Double(region.width) * s).rounded())) : 0
            for d in FaceDetector(cascade: cascade, options: near, compiled: compiled).detections(in: region) {
                var b = d.box
                b.x += x0
                b.y += y0
                found.append(Detection(box: b, strength: d.strength))
            }
        }
        var kept: [Detection] = []
        for d in found.sorted(by: { $0.strength > $1.strength }) where !kept.contains(where: { $0.box.iou(d.box) > 0.5 }) {
            kept.append(d)
        }
        return kept.sorted { ($0.box.area, -$0.box.y, -$0.box.x) > ($1.box.area, -$1.box.y, -$1.box.x) }
    }

    /// The scale from frame pixels to detection-image pixels for a frame of this width:
    /// `detectionWidth / width`, at most 1.
    public func detectionScale(width: Int, height: Int) -> Double {
        guard width > 0, options.detectionWidth > 0 else { return 1 }
        return min(1, Double(options.detectionWidth) / Double(width))
    }

    /// The smallest face side (frame pixels) this detector can report for a frame of this
    /// size: the cascade window (24 px) at detection scale, or `minFaceSize` if larger.
    /// E.g. 48 px for 640×480 and 144 px for 1920×1080 with the default options; raise
    /// `detectionWidth` to find smaller faces (at a cost roughly ∝ detection pixels).
    public func effectiveMinFaceSize(width: Int, height: Int) -> Int {
        let s = detectionScale(width: width, height: height)
        let win = Double(max(cascade.windowWidth, cascade.windowHeight))
        return max(options.minFaceSize, Int((win / s).rounded(.up)))
    }

    struct RawDetections {
        /// Hits in detection-image pixels.
        var boxes: [Box]
        var frameWidth: Int, frameHeight: Int
        var sx: Double, sy: Double
        func toFrame(_ b: Box) -> Box {
            let x0 = Int((Double(b.x) / sx).rounded()), y0 = Int((Double(b.y) / sy).rounded())
            let x1 = Int((Double(b.x + b.width) / sx).rounded()), y1 = Int((Double(b.y + b.height) / sy).rounded())
            let cx0 = min(max(x0, 0), frameWidth), cy0 = min(max(y0, 0), frameHeight)
            let cx1 = min(max(x1, 0), frameWidth), cy1 = min(max(y1, 0), frameHeight)
            return Box(x: cx0, y: cy0, width: cx1 - cx0, height: cy1 - cy0)
        }
    }

    /// How windows are evaluated. Both give identical results (tested).
    enum ScanMode {
        /// Vector scan for stump cascades in optimised builds, scalar otherwise: unoptimised
        /// (debug) builds run the generic SIMD code about 5× slower than the scalar loop.
        case auto
        case scalar
        /// Eight windows at a time (stump cascades; tree cascades always run scalar).
        case vector

        #if DEBUG
        static let vectorByDefault = false
        #else
        static let vectorByDefault = true
        #endif
    }

    /// All windows accepted by the cascade, before grouping (detection-image pixels).
    func rawDetections(in image: GrayImage, scan: ScanMode = .auto) -> RawDetections {
        let W = image.width, H = image.height
        let ww = cascade.windowWidth, wh = cascade.windowHeight
        var result = RawDetections(boxes: [], frameWidth: W, frameHeight: H, sx: 1, sy: 1)
        guard W >= ww && H >= wh else { return result }

        // 1. Detection image.
        let s = detectionScale(width: W, height: H)
        var dw = W, dh = H
        var detection: [UInt8]? = nil
        if s < 1 {
            dw = max(ww, Int((Double(W) * s).rounded()))
            dh = max(wh, Int((Double(H) * s).rounded()))
            if dw < W || dh < H {
                dw = min(dw, W); dh = min(dh, H)
                detection = image.pixels.withUnsafeBufferPointer { ImageOps.resizeArea($0.baseAddress!, W, H, dw, dh) }
            }
        }
        result.sx = Double(dw) / Double(W)
        result.sy = Double(dh) / Double(H)

        // 2. Pyramid levels (OpenCV: window = round(24·f) in detection pixels, image = round(size/f)).
        let factorStep = max(options.scaleFactor, 1.0001)
        let minWinW = Double(max(options.minFaceSize, 0)) * result.sx
        let minWinH = Double(max(options.minFaceSize, 0)) * result.sy
        var maxWinW = dw, maxWinH = dh
        if let m = options.maxFaceSize, m > 0 {
            maxWinW = min(maxWinW, Int(Double(m) * result.sx)); maxWinH = min(maxWinH, Int(Double(m) * result.sy))
        }
        var levels: [(factor: Double, width: Int, height: Int)] = []
        var f = 1.0
        while true {
            let winW = Int((Double(ww) * f).rounded()), winH = Int((Double(wh) * f).rounded())
            if winW > maxWinW || winH > maxWinH { break }
            let lw = Int((Double(dw) / f).rounded()), lh = Int((Double(dh) / f).rounded())
            if lw < ww || lh < wh { break }
            if Double(winW) >= minWinW && Double(winH) >= minWinH { levels.append((f, lw, lh)) }
            f *= factorStep
        }
        guard let first = levels.first else { return result }

        // 3. Shared tables: one row stride for every level, so feature offsets are computed once.
        let tilted = cascade.usesTiltedFeatures
        let maxW = first.width, maxH = first.height
        // Plain tables get a stride rounded up to 32, so that regions of similar size share one
        // compiled layout (see `CompiledCascadeCache`).
        let stride = tilted ? maxW + 2 * maxH + 3 : (maxW + 1 + 31) / 32 * 32
        let rows = maxH + 1
        let sumCount = rows * stride
        let tiltStart = tilted ? sumCount : 0
        let col0 = maxH + 1
        let tableCount = tilted ? 2 * sumCount : sumCount
        precondition(tableCount < Int(Int32.max), "FaceDetector: detection image too large")
        let compiled = self.compiled.layout(for: cascade, stride: stride, tiltedRows: tilted ? rows : 0, tiltedCol0: tilted ? col0 : 0)
        let useVector = compiled.isStumpBased && scan != .scalar && (scan == .vector || ScanMode.vectorByDefault)

        let pad = CompiledCascade.tablePadding
        var tables = [UInt32](repeating: 0, count: tableCount + pad)
        var sqTable = [UInt32](repeating: 0, count: sumCount + pad)
        var splitTables = [UInt32](repeating: 0, count: useVector ? tableCount + pad : 0)
        var splitSq = [UInt32](repeating: 0, count: useVector ? sumCount + pad : 0)
        var levelBuf = [UInt8](repeating: 0, count: maxW * maxH)
        var hits: [Box] = []
        hits.reserveCapacity(256)

        let source = detection ?? image.pixels
        source.withUnsafeBufferPointer { srcBuf in
        tables.withUnsafeMutableBufferPointer { tab in
        sqTable.withUnsafeMutableBufferPointer { sq in
        splitTables.withUnsafeMutableBufferPointer { stab in
        splitSq.withUnsafeMutableBufferPointer { ssq in
        levelBuf.withUnsafeMutableBufferPointer { lb in
            let src = srcBuf.baseAddress!
            for level in levels {
                let lw = level.width, lh = level.height
                let img: UnsafePointer<UInt8>
                if lw == dw && lh == dh { img = src } else {
                    ImageOps.resizeBilinear(src, dw, dh, lb.baseAddress!, lw, lh)
                    img = UnsafePointer(lb.baseAddress!)
                }
                ImageOps.integral(img, lw, lh, sum: tab.baseAddress!, sqsum: sq.baseAddress!, stride: stride)
                if tilted {
                    ImageOps.tiltedIntegral(img, lw, lh, t: tab.baseAddress! + tiltStart, stride: stride, col0: col0)
                }
                let winW = Int((Double(ww) * level.factor).rounded()), winH = Int((Double(wh) * level.factor).rounded())
                let step = level.factor > 2 ? 1 : 2
                let record = { (x: Int, y: Int) in
                    hits.append(Box(x: Int((Double(x) * level.factor).rounded()), y: Int((Double(y) * level.factor).rounded()),
                                    width: winW, height: winH))
                }
                if useVector && step == 2 {
                    let used = lh + 1   // table rows this level's windows touch
                    ImageOps.splitColumns(tab.baseAddress!, stab.baseAddress!, rows: used, stride: stride)
                    ImageOps.splitColumns(sq.baseAddress!, ssq.baseAddress!, rows: used, stride: stride)
                    if tilted {
                        ImageOps.splitColumns(tab.baseAddress! + tiltStart, stab.baseAddress! + tiltStart, rows: used, stride: stride)
                    }
                    compiled.scanStumps8(SplitColumns8.self, sum: UnsafePointer(stab.baseAddress!), sqsum: UnsafePointer(ssq.baseAddress!),
                                         width: lw, height: lh, hit: record)
                } else if useVector && step == 1 {
                    compiled.scanStumps8(Contiguous8.self, sum: UnsafePointer(tab.baseAddress!), sqsum: UnsafePointer(sq.baseAddress!),
                                         width: lw, height: lh, hit: record)
                } else {
                    compiled.scanScalar(sum: UnsafePointer(tab.baseAddress!), sqsum: UnsafePointer(sq.baseAddress!),
                                        width: lw, height: lh, step: step, hit: record)
                }
            }
        } } } } } }
        result.boxes = hits
        return result
    }
}

// MARK: - evaluation

/// Compiled cascades by table layout. Compiling costs about a millisecond, as much as scanning
/// the neighbourhood of a face, and a video's frames (or a face's neighbourhoods) keep reusing a
/// handful of layouts.
final class CompiledCascadeCache: Sendable {
    private struct Key: Hashable { var stride: Int, tiltedRows: Int, tiltedCol0: Int }
    private let entries = Mutex<[Key: CompiledCascade]>([:])

    func layout(for cascade: HaarCascade, stride: Int, tiltedRows: Int, tiltedCol0: Int) -> CompiledCascade {
        let key = Key(stride: stride, tiltedRows: tiltedRows, tiltedCol0: tiltedCol0)
        if let hit = entries.withLock({ $0[key] }) { return hit }
        let made = CompiledCascade(cascade, stride: stride, tiltedRows: tiltedRows, tiltedCol0: tiltedCol0)
        entries.withLock { entries in
            if entries.count >= 32 { entries.removeAll() }  // sizes keep changing: start over
            entries[key] = made
        }
        return made
    }
}

/// The cascade laid out for one integral-table row stride: every rectangle corner is a
/// precomputed offset from the window's top-left entry of the integral table. Two layouts:
/// `plain` (row-major tables) and `split` (each table row stored as its even columns, then
/// its odd columns — windows at x = 0, 2, 4, … then read consecutive entries).
struct CompiledCascade {
    struct PackedFeature {
        var a0: Int32, b0: Int32, c0: Int32, d0: Int32
        var a1: Int32, b1: Int32, c1: Int32, d1: Int32
        var a2: Int32, b2: Int32, c2: Int32, d2: Int32
        var w0: Float, w1: Float, w2: Float
    }
    struct Stump { var f: PackedFeature; var threshold: Float; var left: Float; var right: Float }
    struct Node { var f: PackedFeature; var threshold: Float; var left: Int32; var right: Int32 }
    struct Stage { var count: Int32; var threshold: Float }
    struct Tree { var firstNode: Int32; var firstLeaf: Int32 }
    /// Variance window (the cascade window less a 1-pixel border, as OpenCV) corner offsets.
    struct Norm { var a: Int, b: Int, c: Int, d: Int }

    let windowWidth: Int, windowHeight: Int
    let stride: Int
    let stages: [Stage]
    let isStumpBased: Bool
    let stumps: [Stump]        // stump cascades, plain layout
    let splitStumps: [Stump]   // stump cascades, split layout
    let trees: [Tree]          // tree cascades (plain layout only)
    let nodes: [Node]
    let leaves: [Float]
    let norm: Norm, splitNorm: Norm
    let normArea: Double

    /// `tiltedRows`: the tilted table starts this many rows after the sum table;
    /// `tiltedCol0`: its column of X = 0.
    init(_ c: HaarCascade, stride: Int, tiltedRows: Int, tiltedCol0: Int) {
        windowWidth = c.windowWidth
        windowHeight = c.windowHeight
        self.stride = stride
        let half = (stride + 1) / 2
        func plainOffset(_ row: Int, _ col: Int) -> Int32 { Int32(row * stride + col) }
        func splitOffset(_ row: Int, _ col: Int) -> Int32 {
            Int32(row * stride + (col % 2 == 0 ? col / 2 : half + (col - 1) / 2))
        }
        func pack(_ f: HaarCascade.Feature, _ offset: (Int, Int) -> Int32) -> PackedFeature {
            var o = [Int32](repeating: 0, count: 12)
            var w: [Float] = [0, 0, 0]
            for (k, r) in f.rects.enumerated() {
                let corners: [(Int, Int)]
                if f.tilted {
                    corners = [(r.x, r.y), (r.x - r.height, r.y + r.height), (r.x + r.width, r.y + r.width),
                               (r.x + r.width - r.height, r.y + r.width + r.height)]
                } else {
                    corners = [(r.x, r.y), (r.x + r.width, r.y), (r.x, r.y + r.height), (r.x + r.width, r.y + r.height)]
                }
                for (j, (x, y)) in corners.enumerated() {
                    o[4 * k + j] = f.tilted ? offset(tiltedRows + y, tiltedCol0 + x) : offset(y, x)
                }
                w[k] = r.weight
            }
            return PackedFeature(a0: o[0], b0: o[1], c0: o[2], d0: o[3], a1: o[4], b1: o[5], c1: o[6], d1: o[7],
                                 a2: o[8], b2: o[9], c2: o[10], d2: o[11], w0: w[0], w1: w[1], w2: w[2])
        }
        stages = c.stages.map { Stage(count: $0.weakCount, threshold: $0.threshold) }
        isStumpBased = c.isStumpBased
        let packed = c.features.map { pack($0, plainOffset) }
        if c.isStumpBased {
            let split = c.features.map { pack($0, splitOffset) }
            func stumps(_ features: [PackedFeature]) -> [Stump] {
                c.weaks.map { w in
                    let n = c.nodes[Int(w.firstNode)]
                    return Stump(f: features[Int(n.feature)], threshold: n.threshold,
                                 left: c.leaves[Int(w.firstLeaf)], right: c.leaves[Int(w.firstLeaf) + 1])
                }
            }
            self.stumps = stumps(packed)
            splitStumps = stumps(split)
            trees = []; nodes = []; leaves = []
        } else {
            stumps = []; splitStumps = []
            trees = c.weaks.map { Tree(firstNode: $0.firstNode, firstLeaf: $0.firstLeaf) }
            nodes = c.nodes.map { Node(f: packed[Int($0.feature)], threshold: $0.threshold, left: $0.left, right: $0.right) }
            leaves = c.leaves
        }
        let nx = 1, ny = 1, nw = c.windowWidth - 2, nh = c.windowHeight - 2
        func normOf(_ offset: (Int, Int) -> Int32) -> Norm {
            Norm(a: Int(offset(ny, nx)), b: Int(offset(ny, nx + nw)), c: Int(offset(ny + nh, nx)), d: Int(offset(ny + nh, nx + nw)))
        }
        norm = normOf(plainOffset)
        splitNorm = normOf(splitOffset)
        normArea = Double(nw * nh)
    }

    /// Windows whose grey-level standard deviation is not above this are rejected (OpenCV:
    /// a window is evaluated only when area / (area·σ) < 0.1).
    static let minStdDev = 10.0

    /// Entries the vector path may read past the end of a table.
    static let tablePadding = 64

    @inline(__always)
    static func rectSum(_ p: UnsafePointer<UInt32>, _ a: Int32, _ b: Int32, _ c: Int32, _ d: Int32) -> Float {
        let v = p[Int(a)] &- p[Int(b)] &- p[Int(c)] &+ p[Int(d)]
        return Float(Int32(bitPattern: v))
    }

    @inline(__always)
    static func value(_ p: UnsafePointer<UInt32>, _ f: PackedFeature) -> Float {
        var v = f.w0 * rectSum(p, f.a0, f.b0, f.c0, f.d0)
        v += f.w1 * rectSum(p, f.a1, f.b1, f.c1, f.d1)
        if f.w2 != 0 { v += f.w2 * rectSum(p, f.a2, f.b2, f.c2, f.d2) }
        return v
    }

    /// Scans every `step`-th window position of one level, one window at a time (any cascade,
    /// plain tables); calls `hit(x, y)` for each window that passes every stage. As OpenCV:
    /// flat windows (σ ≤ 10) are rejected, and a window rejected by the first stage also
    /// skips the next position in its row.
    func scanScalar(sum: UnsafePointer<UInt32>, sqsum: UnsafePointer<UInt32>, width: Int, height: Int, step: Int,
                    hit: (Int, Int) -> Void) {
        let maxX = width - windowWidth, maxY = height - windowHeight
        guard maxX >= 0 && maxY >= 0 else { return }
        stages.withUnsafeBufferPointer { st in
        stumps.withUnsafeBufferPointer { sp in
        trees.withUnsafeBufferPointer { tp in
        nodes.withUnsafeBufferPointer { np in
        leaves.withUnsafeBufferPointer { lp in
            let nStages = st.count
            let n = norm, area = normArea
            let minNf = area * area * CompiledCascade.minStdDev * CompiledCascade.minStdDev
            var y = 0
            while y <= maxY {
                var x = 0
                let rowBase = y * stride
                while x <= maxX {
                    let base = rowBase + x
                    let p = sum + base
                    let q = sqsum + base
                    let s = Int64(Int32(bitPattern: p[n.a] &- p[n.b] &- p[n.c] &+ p[n.d]))
                    let sq = Int64(q[n.a] &- q[n.b] &- q[n.c] &+ q[n.d])
                    let nf = area * Double(sq) - Double(s * s)
                    guard nf > minNf else { x += step; continue }
                    let inv = Float(1 / nf.squareRoot())
                    var result = 1
                    if isStumpBased {
                        var w = sp.baseAddress!
                        for si in 0..<nStages {
                            let stage = st[si]
                            var acc: Float = 0
                            for _ in 0..<Int(stage.count) {
                                let v = CompiledCascade.value(p, w.pointee.f) * inv
                                acc += v < w.pointee.threshold ? w.pointee.left : w.pointee.right
                                w += 1
                            }
                            if acc < stage.threshold { result = -si; break }
                        }
                    } else {
                        var t = tp.baseAddress!
                        for si in 0..<nStages {
                            let stage = st[si]
                            var acc: Float = 0
                            for _ in 0..<Int(stage.count) {
                                let root = np.baseAddress! + Int(t.pointee.firstNode)
                                var idx: Int32 = 0
                                repeat {
                                    let node = root + Int(idx)
                                    let v = CompiledCascade.value(p, node.pointee.f) * inv
                                    idx = v < node.pointee.threshold ? node.pointee.left : node.pointee.right
                                } while idx > 0
                                acc += lp[Int(t.pointee.firstLeaf) - Int(idx)]
                                t += 1
                            }
                            if acc < stage.threshold { result = -si; break }
                        }
                    }
                    if result > 0 { hit(x, y) }
                    x += result == 0 ? 2 * step : step
                }
                y += step
            }
        } } } } }
    }

    /// Stump cascades, eight window positions at a time: every table read is one vector load
    /// for eight windows. `L` says which positions and which table layout. Visits exactly the
    /// positions `scanScalar` visits and gives the same answers; once few of the eight are
    /// still alive, they are finished one by one. Tables need `tablePadding` spare entries.
    func scanStumps8<L: LaneLoader>(_: L.Type, sum: UnsafePointer<UInt32>, sqsum: UnsafePointer<UInt32>,
                                    width: Int, height: Int, hit: (Int, Int) -> Void) {
        let maxX = width - windowWidth, maxY = height - windowHeight
        guard maxX >= 0 && maxY >= 0 else { return }
        let step = L.step
        typealias F8 = SIMD8<Float>
        typealias D8 = SIMD8<Double>
        typealias I8 = SIMD8<Int32>
        typealias M8 = SIMDMask<SIMD8<Int32>>
        stages.withUnsafeBufferPointer { st in
        (L.split ? splitStumps : stumps).withUnsafeBufferPointer { sp in
            let nStages = st.count
            let n = L.split ? splitNorm : norm
            let area = normArea
            let minNf = D8(repeating: area * area * CompiledCascade.minStdDev * CompiledCascade.minStdDev)
            let areaV = D8(repeating: area)
            var y = 0
            while y <= maxY {
                let rowBase = y * stride
                var x0 = 0
                var nextVisit = 0
                while x0 <= maxX {
                    let base = rowBase + L.column(x0)
                    let p = sum + base
                    let q = sqsum + base
                    // window variance of the eight
                    let s = I8(truncatingIfNeeded: L.load(p, n.a) &- L.load(p, n.b) &- L.load(p, n.c) &+ L.load(p, n.d))
                    let sq = L.load(q, n.a) &- L.load(q, n.b) &- L.load(q, n.c) &+ L.load(q, n.d)
                    let sd = D8(s)
                    let nf = areaV * D8(sq) - sd * sd
                    let notFlat = I8(truncatingIfNeeded: SIMD8<Int64>(repeating: 0).replacing(with: 1, where: nf .> minNf)) .!= 0
                    if !any(notFlat) {
                        // Eight flat windows (plain background): all visited, all rejected.
                        nextVisit = max(nextVisit, x0 + 8 * step)
                        x0 += 8 * step
                        continue
                    }
                    var inv = F8(repeating: 1)
                    for j in 0..<8 { inv[j] = Float(1 / nf[j].squareRoot()) }
                    // stage 0 for all eight
                    var w = sp.baseAddress!
                    var acc = F8(repeating: 0)
                    let stage0 = st[0]
                    for _ in 0..<Int(stage0.count) {
                        acc += CompiledCascade.stump8(L.self, p, w, inv)
                        w += 1
                    }
                    let pass0 = acc .>= F8(repeating: stage0.threshold)
                    // which of the eight the row walk visits (skip rule)
                    var visited = M8(repeating: false)
                    for j in 0..<8 {
                        let pos = x0 + j * step
                        if pos > maxX { break }
                        if pos == nextVisit {
                            visited[j] = true
                            nextVisit = pos + ((notFlat[j] && !pass0[j]) ? 2 * step : step)
                        }
                    }
                    var alive = visited .& notFlat .& pass0
                    var si = 1
                    while si < nStages && CompiledCascade.popCount(alive) > 2 {
                        let stage = st[si]
                        acc = F8(repeating: 0)
                        for _ in 0..<Int(stage.count) {
                            acc += CompiledCascade.stump8(L.self, p, w, inv)
                            w += 1
                        }
                        alive = alive .& (acc .>= F8(repeating: stage.threshold))
                        si += 1
                    }
                    if any(alive) {
                        for j in 0..<8 where alive[j] {
                            if si >= nStages || CompiledCascade.finishStumps(p + j * L.laneStride, inv[j], st, from: si, w) {
                                hit(x0 + j * step, y)
                            }
                        }
                    }
                    x0 += 8 * step
                }
                y += step
            }
        } }
    }

    @inline(__always)
    static func popCount(_ m: SIMDMask<SIMD8<Int32>>) -> Int {
        var n = 0
        for j in 0..<8 where m[j] { n += 1 }
        return n
    }

    /// Scalar evaluation of stages `from...` for one window; true if it passes them all.
    @inline(__always)
    static func finishStumps(_ p: UnsafePointer<UInt32>, _ inv: Float, _ st: UnsafeBufferPointer<Stage>, from: Int,
                             _ start: UnsafePointer<Stump>) -> Bool {
        var w = start
        for si in from..<st.count {
            let stage = st[si]
            var acc: Float = 0
            for _ in 0..<Int(stage.count) {
                let v = CompiledCascade.value(p, w.pointee.f) * inv
                acc += v < w.pointee.threshold ? w.pointee.left : w.pointee.right
                w += 1
            }
            if acc < stage.threshold { return false }
        }
        return true
    }

    @inline(__always)
    static func stump8<L: LaneLoader>(_: L.Type, _ p: UnsafePointer<UInt32>, _ w: UnsafePointer<Stump>, _ inv: SIMD8<Float>) -> SIMD8<Float> {
        let f = w.pointee.f
        @inline(__always) func rect(_ a: Int32, _ b: Int32, _ c: Int32, _ d: Int32) -> SIMD8<Float> {
            let v = L.load(p, Int(a)) &- L.load(p, Int(b)) &- L.load(p, Int(c)) &+ L.load(p, Int(d))
            return SIMD8<Float>(SIMD8<Int32>(truncatingIfNeeded: v))
        }
        var v = f.w0 * rect(f.a0, f.b0, f.c0, f.d0)
        v += f.w1 * rect(f.a1, f.b1, f.c1, f.d1)
        if f.w2 != 0 { v += f.w2 * rect(f.a2, f.b2, f.c2, f.d2) }
        v *= inv
        return SIMD8<Float>(repeating: w.pointee.right).replacing(with: w.pointee.left, where: v .< w.pointee.threshold)
    }
}

/// Which eight window positions one vector step covers, and how they sit in the tables.
protocol LaneLoader {
    /// Distance between the eight positions, in pixels.
    static var step: Int { get }
    /// Whether the tables are in the split (even columns, then odd columns) layout.
    static var split: Bool { get }
    /// Table column of the window at pixel x.
    static func column(_ x: Int) -> Int
    /// Distance between neighbouring lanes in the table.
    static var laneStride: Int { get }
    static func load(_ p: UnsafePointer<UInt32>, _ offset: Int) -> SIMD8<UInt32>
}

/// Positions x, x+1, …, x+7 in plain tables.
enum Contiguous8: LaneLoader {
    static var step: Int { 1 }
    static var split: Bool { false }
    @inline(__always) static func column(_ x: Int) -> Int { x }
    static var laneStride: Int { 1 }
    @inline(__always) static func load(_ p: UnsafePointer<UInt32>, _ offset: Int) -> SIMD8<UInt32> {
        UnsafeRawPointer(p + offset).loadUnaligned(as: SIMD8<UInt32>.self)
    }
}

/// Positions x, x+2, …, x+14 (x even) in split tables, where they are consecutive.
enum SplitColumns8: LaneLoader {
    static var step: Int { 2 }
    static var split: Bool { true }
    @inline(__always) static func column(_ x: Int) -> Int { x / 2 }
    static var laneStride: Int { 1 }
    @inline(__always) static func load(_ p: UnsafePointer<UInt32>, _ offset: Int) -> SIMD8<UInt32> {
        UnsafeRawPointer(p + offset).loadUnaligned(as: SIMD8<UInt32>.self)
    }
}
