/// The classes a model tells apart, in the order of its outputs: FER2013's seven emotions, or
/// whatever the model's metadata names (a CK+ model: anger, contempt, disgust, fear, happy,
/// sadness, surprise). Every output (NDJSON keys, CSV columns, plots, annotated video) uses these
/// names; labels are indices into `names`.
public struct LabelSet: Sendable, Hashable, CustomStringConvertible {
    public let names: [String]

    public init(_ names: [String]) {
        self.names = names
    }

    public var count: Int { names.count }
    public var indices: Range<Int> { names.indices }

    /// FER2013's classes, in the data set's order (`Emotion` order).
    public static let fer2013 = LabelSet(Emotion.names)

    /// The name of class `index`; "class N" for an index outside the set (never a crash).
    public func name(at index: Int) -> String {
        names.indices.contains(index) ? names[index] : "class \(index)"
    }

    /// The index of the class named `name` (exactly), if any.
    public func index(of name: String) -> Int? {
        names.firstIndex(of: name)
    }

    public var description: String { names.joined(separator: ",") }

    /// Other spellings of FER2013's class names that models and data sets use (CK+, AffectNet, …).
    public static let emotionSynonyms: [String: Emotion] = [
        "anger": .angry, "sadness": .sad, "happiness": .happy, "surprised": .surprise,
        "disgusted": .disgust, "fearful": .fear,
    ]

    /// The FER2013 emotion a class name stands for: an `Emotion` name or one of
    /// `emotionSynonyms`, in any case; nil for other classes (contempt, …).
    public static func emotion(named name: String) -> Emotion? {
        let key = name.lowercased()
        return Emotion(name: key) ?? emotionSynonyms[key]
    }

    /// The FER2013 emotion class `index` stands for, if any.
    public func emotion(at index: Int) -> Emotion? {
        names.indices.contains(index) ? Self.emotion(named: names[index]) : nil
    }

    /// Contempt's colour (CK+), apart from the seven emotions'.
    public static let contemptColour: (red: UInt8, green: UInt8, blue: UInt8) = (0x17, 0xbe, 0xcf)

    /// Colours for classes that are none of the above, by index (wrapping): distinct from each
    /// other, from the seven emotions' and from contempt's.
    public static let fallbackPalette: [(red: UInt8, green: UInt8, blue: UInt8)] = [
        (0xe3, 0x77, 0xc2), (0xbc, 0xbd, 0x22), (0x39, 0x3b, 0x79), (0x84, 0x3c, 0x39),
        (0x63, 0x79, 0x39), (0x7b, 0x41, 0x73), (0xe7, 0xba, 0x52), (0x6b, 0x6e, 0xcf),
    ]

    /// The colour of class `index` in every picture fer-stream draws: a FER2013 emotion (or a
    /// synonym: anger, sadness, …) takes `Emotion.colour`, contempt a teal of its own, any other
    /// class a colour from `fallbackPalette` by its index.
    public func colour(at index: Int) -> (red: UInt8, green: UInt8, blue: UInt8) {
        if let e = emotion(at: index) { return e.colour }
        if names.indices.contains(index), names[index].lowercased() == "contempt" { return Self.contemptColour }
        let palette = Self.fallbackPalette
        return palette[((index % palette.count) + palette.count) % palette.count]
    }

    /// `colour(at:)` as `#rrggbb`.
    public func hexColour(at index: Int) -> String {
        let c = colour(at: index)
        return "#" + [c.red, c.green, c.blue].map { b in
            let s = String(b, radix: 16)
            return s.count == 1 ? "0" + s : s
        }.joined()
    }
}
