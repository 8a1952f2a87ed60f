import FERCore
import Foundation

/// Viola–Jones face detection with a `HaarCascade`, following OpenCV's `detectMultiScale`:
/// the frame is (optionally) shrunk to a detection size, then an image pyramid is scanned with
/// the cascade's fixed window (24×24); each window is variance-normalised, evaluated stage by
/// stage with early rejection, and the raw hits are merged with `groupRectangles` semantics.
///
/// A value type holding an immutable cascade: safe to share and call from any thread.
public struct FaceDetector: Sendable {
    public struct Options: Sendable, Equatable {
        /// Smallest face side, in pixels of the original frame. The detection image is kept
        /// large enough for a face of this size to fill the cascade window (see `detectionWidth`).
        public var minFaceSize: Int
        /// Largest face side in pixels of the original frame; nil: up to the frame size.
        public var maxFaceSize: Int?
        /// Pyramid step between scales (> 1).
        public var scaleFactor: Double
        /// A face needs more than this many raw hits in its cluster (OpenCV's `minNeighbors`).
        public var minNeighbors: Int
        /// The frame is shrunk to at most this width before detecting (area averaging) —
        /// unless that would make `minFaceSize` smaller than the cascade window, in which case
        /// it is shrunk only as far as `minFaceSize` allows. ≤ 0: never shrink.
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

    public init(cascade: HaarCascade, options: Options = Options()) {
        self.cascade = cascade
        self.options = options
    }

    /// Loads the cascade at `cascadePath` (default: Debian's frontal face cascade).
    public init(cascadePath: String = HaarCascade.defaultFrontalFacePath, options: Options = Options()) throws {
        self.init(cascade: try HaarCascade(contentsOfFile: cascadePath), options: options)
    }

    /// The faces in `image`, in its pixels, largest first (ties: top-to-bottom, left-to-right).
    public func detect(in image: GrayImage) -> [Box] {
        let raw = rawDetections(in: image)
        let grouped = groupRectangles(raw.boxes, minNeighbors: options.minNeighbors, eps: Self.groupEps)
        return grouped.map { raw.toFrame($0) }
            .filter { $0.width > 0 && $0.height > 0 }
            .sorted { ($0.area, -$0.y, -$0.x) > ($1.area, -$1.y, -$1.x) }
    }

    /// The scale from frame pixels to detection-image pixels for a frame of this size.
    public func detectionScale(width: Int, height: Int) -> Double {
        guard width > 0 else { return 1 }
        var s = options.detectionWidth > 0 ? Double(options.detectionWidth) / Double(width) : 1
        if options.minFaceSize > 0 {
            let win = Double(max(cascade.windowWidth, cascade.windowHeight))
            s = max(s, win / Double(options.minFaceSize))
        }
        return min(1, s)
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

    /// All windows accepted by the cascade, before grouping (detection-image pixels).
    func rawDetections(in image: GrayImage, forceScalar: Bool = false) -> RawDetections {
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
        let minWin = Double(max(options.minFaceSize, 0)) * result.sx
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
            if Double(winW) >= minWin && Double(winH) >= minWin * result.sy / result.sx { levels.append((f, lw, lh)) }
            f *= factorStep
        }
        guard let first = levels.first else { return result }

        // 3. Shared tables: one row stride for every level, so feature offsets are computed once.
        let tilted = cascade.usesTiltedFeatures
        let maxW = first.width, maxH = first.height
        let stride = tilted ? maxW + 2 * maxH + 3 : maxW + 1
        let sumCount = (maxH + 1) * stride
        let tiltStart = tilted ? sumCount : 0
        let col0 = maxH + 1
        precondition((tilted ? 2 : 1) * sumCount < Int(Int32.max), "FaceDetector: detection image too large")
        let compiled = CompiledCascade(cascade, stride: stride, tiltedBase: tiltStart + col0)

        let pad = CompiledCascade.tablePadding
        var tables = [UInt32](repeating: 0, count: (tilted ? 2 * sumCount : sumCount) + pad)
        var sqTable = [UInt32](repeating: 0, count: sumCount + pad)
        var levelBuf = [UInt8](repeating: 0, count: maxW * maxH)
        var hits: [Box] = []
        hits.reserveCapacity(256)

        let source = detection ?? image.pixels
        source.withUnsafeBufferPointer { srcBuf in
        tables.withUnsafeMutableBufferPointer { tab in
        sqTable.withUnsafeMutableBufferPointer { sq in
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
                compiled.scan(sum: UnsafePointer(tab.baseAddress!), sqsum: UnsafePointer(sq.baseAddress!),
                              width: lw, height: lh, step: step, forceScalar: forceScalar) { x, y in
                    hits.append(Box(x: Int((Double(x) * level.factor).rounded()), y: Int((Double(y) * level.factor).rounded()),
                                    width: winW, height: winH))
                }
            }
        } } } }
        result.boxes = hits
        return result
    }
}

// MARK: - evaluation

/// The cascade laid out for one integral-table row stride: every rectangle corner is a
/// precomputed offset from the window's top-left entry of the integral table.
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

    let windowWidth: Int, windowHeight: Int
    let stages: [Stage]
    let stumps: [Stump]       // when stump-based
    let trees: [Tree]         // otherwise
    let nodes: [Node]
    let leaves: [Float]
    let isStumpBased: Bool
    let stride: Int
    /// Variance window: the cascade window less a 1-pixel border (as OpenCV).
    let norm: (a: Int, b: Int, c: Int, d: Int, area: Double)

    init(_ c: HaarCascade, stride: Int, tiltedBase: Int) {
        windowWidth = c.windowWidth
        windowHeight = c.windowHeight
        self.stride = stride
        func pack(_ f: HaarCascade.Feature) -> PackedFeature {
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
                    o[4 * k + j] = Int32((f.tilted ? tiltedBase : 0) + y * stride + x)
                }
                w[k] = r.weight
            }
            return PackedFeature(a0: o[0], b0: o[1], c0: o[2], d0: o[3], a1: o[4], b1: o[5], c1: o[6], d1: o[7],
                                 a2: o[8], b2: o[9], c2: o[10], d2: o[11], w0: w[0], w1: w[1], w2: w[2])
        }
        let packed = c.features.map(pack)
        stages = c.stages.map { Stage(count: $0.weakCount, threshold: $0.threshold) }
        isStumpBased = c.isStumpBased
        if c.isStumpBased {
            stumps = c.weaks.map { w in
                let n = c.nodes[Int(w.firstNode)]
                return Stump(f: packed[Int(n.feature)], threshold: n.threshold,
                             left: c.leaves[Int(w.firstLeaf)], right: c.leaves[Int(w.firstLeaf) + 1])
            }
            trees = []; nodes = []; leaves = []
        } else {
            stumps = []
            trees = c.weaks.map { Tree(firstNode: $0.firstNode, firstLeaf: $0.firstLeaf) }
            nodes = c.nodes.map { Node(f: packed[Int($0.feature)], threshold: $0.threshold, left: $0.left, right: $0.right) }
            leaves = c.leaves
        }
        let nx = 1, ny = 1, nw = c.windowWidth - 2, nh = c.windowHeight - 2
        norm = (ny * stride + nx, ny * stride + nx + nw, (ny + nh) * stride + nx, (ny + nh) * stride + nx + nw, Double(nw * nh))
    }

    /// Windows whose grey-level standard deviation is not above this are skipped.
    static let minStdDev = 10.0

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

    /// Scans every `step`-th window position of one pyramid level; calls `hit(x, y)` for each
    /// window that passes all stages. As OpenCV, a window rejected by the first stage also
    /// skips the next position in its row, and flat windows (σ ≤ 10) are rejected.
    /// The tables must have at least `CompiledCascade.tablePadding` readable entries past the
    /// last row (the vector path reads a few positions beyond the row end and ignores them).
    func scan(sum: UnsafePointer<UInt32>, sqsum: UnsafePointer<UInt32>, width: Int, height: Int, step: Int,
              forceScalar: Bool = false, hit: (Int, Int) -> Void) {
        if isStumpBased && !forceScalar {
            if step == 1 {
                scanStumps8(Contiguous8.self, sum: sum, sqsum: sqsum, width: width, height: height, hit: hit)
            } else if step == 2 {
                scanStumps8(EveryOther8.self, sum: sum, sqsum: sqsum, width: width, height: height, hit: hit)
            } else {
                scanScalar(sum: sum, sqsum: sqsum, width: width, height: height, step: step, hit: hit)
            }
        } else {
            scanScalar(sum: sum, sqsum: sqsum, width: width, height: height, step: step, hit: hit)
        }
    }

    /// Entries the vector path may read past the end of a table.
    static let tablePadding = 64

    /// Stump cascades, eight window positions at a time (`L` picks consecutive positions or
    /// every other one): each integral-table read becomes one vector load for eight windows.
    /// Visits exactly the positions the scalar scan visits and gives the same answers.
    private func scanStumps8<L: LaneLoader>(_: L.Type, sum: UnsafePointer<UInt32>, sqsum: UnsafePointer<UInt32>,
                                            width: Int, height: Int, hit: (Int, Int) -> Void) {
        let maxX = width - windowWidth, maxY = height - windowHeight
        guard maxX >= 0 && maxY >= 0 else { return }
        let step = L.step
        typealias F8 = SIMD8<Float>
        typealias D8 = SIMD8<Double>
        typealias I8 = SIMD8<Int32>
        stages.withUnsafeBufferPointer { st in
        stumps.withUnsafeBufferPointer { sp in
            let nStages = st.count
            let (na, nb, nc, nd, area) = norm
            let minNf = D8(repeating: area * area * CompiledCascade.minStdDev * CompiledCascade.minStdDev)
            let areaV = D8(repeating: area)
            let laneIndex = I8(0, 1, 2, 3, 4, 5, 6, 7)
            var y = 0
            while y <= maxY {
                let rowBase = y * stride
                var x0 = 0
                var nextVisit = 0
                while x0 <= maxX {
                    let p = sum + rowBase + x0
                    let q = sqsum + rowBase + x0
                    // window variance for the eight positions
                    let s = I8(truncatingIfNeeded: L.load(p, na) &- L.load(p, nb) &- L.load(p, nc) &+ L.load(p, nd))
                    let sq = I8(truncatingIfNeeded: L.load(q, na) &- L.load(q, nb) &- L.load(q, nc) &+ L.load(q, nd))
                    let sd = D8(s)
                    let nf = areaV * D8(SIMD8<UInt32>(truncatingIfNeeded: sq)) - sd * sd
                    let notFlat = SIMD8<Int32>(truncatingIfNeeded: SIMD8<Int64>(repeating: 0).replacing(with: 1, where: nf .> minNf)) .!= 0
                    let inv = F8(1 / nf.squareRoot())
                    var w = sp.baseAddress!
                    // stage 0 for all eight
                    var acc = F8(repeating: 0)
                    let stage0 = st[0]
                    for _ in 0..<Int(stage0.count) {
                        acc += CompiledCascade.stump8(L.self, p, w, inv)
                        w += 1
                    }
                    let pass0 = acc .>= F8(repeating: stage0.threshold)
                    // which of the eight does the row walk visit (OpenCV's skip rule)?
                    let inRow = laneIndex .<= I8(repeating: Int32((maxX - x0) / step))
                    var visited = SIMDMask<SIMD8<Int32>>(repeating: false)
                    for j in 0..<8 {
                        let pos = x0 + j * step
                        if pos > maxX { break }
                        if pos == nextVisit {
                            visited[j] = true
                            nextVisit = pos + ((notFlat[j] && !pass0[j]) ? 2 * step : step)
                        }
                    }
                    var alive = visited .& inRow .& notFlat .& pass0
                    var si = 1
                    while si < nStages && any(alive) {
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
                        for j in 0..<8 where alive[j] { hit(x0 + j * step, y) }
                    }
                    x0 += 8 * step
                }
                y += step
            }
        } }
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

    private func scanScalar(sum: UnsafePointer<UInt32>, sqsum: UnsafePointer<UInt32>, width: Int, height: Int, step: Int,
                            hit: (Int, Int) -> Void) {
        let maxX = width - windowWidth, maxY = height - windowHeight
        guard maxX >= 0 && maxY >= 0 else { return }
        stages.withUnsafeBufferPointer { st in
        stumps.withUnsafeBufferPointer { sp in
        trees.withUnsafeBufferPointer { tp in
        nodes.withUnsafeBufferPointer { np in
        leaves.withUnsafeBufferPointer { lp in
            let nStages = st.count
            let (na, nb, nc, nd, area) = norm
            // nf = area·σ; OpenCV keeps a window only when area / nf < 0.1, i.e. σ > 10.
            let minNf = area * area * CompiledCascade.minStdDev * CompiledCascade.minStdDev
            var y = 0
            while y <= maxY {
                var x = 0
                let rowBase = y * stride
                while x <= maxX {
                    let base = rowBase + x
                    let p = sum + base
                    let q = sqsum + base
                    let s = Int64(Int32(bitPattern: p[na] &- p[nb] &- p[nc] &+ p[nd]))
                    let sq = Int64(q[na] &- q[nb] &- q[nc] &+ q[nd])
                    let nf = area * Double(sq) - Double(s * s)
                    // Flat windows (σ ≤ minStdDev grey levels) are rejected outright, as OpenCV does.
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
}

/// How the vector path picks eight window positions from a row of the integral table.
protocol LaneLoader {
    static var step: Int { get }
    static func load(_ p: UnsafePointer<UInt32>, _ offset: Int) -> SIMD8<UInt32>
}

/// Positions x, x+1, …, x+7.
enum Contiguous8: LaneLoader {
    static var step: Int { 1 }
    @inline(__always) static func load(_ p: UnsafePointer<UInt32>, _ offset: Int) -> SIMD8<UInt32> {
        UnsafeRawPointer(p + offset).loadUnaligned(as: SIMD8<UInt32>.self)
    }
}

/// Positions x, x+2, …, x+14.
enum EveryOther8: LaneLoader {
    static var step: Int { 2 }
    @inline(__always) static func load(_ p: UnsafePointer<UInt32>, _ offset: Int) -> SIMD8<UInt32> {
        UnsafeRawPointer(p + offset).loadUnaligned(as: SIMD16<UInt32>.self).evenHalf
    }
}
