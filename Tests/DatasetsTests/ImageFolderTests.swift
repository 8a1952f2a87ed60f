import Foundation
import XCTest
import FERCore
@testable import Datasets
import TestSupport

final class ImageFolderTests: XCTestCase {
    func testSynonymsAndCase() {
        XCTAssertEqual(ImageFolder.label(forFolder: "Anger"), .angry)
        XCTAssertEqual(ImageFolder.label(forFolder: "disgusted"), .disgust)
        XCTAssertEqual(ImageFolder.label(forFolder: "FEARFUL"), .fear)
        XCTAssertEqual(ImageFolder.label(forFolder: "happiness"), .happy)
        XCTAssertEqual(ImageFolder.label(forFolder: "Sadness"), .sad)
        XCTAssertEqual(ImageFolder.label(forFolder: "surprised"), .surprise)
        XCTAssertEqual(ImageFolder.label(forFolder: "3_happy"), .happy)
        XCTAssertNil(ImageFolder.label(forFolder: "contempt"))
    }

    func testListingSkipsUnknownFoldersAndHiddenFiles() throws {
        let root = Scratch.path("folders")
        let fm = FileManager.default
        for (folder, files) in [("Happy", ["b.png", "a.png", ".DS_Store"]), ("anger", ["x.jpg"]), ("contempt", ["c.png"])] {
            try fm.createDirectory(atPath: root + "/" + folder, withIntermediateDirectories: true)
            for f in files { XCTAssertTrue(fm.createFile(atPath: root + "/" + folder + "/" + f, contents: Data())) }
        }
        XCTAssertTrue(fm.createFile(atPath: root + "/README.txt", contents: Data()))
        let listing = try ImageFolder.list(root)
        // Folders in byte order ("Happy" < "anger"), files sorted within each.
        XCTAssertEqual(listing.files.map { ($0.path as NSString).lastPathComponent }, ["a.png", "b.png", "x.jpg"])
        XCTAssertEqual(listing.files.map(\.label), [.happy, .happy, .angry])
        XCTAssertEqual(listing.skippedFolders, ["contempt"])
        XCTAssertThrowsError(try ImageFolder.list(root + "/README.txt"))
    }

    /// A model's own classes (CK+): a folder is the class of its name, else the class meaning the
    /// same emotion; folders naming none of them are skipped.
    func testFoldersMapToTheModelsClasses() throws {
        let ckplus = ["anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"]
        XCTAssertEqual(ImageFolder.classIndex(forFolder: "Contempt", classes: ckplus), 1)
        XCTAssertEqual(ImageFolder.classIndex(forFolder: "2_contempt", classes: ckplus), 1)
        XCTAssertEqual(ImageFolder.classIndex(forFolder: "happy", classes: ckplus), 4)
        XCTAssertEqual(ImageFolder.classIndex(forFolder: "Happiness", classes: ckplus), 4)
        XCTAssertEqual(ImageFolder.classIndex(forFolder: "angry", classes: ckplus), 0, "FER2013's name for CK+'s anger")
        XCTAssertEqual(ImageFolder.classIndex(forFolder: "sad", classes: ckplus), 5)
        XCTAssertNil(ImageFolder.classIndex(forFolder: "neutral", classes: ckplus), "CK+ has no neutral")
        XCTAssertNil(ImageFolder.classIndex(forFolder: "contempt", classes: Emotion.names))
        for (name, e) in ImageFolder.synonyms {
            XCTAssertEqual(ImageFolder.classIndex(forFolder: name, classes: Emotion.names), e.rawValue, "FER2013 folders as before: \(name)")
        }

        let root = Scratch.path("ckplus-folders")
        let fm = FileManager.default
        for (folder, files) in [("contempt", ["c.png"]), ("Happy", ["b.png", "a.png"]), ("neutral", ["n.png"]), ("sadness", ["s.png"])] {
            try fm.createDirectory(atPath: root + "/" + folder, withIntermediateDirectories: true)
            for f in files { XCTAssertTrue(fm.createFile(atPath: root + "/" + folder + "/" + f, contents: Data())) }
        }
        let listing = try ImageFolder.list(root, classes: ckplus)
        XCTAssertEqual(listing.files.map { ($0.path as NSString).lastPathComponent }, ["a.png", "b.png", "c.png", "s.png"])
        XCTAssertEqual(listing.files.map(\.label), [4, 4, 1, 5])
        XCTAssertEqual(listing.skippedFolders, ["neutral"])
        XCTAssertEqual(listing.classes, ckplus)
        XCTAssertEqual(try ImageFolder.list(root).skippedFolders, ["contempt"], "FER2013's listing skips contempt, keeps neutral")
    }
}
