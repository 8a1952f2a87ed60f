import FERCore
import Foundation

/// A folder of class subfolders (`happy/`, `Sad/`, `anger/`, …), as many labelled face sets ship.
public enum ImageFolder {
    /// Folder names (lower-cased) accepted for each class.
    public static let synonyms: [String: Emotion] = [
        "angry": .angry, "anger": .angry, "mad": .angry,
        "disgust": .disgust, "disgusted": .disgust, "disgusting": .disgust,
        "fear": .fear, "fearful": .fear, "afraid": .fear, "scared": .fear,
        "happy": .happy, "happiness": .happy, "joy": .happy, "happy face": .happy,
        "sad": .sad, "sadness": .sad,
        "surprise": .surprise, "surprised": .surprise, "surprising": .surprise,
        "neutral": .neutral, "neutrality": .neutral,
    ]

    public struct Listing: Sendable, Equatable {
        /// Image files with their class, sorted by path.
        public var files: [(path: String, label: Emotion)]
        /// Subfolders that name no class (e.g. `contempt`), skipped.
        public var skippedFolders: [String]

        public init(files: [(path: String, label: Emotion)], skippedFolders: [String]) {
            self.files = files
            self.skippedFolders = skippedFolders
        }

        public static func == (a: Listing, b: Listing) -> Bool {
            a.skippedFolders == b.skippedFolders && a.files.map(\.path) == b.files.map(\.path) && a.files.map(\.label) == b.files.map(\.label)
        }
    }

    /// A model's view of a folder tree: image files with the index of their class among the
    /// model's `classes`.
    public struct ClassListing: Sendable, Equatable {
        public var classes: [String]
        /// Image files with the index of their class in `classes`, sorted by path.
        public var files: [(path: String, label: Int)]
        /// Subfolders that name none of `classes`, skipped.
        public var skippedFolders: [String]

        public static func == (a: ClassListing, b: ClassListing) -> Bool {
            a.classes == b.classes && a.skippedFolders == b.skippedFolders
                && a.files.map(\.path) == b.files.map(\.path) && a.files.map(\.label) == b.files.map(\.label)
        }
    }

    /// A folder name lower-cased, trimmed, without leading numbering ("3_happy" → "happy").
    static func key(forFolder name: String) -> String {
        var key = name.lowercased().trimmingCharacters(in: .whitespaces)
        if let range = key.range(of: #"^[0-9]+[ _.-]+"#, options: .regularExpression) { key.removeSubrange(range) }
        return key
    }

    /// The FER2013 class a folder name stands for, whatever its case and leading numbering ("3_happy").
    public static func label(forFolder name: String) -> Emotion? {
        synonyms[key(forFolder: name)]
    }

    /// The index among `classes` (a model's) of the class a folder name stands for: the class of
    /// that name (any case, leading numbering dropped), else the class that means the same FER2013
    /// emotion (`synonyms`: a "Happiness" folder is a model's "happy" or "happiness" class); nil
    /// when none does ("contempt" for a FER2013 model).
    public static func classIndex(forFolder name: String, classes: [String]) -> Int? {
        let key = key(forFolder: name)
        if let exact = classes.firstIndex(where: { $0.lowercased() == key }) { return exact }
        guard let emotion = synonyms[key] else { return nil }
        return classes.firstIndex { synonyms[$0.lowercased()] == emotion }
    }

    /// Lists the files of each class subfolder of `directory` for FER2013's classes (hidden files
    /// skipped; whether a file is an image is left to the decoder).
    public static func list(_ directory: String) throws(DatasetError) -> Listing {
        let listing = try list(directory, classes: Emotion.names)
        return Listing(files: listing.files.map { ($0.path, Emotion(rawValue: $0.label)!) }, skippedFolders: listing.skippedFolders)
    }

    /// Lists the files of each subfolder of `directory` that names one of `classes` (see
    /// `classIndex(forFolder:classes:)`; hidden files skipped; whether a file is an image is left
    /// to the decoder).
    public static func list(_ directory: String, classes: [String]) throws(DatasetError) -> ClassListing {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw .cannotOpen(path: directory, reason: "not a directory")
        }
        let folders: [String]
        do { folders = try fm.contentsOfDirectory(atPath: directory).sorted() } catch {
            throw .cannotOpen(path: directory, reason: error.localizedDescription)
        }
        var files: [(String, Int)] = []
        var skipped: [String] = []
        for folder in folders where !folder.hasPrefix(".") {
            let path = (directory as NSString).appendingPathComponent(folder)
            guard fm.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { continue }
            guard let label = classIndex(forFolder: folder, classes: classes) else { skipped.append(folder); continue }
            let names = ((try? fm.contentsOfDirectory(atPath: path)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
            files += names.map { ((path as NSString).appendingPathComponent($0), label) }
        }
        return ClassListing(classes: classes, files: files, skippedFolders: skipped)
    }
}
