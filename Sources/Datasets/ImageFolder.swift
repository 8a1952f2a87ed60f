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

        public static func == (a: Listing, b: Listing) -> Bool {
            a.skippedFolders == b.skippedFolders && a.files.map(\.path) == b.files.map(\.path) && a.files.map(\.label) == b.files.map(\.label)
        }
    }

    /// The class a folder name stands for, whatever its case and leading numbering ("3_happy").
    public static func label(forFolder name: String) -> Emotion? {
        var key = name.lowercased().trimmingCharacters(in: .whitespaces)
        if let range = key.range(of: #"^[0-9]+[ _.-]+"#, options: .regularExpression) { key.removeSubrange(range) }
        return synonyms[key]
    }

    /// Lists the files of each class subfolder of `directory` (hidden files skipped; whether a
    /// file is an image is left to the decoder).
    public static func list(_ directory: String) throws(DatasetError) -> Listing {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw .cannotOpen(path: directory, reason: "not a directory")
        }
        let folders: [String]
        do { folders = try fm.contentsOfDirectory(atPath: directory).sorted() } catch {
            throw .cannotOpen(path: directory, reason: error.localizedDescription)
        }
        var files: [(String, Emotion)] = []
        var skipped: [String] = []
        for folder in folders where !folder.hasPrefix(".") {
            let path = (directory as NSString).appendingPathComponent(folder)
            guard fm.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { continue }
            guard let label = label(forFolder: folder) else { skipped.append(folder); continue }
            let names = ((try? fm.contentsOfDirectory(atPath: path)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
            files += names.map { ((path as NSString).appendingPathComponent($0), label) }
        }
        return Listing(files: files, skippedFolders: skipped)
    }
}
