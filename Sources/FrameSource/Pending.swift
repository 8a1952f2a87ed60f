// Placeholder until the frames branch lands.
import FERCore
public enum FrameSourceError: Error, CustomStringConvertible, Equatable { case openFailed(input: String, reason: String)
  public var description: String { "x" } }
public struct SourceOptions { public var threads = 0; public var formatOptions: [String: String] = [:]; public var inputFormat: String? = nil; public init() {} }
public final class VideoSource {
  public init(_ input: String, options: SourceOptions = .init()) throws { fatalError() }
  public func nextFrame() throws -> Frame? { nil }
  public var width = 0, height = 0; public var frameRate: Double? = nil; public var estimatedFrameCount: Int? = nil; public var isLive = false
  public func cancel() {}
}
