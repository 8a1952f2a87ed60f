// Placeholder until the faces branch lands.
import FERCore
public enum FaceCropError: Error, CustomStringConvertible { case x; public var description: String { "x" } }
public struct HaarCascade: Sendable { public init(path: String) throws {} }
public struct FaceDetector: Sendable { public struct Options: Sendable { public var minFaceSize = 40; public var detectionWidth = 320; public init() {} }
  public init(cascade: HaarCascade, options: Options = .init()) {}
  public func detect(in image: GrayImage) -> [Box] { [] } }
public struct TrackedFace: Sendable { public let track: Int; public let box: Box }
public struct FaceTracker { public init() {}; public mutating func update(with boxes: [Box]) -> [TrackedFace] { [] } }
public struct FaceCropper: Sendable { public init(margin: Double = 0.1) {}; public func crop(_ image: GrayImage, box: Box) -> GrayImage { image } }
