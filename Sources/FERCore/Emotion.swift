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

    public static let count = allCases.count
    public static let names: [String] = allCases.map(\.name)

    public init?(name: String) {
        guard let e = Emotion.allCases.first(where: { $0.name == name }) else { return nil }
        self = e
    }
}
