/// A frame in colour, as planar YUV 4:2:0 (BT.601, limited range): what `--annotate` draws on and
/// re-encodes. Chroma planes are `chromaWidth`×`chromaHeight` (half size, rounded up).
public struct ColourPicture: Sendable, Equatable {
    public let width: Int
    public let height: Int
    public var y: [UInt8]
    public var u: [UInt8]
    public var v: [UInt8]

    public var chromaWidth: Int { (width + 1) / 2 }
    public var chromaHeight: Int { (height + 1) / 2 }

    public init(width: Int, height: Int, y: [UInt8], u: [UInt8], v: [UInt8]) {
        precondition(width > 0 && height > 0, "empty picture")
        precondition(y.count == width * height && u.count == ((width + 1) / 2) * ((height + 1) / 2) && v.count == u.count,
                     "plane sizes do not match \(width)×\(height) 4:2:0")
        self.width = width
        self.height = height
        self.y = y
        self.u = u
        self.v = v
    }

    /// A picture filled with one colour.
    public init(width: Int, height: Int, filledWith c: YUV) {
        let chroma = ((width + 1) / 2) * ((height + 1) / 2)
        self.init(width: width, height: height, y: [UInt8](repeating: c.y, count: width * height),
                  u: [UInt8](repeating: c.u, count: chroma), v: [UInt8](repeating: c.v, count: chroma))
    }
}

/// One colour in BT.601 limited-range YUV.
public struct YUV: Sendable, Equatable {
    public var y: UInt8, u: UInt8, v: UInt8

    public init(y: UInt8, u: UInt8, v: UInt8) {
        self.y = y
        self.u = u
        self.v = v
    }

    /// From 8-bit sRGB-ish RGB (BT.601 matrix, limited range).
    public init(r: UInt8, g: UInt8, b: UInt8) {
        let R = Double(r) / 255, G = Double(g) / 255, B = Double(b) / 255
        func byte(_ x: Double) -> UInt8 { UInt8(max(0, min(255, x.rounded()))) }
        y = byte(16 + 65.481 * R + 128.553 * G + 24.966 * B)
        u = byte(128 - 37.797 * R - 74.203 * G + 112.0 * B)
        v = byte(128 + 112.0 * R - 93.786 * G - 18.214 * B)
    }
}
