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
            for f in files { fm.createFile(atPath: root + "/" + folder + "/" + f, contents: Data()) }
        }
        fm.createFile(atPath: root + "/README.txt", contents: Data())
        let listing = try ImageFolder.list(root)
        // Folders in byte order ("Happy" < "anger"), files sorted within each.
        XCTAssertEqual(listing.files.map { ($0.path as NSString).lastPathComponent }, ["a.png", "b.png", "x.jpg"])
        XCTAssertEqual(listing.files.map(\.label), [.happy, .happy, .angry])
        XCTAssertEqual(listing.skippedFolders, ["contempt"])
        XCTAssertThrowsError(try ImageFolder.list(root + "/README.txt"))
    }
}
