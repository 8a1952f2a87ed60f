/// An axis-aligned box in whole pixels of the original frame: what detection and output use.
public struct Box: Sendable, Hashable, Codable, CustomStringConvertible {
    public var x: Int, y: Int, width: Int, height: Int

    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x; self.y = y; self.width = width; self.height = height
    }

    public var area: Int { Swift.max(width, 0) * Swift.max(height, 0) }

    /// Intersection over union; 0 for disjoint or empty boxes.
    public func iou(_ other: Box) -> Double {
        let ix = Swift.max(0, Swift.min(x + width, other.x + other.width) - Swift.max(x, other.x))
        let iy = Swift.max(0, Swift.min(y + height, other.y + other.height) - Swift.max(y, other.y))
        let inter = ix * iy
        let union = area + other.area - inter
        return union > 0 ? Double(inter) / Double(union) : 0
    }

    public var description: String { "[\(x),\(y),\(width),\(height)]" }
}

/// A point in pixels of the original frame (not rounded): a facial landmark.
public struct Point: Sendable, Hashable, Codable, CustomStringConvertible {
    public var x: Double, y: Double

    public init(x: Double, y: Double) {
        self.x = x; self.y = y
    }

    public var description: String { "(\(x),\(y))" }
}
