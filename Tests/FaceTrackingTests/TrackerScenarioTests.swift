import FaceDetection
@testable import FaceTracking
import FERCore
import Foundation
import TestSupport
import XCTest

/// Generated detection streams with ground truth: faces that cross, hide, leave and come back,
/// move fast, with detector jitter, missed frames and weak detections. Counts id switches and
/// fragments for the tracker and for the one it replaced (`PreviousTracker`), in the same run.
///
/// `swift test --filter TrackerScenarioTests` prints the table docs/faces.md quotes.
final class TrackerScenarioTests: XCTestCase {
    struct Truth { var id: Int; var box: Box }

    /// One frame: the true faces and what a detector reported.
    struct Frame { var truth: [Truth]; var detections: [Detection] }

    struct Scenario { var name: String; var frames: [Frame] }

    /// Faces moving along `paths` (centre at frame i, side), visible where `visible` says;
    /// detections jittered by 3% of the side, missed 8% of frames, weak (0.3–0.6) in 20%.
    static func scenario(_ name: String, frames n: Int, seed: UInt64,
                         _ paths: [(Int) -> (x: Double, y: Double, side: Double, visible: Bool)]) -> Scenario {
        var rng = SplitMix(seed: seed)
        var frames: [Frame] = []
        for i in 0..<n {
            var f = Frame(truth: [], detections: [])
            for (id, path) in paths.enumerated() {
                let p = path(i)
                guard p.visible else { continue }
                let box = Box(x: Int(p.x - p.side / 2), y: Int(p.y - p.side / 2), width: Int(p.side), height: Int(p.side))
                f.truth.append(Truth(id: id, box: box))
                if rng.uniform() < 0.08 { continue }
                let j = { Int(((rng.uniform() - 0.5) * 0.06 * Float(p.side)).rounded()) }
                let noisy = Box(x: box.x + j(), y: box.y + j(), width: box.width + j(), height: box.height + j())
                let confidence = rng.uniform() < 0.2 ? 0.3 + 0.3 * Double(rng.uniform()) : 0.7 + 0.3 * Double(rng.uniform())
                f.detections.append(Detection(box: noisy, strength: confidence, confidence: confidence))
            }
            frames.append(f)
        }
        return Scenario(name: name, frames: frames)
    }

    static let scenarios: [Scenario] = [
        // Two faces walk through each other; the one behind is not detected while mostly covered.
        scenario("crossing", frames: 90, seed: 1, [
            { i in (100 + 5 * Double(i), 200, 80, true) },
            { i in let x = 550 - 5 * Double(i); return (x, 210, 80, abs(x - (100 + 5 * Double(i))) > 40) },
        ]),
        // A face walking right is hidden behind something for 0.7 s (20 frames at 30 fps).
        scenario("occluded", frames: 90, seed: 2, [{ i in (80 + 4 * Double(i), 240, 90, !(35..<55).contains(i)) }]),
        // A face leaves at the right edge and comes back 1.2 s later; a second face stays.
        scenario("leave and return", frames: 120, seed: 3, [
            { i in (500, 200, 100, !(40..<76).contains(i)) },
            { _ in (150, 220, 90, true) },
        ]),
        // A face darting 35 px per frame (a third of its side) back and forth.
        scenario("fast motion", frames: 90, seed: 4, [{ i in (320 + 250 * sin(Double(i) / 4), 240, 100, true) }]),
        // Three faces moving about a room at different speeds, passing one another.
        scenario("three people", frames: 150, seed: 5, [
            { i in (100 + 3 * Double(i), 150 + 40 * sin(Double(i) / 20), 70, true) },
            { i in (600 - 2 * Double(i), 200, 75, true) },
            { i in (300 + 100 * sin(Double(i) / 15), 300, 80, !(60..<70).contains(i)) },
        ]),
    ]

    struct Figures: Equatable { var switches = 0; var fragments = 0; var reported = 0; var truth = 0 }

    /// Matches reported faces to true ones by IoU ≥ 0.3 and counts, per true face, changes of
    /// its track id (switches) and ids beyond its first (fragments).
    static func measure(_ s: Scenario, _ track: ([Detection], Double) -> [TrackedFace]) -> Figures {
        var fig = Figures()
        var last: [Int: Int] = [:], ids: [Int: Set<Int>] = [:]
        for (i, f) in s.frames.enumerated() {
            let out = track(f.detections, Double(i) / 30)
            fig.truth += f.truth.count
            for t in f.truth {
                guard let r = out.max(by: { $0.box.iou(t.box) < $1.box.iou(t.box) }), r.box.iou(t.box) >= 0.3 else { continue }
                fig.reported += 1
                if let l = last[t.id], l != r.track { fig.switches += 1 }
                last[t.id] = r.track
                ids[t.id, default: []].insert(r.track)
            }
        }
        fig.fragments = ids.values.reduce(0) { $0 + $1.count - 1 }
        return fig
    }

    func testNewTrackerKeepsIdentities() {
        let options = FaceTracker.Options(minHits: 2, minBirthStrength: 0.6)
        var rows = ["| scenario | frames | previous: id switches / fragments / faces reported | new: id switches / fragments / faces reported |", "|---|---|---|---|"]
        var total = (old: Figures(), new: Figures())
        for s in Self.scenarios {
            var old = PreviousTracker(options: .init(minHits: 2, minBirthStrength: 0.6))
            var new = FaceTracker(options: options)
            let a = Self.measure(s) { d, _ in old.update(detections: d) }
            let b = Self.measure(s) { d, t in new.update(detections: d, time: t) }
            rows.append("| \(s.name) | \(s.frames.count) | \(a.switches) / \(a.fragments) / \(a.reported) of \(a.truth) | \(b.switches) / \(b.fragments) / \(b.reported) of \(b.truth) |")
            total.old.switches += a.switches; total.old.fragments += a.fragments
            total.new.switches += b.switches; total.new.fragments += b.fragments
            XCTAssertEqual(b.switches, 0, "\(s.name): one person keeps one id")
            XCTAssertEqual(b.fragments, 0, "\(s.name)")
            XCTAssertGreaterThan(Double(b.reported), 0.8 * Double(b.truth), "\(s.name): faces are reported")
        }
        print(rows.joined(separator: "\n"))
        XCTAssertLessThan(total.new.switches + total.new.fragments, total.old.switches + total.old.fragments)
    }
}
