import FERCore
import Foundation

/// The pyramid driver: the detection image, its pyramid levels and their integral tables, each
/// level scanned by the compiled cascade (`CompiledCascade`).
extension FaceDetector {
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
