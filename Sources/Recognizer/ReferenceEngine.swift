import Dispatch
import SafeTensors

/// The simple, correct engine in plain Swift: each convolution is im2col + a register-blocked GEMM
/// over activations laid out channel-major across the batch ([C][N][H][W]), so the batch widens
/// every matrix product. It is the oracle that faster backends are tested against.
public final class ReferenceEngine: InferenceEngine {
    public let weights: NetworkWeights
    public let name = "reference"
    /// Parallel tasks per layer (1 = this thread only).
    public let threads: Int

    public init(weights: NetworkWeights, threads: Int = 2) {
        self.weights = weights
        self.threads = max(1, threads)
    }

    public func logits(for input: [Float], count n: Int) throws(RecognizerError) -> [Float] {
        let s = weights.inputSize
        guard n > 0, input.count == n * s * s else {
            throw .badInput(reason: "expected \(n) crops of \(s)×\(s) (\(n * s * s) floats), got \(input.count)")
        }
        let convs = weights.convs, lastUse = weights.lastUse
        // A 1-channel NHW batch is already [C=1][N][H][W].
        var outputs = [[Float]](repeating: [], count: convs.count)
        for (i, conv) in convs.enumerated() {
            let source = conv.source == NetworkWeights.Conv.networkInput ? input : outputs[conv.source]
            let side = conv.convolvedSide
            var out = [Float](repeating: 0, count: conv.outChannels * n * side * side)
            convolve(source, conv: conv, batch: n, into: &out)
            if let a = conv.addend {
                // The residual sum, then the ReLU the GEMM left out.
                outputs[a].withUnsafeBufferPointer { add in
                    for k in out.indices { out[k] = conv.relu ? max(out[k] + add[k], 0) : out[k] + add[k] }
                }
            }
            if conv.poolAfter { out = maxPool(out, channels: conv.outChannels, batch: n, side: side) }
            outputs[i] = out
            // Each output is kept until the last convolution that reads or adds it has run.
            for j in 0..<i where lastUse[j] == i { outputs[j] = [] }
        }
        let last = convs.count - 1
        switch weights.head {
        case .flatten:
            return classify(outputs[last], batch: n, side: convs[last].outputSide)
        case .averagePool(let window):
            let pooled = averagePool(outputs[last], channels: convs[last].outChannels, batch: n, side: convs[last].outputSide, window: window)
            return classify(pooled, batch: n, side: weights.finalSide)
        }
    }

    /// Convolution + bias (+ ReLU unless a residual sum follows), `input` [Cin][N][side][side] →
    /// `out` [Cout][N][oside][oside].
    private func convolve(_ input: [Float], conv: NetworkWeights.Conv, batch n: Int, into out: inout [Float]) {
        let outSide = conv.convolvedSide
        let columns = n * outSide * outSide
        let k = conv.inChannels * conv.kernel * conv.kernel
        let m = conv.outChannels
        let relu = conv.relu && conv.addend == nil
        // Column blocks bound the im2col buffer; each block is one GEMM shared out by output rows.
        let blockWidth = min(columns, 512)
        let stride = (blockWidth + 7) & ~7
        var col = [Float](repeating: 0, count: k * stride)
        let rowChunks = min(threads, m / 4)
        input.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dstBuf in
                col.withUnsafeMutableBufferPointer { colBuffer in
                    let dst = dstBuf, colBuf = colBuffer
                    conv.weight.withUnsafeBufferPointer { w in
                        conv.bias.withUnsafeBufferPointer { bias in
                            var j0 = 0
                            while j0 < columns {
                                let width = min(blockWidth, columns - j0)
                                im2col(src, conv: conv, batch: n, from: j0, width: width, stride: stride, into: colBuf)
                                let rowsPerChunk = ((m / max(rowChunks, 1)) + 3) & ~3
                                // The workers read the same buffers and write disjoint rows of `dst`.
                                nonisolated(unsafe) let w = w, bias = bias, colBuf = colBuf, dst = dst
                                let from = j0
                                let task: @Sendable (Int) -> Void = { (chunk: Int) in
                                    let r0 = chunk * rowsPerChunk
                                    let r1 = min(m, r0 + rowsPerChunk)
                                    if r0 < r1 {
                                        gemmBias(w: w, bias: bias, k: k, rows: r0..<r1, col: colBuf, stride: stride, width: width,
                                                 relu: relu, out: dst, outOffset: from, outStride: columns)
                                    }
                                }
                                if rowChunks > 1 {
                                    DispatchQueue.concurrentPerform(iterations: rowChunks, execute: task)
                                } else {
                                    task(0)
                                }
                                j0 += width
                            }
                        }
                    }
                }
            }
        }
    }

    /// Fills rows r = ci·k² + dy·k + dx of `col` with the input pixel under tap (dy, dx) for each
    /// output column j in [from, from+width); zero outside the image (the padding).
    private func im2col(_ src: UnsafeBufferPointer<Float>, conv: NetworkWeights.Conv, batch n: Int,
                        from j0: Int, width: Int, stride: Int, into col: UnsafeMutableBufferPointer<Float>) {
        let side = conv.inputSide, plane = side * side
        let outSide = conv.convolvedSide, outPlane = outSide * outSide
        let kernel = conv.kernel, step = conv.stride, pad = conv.padding
        for ci in 0..<conv.inChannels {
            for dy in 0..<kernel {
                for dx in 0..<kernel {
                    let row = (ci * kernel * kernel + dy * kernel + dx) * stride
                    for jj in 0..<width {
                        let j = j0 + jj
                        let img = j / outPlane
                        let p = j - img * outPlane
                        let y = (p / outSide) * step + dy - pad
                        let x = (p % outSide) * step + dx - pad
                        col[row + jj] = (y >= 0 && y < side && x >= 0 && x < side)
                            ? src[(ci * n + img) * plane + y * side + x] : 0
                    }
                }
            }
        }
    }

    /// window×window stride-window average pooling, no padding, floor mode.
    private func averagePool(_ input: [Float], channels: Int, batch n: Int, side: Int, window: Int) -> [Float] {
        let outSide = (side - window) / window + 1
        var out = [Float](repeating: 0, count: channels * n * outSide * outSide)
        let scale = 1 / Float(window * window)
        for plane in 0..<(channels * n) {
            for oy in 0..<outSide {
                for ox in 0..<outSide {
                    var sum: Float = 0
                    for y in 0..<window { for x in 0..<window { sum += input[plane * side * side + (oy * window + y) * side + ox * window + x] } }
                    out[plane * outSide * outSide + oy * outSide + ox] = sum * scale
                }
            }
        }
        return out
    }

    private func maxPool(_ input: [Float], channels: Int, batch n: Int, side: Int) -> [Float] {
        let half = side / 2
        var out = [Float](repeating: 0, count: channels * n * half * half)
        for plane in 0..<(channels * n) {
            let src = plane * side * side
            let dst = plane * half * half
            for y in 0..<half {
                for x in 0..<half {
                    let a = src + 2 * y * side + 2 * x
                    out[dst + y * half + x] = max(max(input[a], input[a + 1]), max(input[a + side], input[a + side + 1]))
                }
            }
        }
        return out
    }

    /// Linear layer on the flattened (C, H, W) features of each image.
    private func classify(_ act: [Float], batch n: Int, side: Int) -> [Float] {
        let classes = weights.classifierBias.count
        let plane = side * side
        let channels = weights.features / plane
        var out = [Float](repeating: 0, count: n * classes)
        for img in 0..<n {
            for c in 0..<classes {
                var sum = weights.classifierBias[c]
                for ch in 0..<channels {
                    for p in 0..<plane {
                        sum += weights.classifierWeight[c * weights.features + ch * plane + p] * act[(ch * n + img) * plane + p]
                    }
                }
                out[img * classes + c] = sum
            }
        }
        return out
    }
}

/// out[r][outOffset + j] = bias[r] + Σ_k w[r][k]·col[k][j] (ReLU'd when `relu`) for r in `rows`, j < width.
/// A 4-row × 8-column tile of accumulators stays in registers across the whole k loop.
@inline(__always)
private func gemmBias(w: UnsafeBufferPointer<Float>, bias: UnsafeBufferPointer<Float>, k: Int, rows: Range<Int>,
                      col: UnsafeMutableBufferPointer<Float>, stride: Int, width: Int, relu: Bool,
                          out: UnsafeMutableBufferPointer<Float>, outOffset: Int, outStride: Int) {
    let wp = w.baseAddress!, cp = UnsafeRawPointer(col.baseAddress!), op = out.baseAddress!
    var r = rows.lowerBound
    while r < rows.upperBound {
        let tileRows = min(4, rows.upperBound - r)
        var j = 0
        while j < width {
            var a0 = SIMD8<Float>(repeating: 0), a1 = a0, a2 = a0, a3 = a0
            let w0 = wp + r * k
            let w1 = wp + min(r + 1, rows.upperBound - 1) * k
            let w2 = wp + min(r + 2, rows.upperBound - 1) * k
            let w3 = wp + min(r + 3, rows.upperBound - 1) * k
            var bOff = j * 4
            for kk in 0..<k {
                let b = cp.loadUnaligned(fromByteOffset: bOff, as: SIMD8<Float>.self)
                a0 += w0[kk] * b
                a1 += w1[kk] * b
                a2 += w2[kk] * b
                a3 += w3[kk] * b
                bOff += stride * 4
            }
            let acc = [a0, a1, a2, a3]
            for t in 0..<tileRows {
                let base = (r + t) * outStride + outOffset + j
                let bval = bias[r + t]
                for e in 0..<min(8, width - j) {
                    op[base + e] = relu ? max(acc[t][e] + bval, 0) : acc[t][e] + bval
                }
            }
            j += 8
        }
        r += 4
    }
}
