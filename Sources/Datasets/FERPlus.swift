import Foundation

/// FER+ (Barsoum et al. 2016): ten crowd annotators' votes for each FER2013 face, in a CSV whose
/// `row` column is the face's 0-based data row in the FER2013 CSV (`FER2013.loadRows`) and whose
/// vote columns are named after FER+'s classes (`neutral,happiness,surprise,sadness,anger,disgust,
/// fear,contempt,unknown,NF`, in any order; other columns are ignored).
public enum FERPlus {
    /// FER+'s vote columns in its own order: ties for the top vote go to the earlier one, as
    /// `numpy.argmax` breaks them in FER+'s tools.
    public static let columns = ["neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF"]
    /// The columns that name an emotion (not `unknown` or `NF`, not a face).
    public static let emotions = Array(columns.prefix(8))

    /// One face's votes, in `columns` order.
    public struct Votes: Sendable, Equatable {
        public let row: Int
        public let counts: [Int]

        public init(row: Int, counts: [Int]) {
            self.row = row
            self.counts = counts
        }

        /// The top vote's index in `columns`; nil when that is `unknown` or `NF` (such faces are
        /// left out of majority accuracy) or when there are no votes.
        public var majority: Int? {
            guard let top = counts.indices.max(by: { counts[$0] < counts[$1] || (counts[$0] == counts[$1] && $0 > $1) }),
                  counts[top] > 0, top < FERPlus.emotions.count else { return nil }
            return top
        }
    }

    /// The FER+ emotion a model's class name stands for (FER2013's names and the usual synonyms), or nil.
    public static func emotion(forClass name: String) -> Int? {
        let synonyms: [String: String] = ["happy": "happiness", "sad": "sadness", "angry": "anger", "surprised": "surprise",
                                          "disgusted": "disgust", "fearful": "fear", "happiness": "happiness",
                                          "sadness": "sadness", "anger": "anger"]
        let key = name.lowercased()
        return emotions.firstIndex(of: synonyms[key] ?? key)
    }

    /// Reads the votes; every row must have a whole `row` ≥ 0 and whole vote counts ≥ 0.
    public static func load(path: String) throws(DatasetError) -> [Votes] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "not readable as UTF-8 text" : "No such file or directory"
            throw .cannotOpen(path: path, reason: reason)
        }
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).makeIterator()
        guard let header = lines.next().map({ $0.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) } }) else {
            throw .malformedVotes(path: path, line: 1, reason: "the file is empty")
        }
        let missing = (["row"] + columns).filter { !header.contains($0) }
        guard missing.isEmpty else {
            throw .malformedVotes(path: path, line: 1, reason: "no column \(missing.joined(separator: ", "))")
        }
        let rowAt = header.firstIndex(of: "row")!
        let voteAt = columns.map { header.firstIndex(of: $0)! }
        var out: [Votes] = []
        var number = 1
        for line in lines {
            number += 1
            if line.allSatisfy(\.isWhitespace) { continue }
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count == header.count else {
                throw .malformedVotes(path: path, line: number, reason: "\(fields.count) fields, the header has \(header.count)")
            }
            func whole(_ i: Int) throws(DatasetError) -> Int {
                let s = fields[i].trimmingCharacters(in: .whitespaces)
                guard let v = Int(s), v >= 0 else {
                    throw .malformedVotes(path: path, line: number, reason: "\(header[i]) '\(s)' is not a whole number ≥ 0")
                }
                return v
            }
            var counts: [Int] = []
            for i in voteAt { counts.append(try whole(i)) }
            out.append(Votes(row: try whole(rowAt), counts: counts))
        }
        return out
    }
}
