import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
@testable import Plots

final class PlotsTests: XCTestCase {
    private let classes = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]

    /// Parses as XML and counts elements, so a broken tag or attribute fails.
    private func elements(_ svg: String, named name: String) throws -> Int {
        final class Counter: NSObject, XMLParserDelegate {
            let name: String
            var count = 0
            init(_ name: String) { self.name = name }
            func parser(_ parser: XMLParser, didStartElement e: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
                if e == name { count += 1 }
            }
        }
        let parser = XMLParser(data: Data(svg.utf8))
        let counter = Counter(name)
        parser.delegate = counter
        XCTAssertTrue(parser.parse(), "well-formed SVG: \(parser.parserError.map { "\($0)" } ?? "")")
        return counter.count
    }

    func testConfusionHasACellPerPairWithItsCount() throws {
        var m = Array(repeating: Array(repeating: 0, count: 7), count: 7)
        m[3][3] = 40; m[3][6] = 10; m[0][0] = 5
        let svg = Plots.confusion(m, classes: classes, title: "PrivateTest <10-crop>")
        XCTAssertEqual(try elements(svg, named: "rect"), 1 + 49)  // background + cells
        XCTAssertTrue(svg.contains(">40<"))
        XCTAssertTrue(svg.contains(">80%<"), "40 of happy's 50 on the diagonal")
        XCTAssertTrue(svg.contains("&lt;10-crop&gt;"), "text is escaped")
    }

    func testTimelineHasAPanelPerTrackAndALinePerClass() throws {
        let a = Plots.Series(name: "track 1", times: [0, 0.5, 1], values: Array(repeating: [0.1, 0, 0, 0.8, 0.1, 0, 0], count: 3))
        let b = Plots.Series(name: "track 2", times: [0.5, 1], values: Array(repeating: [0, 0, 0, 0, 0, 0, 1], count: 2))
        let svg = Plots.timeline([a, b], classes: classes, title: "timeline")
        XCTAssertEqual(try elements(svg, named: "polyline"), 14)
        XCTAssertEqual(try elements(svg, named: "rect"), 1 + 2 + 7)  // background, panels, legend swatches
        XCTAssertEqual(try elements(Plots.timeline([], classes: classes, title: "none"), named: "polyline"), 0)
    }

    func testBarsHaveTwoRectsPerClassPerFace() throws {
        let svg = Plots.bars([("a.png, face 1", [0.1, 0, 0, 0.7, 0.1, 0.05, 0.05]), ("b.png, face 1", [0, 0, 0, 0, 0, 0, 1])], classes: classes)
        XCTAssertEqual(try elements(svg, named: "rect"), 1 + 2 * 2 * 7)
        XCTAssertTrue(svg.contains(">70.0%<"))
    }

    /// A CK+ model's classes: named in the legend, anger in FER2013's angry red, contempt teal.
    func testAModelsOwnClassesTakeTheirColours() throws {
        let ckplus = ["anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise"]
        XCTAssertEqual(Plots.colours(for: ckplus), ["#d62728", "#17becf", "#8c564b", "#9467bd", "#2ca02c", "#1f77b4", "#ff7f0e"])
        XCTAssertEqual(Plots.colours(for: classes), Plots.emotionColours)
        let series = Plots.Series(name: "track 1", times: [0, 1], values: Array(repeating: [0, 0.9, 0, 0, 0.1, 0, 0], count: 2))
        let svg = Plots.timeline([series], classes: ckplus, title: "ck+")
        XCTAssertTrue(svg.contains("fill=\"#17becf\"/>"), "contempt's swatch")
        XCTAssertTrue(svg.contains(">contempt</text>"))
        XCTAssertEqual(try elements(svg, named: "polyline"), 7)
        let bars = Plots.bars([("a.png, face 1: contempt", [0, 0.9, 0, 0, 0.1, 0, 0])], classes: ckplus)
        XCTAssertTrue(bars.contains("fill=\"#17becf\"/>"), bars)
        XCTAssertTrue(bars.contains(">sadness</text>"))
    }

    /// A reliability diagram: a bar per non-empty bin, its height the share right, the gap to the
    /// bin's mean confidence red when over-confident, green when under.
    func testReliabilityBarsAndGaps() {
        var bins = Array(repeating: (count: 0, correct: 0, confidence: 0.0), count: 15)
        bins[14] = (10, 5, 9.7)   // claims 0.97, gets 0.5: over-confident
        bins[6] = (4, 4, 1.7)     // claims 0.425, gets 1: under-confident
        let svg = Plots.reliability(bins, title: "t")
        XCTAssertTrue(svg.hasPrefix("<svg"))
        XCTAssertEqual(svg.components(separatedBy: "fill=\"#4c72b0\"").count - 1, 2)
        XCTAssertEqual(svg.components(separatedBy: "fill=\"#d62728\"").count - 1, 1)
        XCTAssertEqual(svg.components(separatedBy: "fill=\"#2ca02c\"").count - 1, 1)
        XCTAssertTrue(svg.contains(">10</text>") && svg.contains(">4</text>"))
    }
}
