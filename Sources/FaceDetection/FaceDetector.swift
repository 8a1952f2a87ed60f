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
    let compiled: CompiledCascadeCache

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
}
