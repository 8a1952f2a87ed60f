import FERCore
import Foundation
import Synchronization

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
