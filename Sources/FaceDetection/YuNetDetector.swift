import FaceCrop
import FERCore
import Foundation

/// One head map of YuNet at one stride: `rows`×`cols` cells of 16 values each (NHWC): class
/// logit, box (dx, dy, log w, log h), objectness logit, 5 landmarks (dx, dy), all in units of
/// the stride from the cell's corner.
public struct YuNetHeadMap: Sendable {
    public var stride: Int, rows: Int, cols: Int
    public var values: [Float]

    public init(stride: Int, rows: Int, cols: Int, values: [Float]) {
        precondition(values.count == rows * cols * 16, "YuNet head map \(rows)×\(cols) needs \(rows * cols * 16) values")
        self.stride = stride; self.rows = rows; self.cols = cols; self.values = values
    }
}

/// Runs YuNet's network (FaceDetectorDNNL's `YuNetNetwork` on oneDNN): grey values of a
/// `rows`×`cols` image (multiples of 32) in, the three head maps out.
public protocol YuNetRunning: AnyObject, Sendable {
    /// `count` inputs of one size at once (`pixels` holds them one after the other).
    func heads(batch pixels: [Float], count: Int, rows: Int, cols: Int) throws -> [[YuNetHeadMap]]
}

extension YuNetRunning {
    /// One input.
    public func heads(pixels: [Float], rows: Int, cols: Int) throws -> [YuNetHeadMap] {
        try heads(batch: pixels, count: 1, rows: rows, cols: cols)[0]
    }
}

/// A face found by a CNN detector, before mapping back to frame pixels.
public struct ScoredFace: Sendable, Equatable {
    /// x, y, width, height in input pixels (not rounded).
    public var rect: Rect
    public var score: Double
    public var landmarks: [Point]

    public init(rect: Rect, score: Double, landmarks: [Point]) {
        self.rect = rect; self.score = score; self.landmarks = landmarks
    }

    /// This face in other coordinates: scaled by (kx, ky), then moved by (dx, dy).
    func mapped(kx: Double = 1, ky: Double = 1, dx: Double = 0, dy: Double = 0) -> ScoredFace {
        ScoredFace(rect: Rect(x: dx + rect.x * kx, y: dy + rect.y * ky, width: rect.width * kx, height: rect.height * ky),
                   score: score, landmarks: landmarks.map { Point(x: dx + $0.x * kx, y: dy + $0.y * ky) })
    }
}

/// YuNet's decoding (libfacedetection's `bbox_decode`, `kps_decode`, `detection_output`):
/// score √(σ(class)·σ(objectness)), boxes and landmarks from the cell grid, then greedy NMS.
public enum YuNetDecoder {
    public static func decode(_ maps: [YuNetHeadMap], threshold: Double, nmsIoU: Double = 0.45, topK: Int = 1000) -> [ScoredFace] {
        var found: [ScoredFace] = []
        for map in maps {
            let s = Float(map.stride)
            map.values.withUnsafeBufferPointer { v in
                for r in 0..<map.rows {
                    for c in 0..<map.cols {
                        let p = (r * map.cols + c) * 16
                        let score = (sigmoid(v[p]) * sigmoid(v[p + 5])).squareRoot()
                        guard Double(score) >= threshold else { continue }
                        let gx = Float(c) * s, gy = Float(r) * s
                        let cx = v[p + 1] * s + gx, cy = v[p + 2] * s + gy
                        let w = exp(v[p + 3]) * s, h = exp(v[p + 4]) * s
                        let landmarks = (0..<5).map { k in
                            Point(x: Double(v[p + 6 + 2 * k] * s + gx), y: Double(v[p + 7 + 2 * k] * s + gy))
                        }
                        found.append(ScoredFace(rect: Rect(x: Double(cx - w / 2), y: Double(cy - h / 2), width: Double(w), height: Double(h)),
                                                score: Double(score), landmarks: landmarks))
                    }
                }
            }
        }
        return nonMaximumSuppression(found, iou: nmsIoU, topK: topK)
    }

    /// Greedy NMS: highest score first (ties in input order), a face is kept unless it overlaps
    /// a kept one by more than `iou`.
    public static func nonMaximumSuppression(_ faces: [ScoredFace], iou limit: Double, topK: Int = .max) -> [ScoredFace] {
        let sorted = faces.enumerated().sorted { ($0.element.score, -$0.offset) > ($1.element.score, -$1.offset) }.prefix(topK).map(\.element)
        var kept: [ScoredFace] = []
        for f in sorted where kept.allSatisfy({ $0.rect.iou(f.rect) <= limit }) { kept.append(f) }
        return kept
    }

    @inline(__always) static func sigmoid(_ x: Float) -> Float { 1 / (1 + exp(-x)) }
}

extension Rect {
    /// Intersection over union of two real-valued rectangles.
    public func iou(_ o: Rect) -> Double {
        let iw = max(0, min(x + width, o.x + o.width) - max(x, o.x))
        let ih = max(0, min(y + height, o.y + o.height) - max(y, o.y))
        let inter = iw * ih, union = width * height + o.width * o.height - inter
        return union > 0 ? inter / union : 0
    }
}

/// Finds faces with YuNet on grey frames, at the scale `--min-face` needs.
///
/// Whole frames are scaled so that a face of `minFaceSize` frame pixels is `networkMinFace`
/// pixels at the network's input (measured with libfacedetection itself on the astronaut
/// portrait: found from 22 px, confidence 0.49; 0.79 at 24 px, 0.87 at 28 px; nothing at 20 px). A frame is never enlarged, so the smallest face found in
/// a frame is max(minFaceSize, networkMinFace).
/// Near tracked faces, each face's neighbourhood (`regionScale` face sides) is scaled to a
/// `regionSide`² input: a fraction of a whole frame's cost.
public struct YuNetDetector: Sendable {
    public struct Options: Sendable, Equatable {
        /// Smallest face to find, in frame pixels (`--min-face`).
        public var minFaceSize: Int = 40
        /// The size a `minFaceSize` face is scaled to at the network input.
        public var networkMinFace: Double = 24
        /// Weakest score kept (detections between this and a tracker's birth threshold can only
        /// continue tracks).
        public var threshold: Double = 0.3
        /// Side of the network input for the neighbourhood of a tracked face, and how many face
        /// sides that neighbourhood spans.
        public var regionSide: Int = 128
        public var regionScale: Double = 2.2
        /// Inputs larger than `tileSide`² are cut into tiles that overlap by `tileOverlap` pixels
        /// (at the network's scale).
        public var tileSide: Int = 768
        public var tileOverlap: Double = 128

        public init(minFaceSize: Int = 40) { self.minFaceSize = minFaceSize }
    }

    public let runner: any YuNetRunning
    public var options: Options

    public init(runner: any YuNetRunning, options: Options = Options()) {
        self.runner = runner
        self.options = options
    }

    /// The factor frames of this size are scaled by for a whole-frame scan (≤ 1).
    public func scale(width: Int, height: Int) -> Double {
        min(1, options.networkMinFace / Double(max(1, options.minFaceSize)))
    }

    /// The faces in the whole of `image`.
    ///
    /// A large input is cut into overlapping tiles (`tileSide`², `tileOverlap` apart at the
    /// network's scale), which bounds memory whatever the frame size; faces larger than the
    /// overlap that a tile edge cuts, and faces too large for YuNet's coarsest anchors at the main
    /// scale, are found by a second pass on a small copy (short side 320).
    public func detections(in image: GrayImage) throws -> [Detection] {
        guard image.width >= 8 && image.height >= 8 else { return [] }
        let s = scale(width: image.width, height: image.height)
        let w = max(1, Int((Double(image.width) * s).rounded())), h = max(1, Int((Double(image.height) * s).rounded()))
        var faces = try run(image, scale: s, tiled: w * h > options.tileSide * options.tileSide)
        if min(w, h) > 480 {
            let coarse = 320 / Double(min(image.width, image.height))
            faces += try run(image, scale: coarse, tiled: false).filter { $0.rect.width * s > options.tileOverlap / 2 }
        }
        return Self.dropNested(YuNetDecoder.nonMaximumSuppression(faces, iou: 0.45)).compactMap { detection($0, in: image) }
    }

    /// Drops faces lying mostly (70%) inside a larger, more confident one: at fine scales parts of
    /// a large face (an eye and brow, the mouth) can fire as small faces, and no face is inside another.
    static func dropNested(_ faces: [ScoredFace]) -> [ScoredFace] {
        faces.filter { f in
            !faces.contains { g in
                guard g.score > f.score, g.rect.width * g.rect.height > 2 * f.rect.width * f.rect.height else { return false }
                let iw = max(0, min(f.rect.x + f.rect.width, g.rect.x + g.rect.width) - max(f.rect.x, g.rect.x))
                let ih = max(0, min(f.rect.y + f.rect.height, g.rect.y + g.rect.height) - max(f.rect.y, g.rect.y))
                return iw * ih >= 0.7 * f.rect.width * f.rect.height
            }
        }
    }

    /// The faces near `boxes` (tracked faces), each searched in its own neighbourhood; the
    /// neighbourhoods go through the network together, as one batch.
    public func detections(in image: GrayImage, near boxes: [Box]) throws -> [Detection] {
        let n = options.regionSide
        var regions: [Rect] = [], pixels: [Float] = []
        pixels.reserveCapacity(boxes.count * n * n)
        for box in boxes {
            let side = Double(max(box.width, box.height)) * options.regionScale
            let cx = Double(box.x) + Double(box.width) / 2, cy = Double(box.y) + Double(box.height) / 2
            let region = Rect(x: cx - side / 2, y: cy - side / 2, width: side, height: side)
            regions.append(region)
            pixels += Self.padded(resample(image, region, n, n), width: n, height: n)
        }
        var faces: [ScoredFace] = []
        if !regions.isEmpty {
            let side = Self.paddedSide(n)
            let maps = try runner.heads(batch: pixels, count: regions.count, rows: side, cols: side)
            for (region, m) in zip(regions, maps) {
                let k = region.width / Double(n)
                faces += YuNetDecoder.decode(m, threshold: options.threshold).map { $0.mapped(kx: k, ky: k, dx: region.x, dy: region.y) }
            }
        }
        return Self.dropNested(YuNetDecoder.nonMaximumSuppression(faces, iou: 0.45)).compactMap { detection($0, in: image) }
    }

    /// Faces of `image` scaled by `s`, in frame pixels, from the whole scaled image or from tiles of it.
    private func run(_ image: GrayImage, scale s: Double, tiled: Bool) throws -> [ScoredFace] {
        let w = max(1, Int((Double(image.width) * s).rounded())), h = max(1, Int((Double(image.height) * s).rounded()))
        let input: GrayImage
        if w == image.width && h == image.height {
            input = image
        } else {
            input = image.pixels.withUnsafeBufferPointer { GrayImage(width: w, height: h, pixels: ImageOps.resizeArea($0.baseAddress!, image.width, image.height, w, h)) }
        }
        var found: [ScoredFace] = []
        let side = options.tileSide, step = max(32, side - Int(options.tileOverlap))
        func starts(_ n: Int) -> [Int] {
            guard tiled, n > side else { return [0] }
            var out = Array(stride(from: 0, to: n - side, by: step))
            out.append(n - side)
            return out
        }
        for y0 in starts(h) {
            for x0 in starts(w) {
                let tw = tiled ? min(side, w) : w, th = tiled ? min(side, h) : h
                let tile = (tw == w && th == h) ? input : input.cropped(x: x0, y: y0, width: tw, height: th)
                found += try decode(tile, width: tw, height: th).map { $0.mapped(dx: Double(x0), dy: Double(y0)) }
            }
        }
        let kx = Double(image.width) / Double(w), ky = Double(image.height) / Double(h)
        return found.map { $0.mapped(kx: kx, ky: ky) }
    }

    /// Runs the network on `image` zero-padded to multiples of 32 (as libfacedetection does).
    public func decode(_ image: GrayImage, width: Int, height: Int) throws -> [ScoredFace] {
        let rows = Self.paddedSide(height), cols = Self.paddedSide(width)
        return YuNetDecoder.decode(try runner.heads(pixels: Self.padded(image, width: width, height: height), rows: rows, cols: cols),
                                   threshold: options.threshold)
    }

    /// A side rounded up to the multiple of 32 the network takes.
    static func paddedSide(_ n: Int) -> Int { (n + 31) / 32 * 32 }

    /// `image`'s grey values as floats, zero-padded on the right and bottom to multiples of 32.
    static func padded(_ image: GrayImage, width: Int, height: Int) -> [Float] {
        let rows = paddedSide(height), cols = paddedSide(width)
        var pixels = [Float](repeating: 0, count: rows * cols)
        image.pixels.withUnsafeBufferPointer { src in
            pixels.withUnsafeMutableBufferPointer { dst in
                for y in 0..<height {
                    for x in 0..<width { dst[y * cols + x] = Float(src[y * width + x]) }
                }
            }
        }
        return pixels
    }

    private func resample(_ image: GrayImage, _ r: Rect, _ w: Int, _ h: Int) -> GrayImage {
        // Shrinking a large face's neighbourhood: average areas (the cropper's sampling) rather
        // than sample points, so the network sees what a smaller face would look like.
        if r.width > Double(w) * 1.5 {
            return FaceCropper(size: w, margin: 0).crop(image, square: r)
        }
        return image.resampled(from: r, toWidth: w, height: h)
    }

    private func detection(_ f: ScoredFace, in image: GrayImage) -> Detection? {
        let x0 = max(0, f.rect.x), y0 = max(0, f.rect.y)
        let x1 = min(Double(image.width), f.rect.x + f.rect.width), y1 = min(Double(image.height), f.rect.y + f.rect.height)
        guard x1 - x0 >= 4, y1 - y0 >= 4, max(f.rect.width, f.rect.height) >= Double(options.minFaceSize) * 0.8 else { return nil }
        let box = Box(x: Int(x0.rounded()), y: Int(y0.rounded()), width: Int((x1 - x0).rounded()), height: Int((y1 - y0).rounded()))
        return Detection(box: box, strength: f.score, confidence: f.score, landmarks: f.landmarks)
    }
}
