/// The seven FER2013 classes, in the data set's order (0...6); the network's outputs follow it.
public enum Emotion: Int, CaseIterable, Sendable, Codable, CustomStringConvertible {
    case angry = 0, disgust, fear, happy, sad, surprise, neutral

    public var name: String {
        switch self {
        case .angry: "angry"
        case .disgust: "disgust"
        case .fear: "fear"
        case .happy: "happy"
        case .sad: "sad"
        case .surprise: "surprise"
        case .neutral: "neutral"
        }
    }

    public var description: String { name }

    /// The colour that stands for this emotion in every picture fer-stream draws (timeline, bars,
    /// confusion matrix, annotated video): distinct from each other, on white and on video.
    public var colour: (red: UInt8, green: UInt8, blue: UInt8) {
        switch self {
        case .angry: (0xd6, 0x27, 0x28)
        case .disgust: (0x8c, 0x56, 0x4b)
        case .fear: (0x94, 0x67, 0xbd)
        case .happy: (0x2c, 0xa0, 0x2c)
        case .sad: (0x1f, 0x77, 0xb4)
        case .surprise: (0xff, 0x7f, 0x0e)
        case .neutral: (0x7f, 0x7f, 0x7f)
        }
    }

    public static let count = allCases.count
    public static let names: [String] = allCases.map(\.name)

    public init?(name: String) {
        guard let e = Emotion.allCases.first(where: { $0.name == name }) else { return nil }
        self = e
    }
}
