import FaceCrop
import FERCore
import Recognizer

/// The faces of one still picture with their emotions: detect, crop, classify, with the same
/// options as `EmotionStream` but no tracker and no smoothing (what `fer-stream image` prints).
///
/// ```swift
/// var faces = DetectorOptions()
/// faces.minFaceSize = 24
/// let analyzer = try FaceAnalyzer(faces: faces)
/// let picture = try VideoSource.firstPicture(of: "group.jpg")
/// for face in try analyzer.faces(in: picture) {
///     print(face.box, analyzer.labels.name(at: face.label), face.score)
/// }
/// ```
///
/// Without a tracker to confirm a face over frames, only detections strong enough to open a
/// track count (`Detector.confidentDetections`). Each face is classified with the recognizer's
/// whole crop set (`RecognizerOptions.tta`: all 10 crops by default), not the stream's budget.
public struct FaceAnalyzer: Sendable {
    public let recognizer: Recognizer
    public let detector: Detector
    public let cropper: FaceCropper

    /// A face the detector found, cut out as the network takes it (48×48).
    public struct Found: Sendable, Equatable {
        public let detection: Detection
        public let crop: GrayImage
    }

    /// Loads the network, then the detector; either failing is one line naming its file.
    /// `detectionWidth` is Haar's working width (nil: its video default, 320 px); a still picture
    /// is searched at up to 1280 px wide, as there is no frame rate to keep up with.
    public init(recognizer: RecognizerOptions = .init(), faces: DetectorOptions = .init(),
                detectionWidth: Int? = 1280) throws(FERStreamError) {
        try self.init(recognizer: recognizer.makeRecognizer(), faces: faces, detectionWidth: detectionWidth)
    }

    /// With a recognizer already loaded (e.g. one that also classifies faces from elsewhere).
    public init(recognizer: Recognizer, faces: DetectorOptions = .init(), detectionWidth: Int? = 1280) throws(FERStreamError) {
        self.recognizer = recognizer
        detector = try faces.makeDetector(detectionWidth: detectionWidth)
        cropper = faces.cropper
    }

    /// The model's classes: `FaceResult.label` indexes them.
    public var labels: LabelSet { recognizer.weights.labels }

    /// The faces in `image`, in the detector's order, each cropped: the confident ones, or with
    /// `includingWeak` every detection (for a caller that takes the best guess of a picture
    /// known to hold a face).
    public func detect(in image: GrayImage, includingWeak: Bool = false) throws(FERStreamError) -> [Found] {
        let detections: [Detection]
        do {
            detections = includingWeak ? try detector.detections(in: image) : try detector.confidentDetections(in: image)
        } catch {
            throw FERStreamError(detecting: error)
        }
        return detections.map { Found(detection: $0, crop: cropper.crop(image, box: $0.box, landmarks: $0.landmarks)) }
    }

    /// The confident faces of `image` with their probabilities (`probs` and `raw` the same, as
    /// nothing is smoothed) and labels; `track` numbers them from 1 in the detector's order.
    public func faces(in image: GrayImage) throws(FERStreamError) -> [FaceResult] {
        let found = try detect(in: image)
        let probs: [[Float]]
        do { probs = try recognizer.probabilities(for: found.map(\.crop)) } catch { throw .recognizer(error) }
        return zip(found, probs).enumerated().map { i, pair in
            let d = pair.0.detection
            return FaceResult(track: i + 1, box: d.box, probs: pair.1, raw: pair.1, confidence: d.confidence, landmarks: d.landmarks)
        }
    }
}
