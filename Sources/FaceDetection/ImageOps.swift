/// Low-level image kernels used by the detector. All work on raw row-major 8-bit buffers.
enum ImageOps {
    /// Bilinear resize with pixel centres aligned, 8-bit fixed-point weights and one rounding at
    /// the end — the arithmetic of OpenCV's `INTER_LINEAR_EXACT`, which its cascade detector
    /// uses for the pyramid (so raw hits match OpenCV's bit for bit). `dst` is `dw`×`dh`.
    static func resizeBilinear(_ src: UnsafePointer<UInt8>, _ sw: Int, _ sh: Int,
                               _ dst: UnsafeMutablePointer<UInt8>, _ dw: Int, _ dh: Int) {
        precondition(sw > 0 && sh > 0 && dw > 0 && dh > 0)
        let one = 256
        func table(_ s: Int, _ d: Int) -> ([Int], [Int]) {
            var idx = [Int](repeating: 0, count: d)
            var wt = [Int](repeating: 0, count: d)
            let scale = Double(s) / Double(d)
            for i in 0..<d {
                var f = (Double(i) + 0.5) * scale - 0.5
                var p = Int(f.rounded(.down))
                f -= Double(p)
                if p < 0 { p = 0; f = 0 }
                if p >= s - 1 { p = s - 1; f = 0 }
                idx[i] = p
                wt[i] = Int((f * Double(one)).rounded())
            }
            return (idx, wt)
        }
        let (xi, xw) = table(sw, dw)
        let (yi, yw) = table(sh, dh)
        xi.withUnsafeBufferPointer { xi in xw.withUnsafeBufferPointer { xw in
            for oy in 0..<dh {
                let y0 = yi[oy]
                let y1 = Swift.min(y0 + 1, sh - 1)
                let wy = yw[oy]
                let r0 = src + y0 * sw, r1 = src + y1 * sw
                let out = dst + oy * dw
                for ox in 0..<dw {
                    let x0 = xi[ox]
                    let x1 = Swift.min(x0 + 1, sw - 1)
                    let wx = xw[ox]
                    // 255·256·256 < 2³¹: no overflow possible, so skip the checks.
                    let top = Int(r0[x0]) &* (one &- wx) &+ Int(r0[x1]) &* wx
                    let bot = Int(r1[x0]) &* (one &- wx) &+ Int(r1[x1]) &* wx
                    out[ox] = UInt8(truncatingIfNeeded: (top &* (one &- wy) &+ bot &* wy &+ (1 << 15)) >> 16)
                }
            }
        } }
    }

    /// Area-averaging downscale (each output pixel is the mean of the source area it covers,
    /// fractional pixels weighted by coverage). For shrinking only (`dw <= sw`, `dh <= sh`).
    static func resizeArea(_ src: UnsafePointer<UInt8>, _ sw: Int, _ sh: Int, _ dw: Int, _ dh: Int) -> [UInt8] {
        precondition(dw > 0 && dh > 0 && dw <= sw && dh <= sh)
        func table(_ s: Int, _ d: Int) -> (start: [Int], idx: [Int], wt: [Float]) {
            let scale = Double(s) / Double(d)
            var start = [0], idx: [Int] = [], wt: [Float] = []
            for o in 0..<d {
                let a = Double(o) * scale, b = Swift.min(Double(o + 1) * scale, Double(s))
                var i = Int(a.rounded(.down))
                while Double(i) < b && i < s {
                    let w = Swift.min(b, Double(i + 1)) - Swift.max(a, Double(i))
                    if w > 1e-9 { idx.append(i); wt.append(Float(w / scale)) }
                    i += 1
                }
                start.append(idx.count)
            }
            return (start, idx, wt)
        }
        let tx = table(sw, dw), ty = table(sh, dh)
        var tmp = [Float](repeating: 0, count: dw * sh)
        var out = [UInt8](repeating: 0, count: dw * dh)
        tmp.withUnsafeMutableBufferPointer { tmp in
            tx.start.withUnsafeBufferPointer { xs in tx.idx.withUnsafeBufferPointer { xi in tx.wt.withUnsafeBufferPointer { xw in
                for y in 0..<sh {
                    let row = src + y * sw
                    let t = tmp.baseAddress! + y * dw
                    for ox in 0..<dw {
                        var acc: Float = 0
                        for k in xs[ox]..<xs[ox + 1] { acc += Float(row[xi[k]]) * xw[k] }
                        t[ox] = acc
                    }
                }
            } } }
            out.withUnsafeMutableBufferPointer { out in
                for oy in 0..<dh {
                    let o = out.baseAddress! + oy * dw
                    var acc = [Float](repeating: 0, count: dw)
                    acc.withUnsafeMutableBufferPointer { acc in
                        for k in ty.start[oy]..<ty.start[oy + 1] {
                            let w = ty.wt[k]
                            let t = tmp.baseAddress! + ty.idx[k] * dw
                            for ox in 0..<dw { acc[ox] += t[ox] * w }
                        }
                        for ox in 0..<dw { o[ox] = UInt8(Swift.min(Swift.max(acc[ox] + 0.5, 0), 255)) }
                    }
                }
            }
        }
        return out
    }

    /// Integral and squared integral of a `w`×`h` image into tables with row stride `stride`
    /// (≥ w + 1): `sum[(y+1)*stride + x+1]` = Σ pixels (≤x, ≤y). Row 0 and column 0 are zero.
    /// Arithmetic wraps modulo 2³²; differences over windows smaller than 2³² are exact.
    static func integral(_ src: UnsafePointer<UInt8>, _ w: Int, _ h: Int,
                         sum: UnsafeMutablePointer<UInt32>, sqsum: UnsafeMutablePointer<UInt32>, stride: Int) {
        for x in 0...w { sum[x] = 0; sqsum[x] = 0 }
        for y in 0..<h {
            let row = src + y * w
            let s = sum + (y + 1) * stride, sp = s - stride
            let q = sqsum + (y + 1) * stride, qp = q - stride
            s[0] = 0; q[0] = 0
            var rs: UInt32 = 0, rq: UInt32 = 0
            for x in 0..<w {
                let v = UInt32(row[x])
                rs &+= v
                rq &+= v &* v
                s[x + 1] = sp[x + 1] &+ rs
                q[x + 1] = qp[x + 1] &+ rq
            }
        }
    }

    /// 45°-tilted integral: T(X, Y) = Σ image(x, y) over y < Y, |x − X + 1| ≤ Y − y − 1 (the
    /// triangle above pixel (X−1, Y−1), opening upwards), pixels outside the image being 0.
    /// Stored at `t[Y*stride + X + col0]` for X in −(h+1)…w+h+1, so `col0` must be ≥ h + 1
    /// and `stride` ≥ col0 + w + h + 2. Recurrence:
    /// T(X,Y) = T(X−1,Y−1) + T(X+1,Y−1) − T(X,Y−2) + I(X−1,Y−1) + I(X−1,Y−2).
    static func tiltedIntegral(_ src: UnsafePointer<UInt8>, _ w: Int, _ h: Int,
                               t: UnsafeMutablePointer<UInt32>, stride: Int, col0: Int) {
        precondition(col0 >= h + 1 && stride >= col0 + w + h + 2)
        let lo = -(h + 1), hi = w + h + 1
        @inline(__always) func px(_ x: Int, _ y: Int) -> UInt32 {
            (x >= 0 && x < w && y >= 0 && y < h) ? UInt32(src[y * w + x]) : 0
        }
        for y in 0...h {
            let row = t + y * stride + col0
            row[lo] = 0; row[hi] = 0
            if y == 0 { for x in lo...hi { row[x] = 0 }; continue }
            let up = row - stride
            if y == 1 {
                for x in (lo + 1)..<hi { row[x] = px(x - 1, 0) }
                continue
            }
            let up2 = up - stride
            let srcRow1 = src + (y - 1) * w, srcRow2 = src + (y - 2) * w
            for x in (lo + 1)..<hi {
                var v = up[x - 1] &+ up[x + 1] &- up2[x]
                let sx = x - 1
                if sx >= 0 && sx < w { v &+= UInt32(srcRow1[sx]) &+ UInt32(srcRow2[sx]) }
                row[x] = v
            }
        }
    }
}

extension ImageOps {
    /// Copies `rows` table rows of `stride` entries, each reordered as its even columns
    /// (⌈stride/2⌉ of them) followed by its odd columns.
    static func splitColumns(_ src: UnsafePointer<UInt32>, _ dst: UnsafeMutablePointer<UInt32>, rows: Int, stride: Int) {
        let half = (stride + 1) / 2
        for r in 0..<rows {
            let s = src + r * stride, d = dst + r * stride
            var i = 0
            while 2 * i + 1 < stride { d[i] = s[2 * i]; d[half + i] = s[2 * i + 1]; i += 1 }
            if 2 * i < stride { d[i] = s[2 * i] }
        }
    }
}
