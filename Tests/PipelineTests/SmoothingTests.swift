import XCTest
import FERCore
@testable import Pipeline

final class SmoothingTests: XCTestCase {
    func testParsing() throws {
        XCTAssertEqual(try Smoothing(parsing: "ema:0.25"), .ema(alpha: 0.25))
        XCTAssertEqual(try Smoothing(parsing: "ema"), .ema(alpha: 0.3))
        XCTAssertEqual(try Smoothing(parsing: "window:5"), .window(5))
        XCTAssertEqual(try Smoothing(parsing: "none"), Smoothing.none)
        for bad in ["ema:0", "ema:1.5", "ema:x", "window:0", "window", "median:3", ""] {
            XCTAssertThrowsError(try Smoothing(parsing: bad), bad)
        }
        XCTAssertEqual(try Smoothing(parsing: "tau:0.5"), .tau(seconds: 0.5))
        // The message names the setting and what a valid one looks like, not a command-line flag.
        XCTAssertThrowsError(try Smoothing(parsing: "tau:0")) { error in
            XCTAssertEqual("\(error)", "smoothing 'tau:0': tau needs 0 < S ≤ 60 seconds, e.g. tau:0.5")
            XCTAssertEqual((error as? Smoothing.ParseError)?.reason, "tau needs 0 < S ≤ 60 seconds, e.g. tau:0.5")
        }
    }

    func testEMAFollowsTheRecurrence() {
        var s = TrackSmoother(.ema(alpha: 0.5))
        XCTAssertEqual(s.smooth(track: 1, raw: [1, 0]), [1, 0])  // the first value is taken as is
        XCTAssertEqual(s.smooth(track: 1, raw: [0, 1]), [0.5, 0.5])
        XCTAssertEqual(s.smooth(track: 1, raw: [0, 1]), [0.25, 0.75])
        // Another track has its own state.
        XCTAssertEqual(s.smooth(track: 2, raw: [0, 1]), [0, 1])
    }

    func testWindowIsMeanOfLastN() {
        var s = TrackSmoother(.window(2))
        XCTAssertEqual(s.smooth(track: 1, raw: [1, 0]), [1, 0])
        XCTAssertEqual(s.smooth(track: 1, raw: [0, 1]), [0.5, 0.5])
        XCTAssertEqual(s.smooth(track: 1, raw: [0, 1]), [0, 1])  // the first vector left the window
    }

    func testNoneIsIdentity() {
        var s = TrackSmoother(.none)
        _ = s.smooth(track: 1, raw: [1, 0])
        XCTAssertEqual(s.smooth(track: 1, raw: [0.2, 0.8]), [0.2, 0.8])
    }

    func testGoneTracksAreForgotten() {
        var s = TrackSmoother(.ema(alpha: 0.5), forgetAfter: 10)
        _ = s.smooth(track: 1, raw: [1, 0])
        for _ in 0..<64 {
            _ = s.smooth(track: 2, raw: [0, 1])
            s.endFrame()
        }
        XCTAssertEqual(s.trackCount, 1)
        // A forgotten track starts afresh.
        XCTAssertEqual(s.smooth(track: 1, raw: [0, 1]), [0, 1])
    }
}

final class TimeSmoothingTests: XCTestCase {
    let neutral: [Float] = [0.1, 0, 0, 0, 0, 0, 0.9], happy: [Float] = [0.1, 0, 0, 0.9, 0, 0, 0]

    /// A step from neutral to happy at 1 s, fed at `fps` (with `drop` frames missing after the
    /// step, as `--every` or real-time skips do); the smoothed happy probability at each time.
    func run(fps: Double, drop: Set<Int> = [], until end: Double = 2, rule: LabelRule = .argmax) -> [(t: Double, s: Smoothed)] {
        var smoother = TrackSmoother(.tau(seconds: 0.5), rule: rule)
        var out: [(Double, Smoothed)] = []
        var i = 0
        while Double(i) / fps <= end + 1e-9 {
            let t = Double(i) / fps
            if !drop.contains(i) { out.append((t, smoother.update(track: 1, raw: t < 1 ? neutral : happy, time: t))) }
            smoother.endFrame()
            i += 1
        }
        return out
    }

    func testTauIsTheSameAtAnyFrameRateAndAcrossGaps() throws {
        let at = { (r: [(t: Double, s: Smoothed)], t: Double) in r.first { abs($0.t - t) < 1e-6 }!.s.probs[3] }
        // Happy at 1.6 s: the step happened after the last neutral frame, 1 − 1/fps.
        let reference = { (fps: Double) in 0.9 * (1 - exp(-(1.6 - (1 - 1 / fps)) / 0.5)) }
        for fps in [15.0, 30, 60] {
            XCTAssertEqual(Double(at(run(fps: fps), 1.6)), reference(fps), accuracy: 1e-5, "\(fps) fps")
        }
        XCTAssertEqual(reference(60), reference(15), accuracy: 0.03, "nearly the same curve at 15 and 60 fps (they differ only by where the step falls between frames)")
        // Frames 31…44 missing at 30 fps (skipped or not analysed): the same value at 1.6 s.
        XCTAssertEqual(Double(at(run(fps: 30, drop: Set(31...44)), 1.6)), reference(30), accuracy: 1e-5)
        // The per-frame EMA it replaces halves its time constant when the frame rate doubles.
        var ema30 = TrackSmoother(.ema(alpha: 0.3)), ema60 = TrackSmoother(.ema(alpha: 0.3))
        _ = ema30.smooth(track: 1, raw: neutral); _ = ema60.smooth(track: 1, raw: neutral)
        var a: Float = 0, b: Float = 0
        for _ in 0..<3 { a = ema30.smooth(track: 1, raw: happy)[3] }   // 0.1 s at 30 fps
        for _ in 0..<6 { b = ema60.smooth(track: 1, raw: happy)[3] }   // 0.1 s at 60 fps
        XCTAssertGreaterThan(b - a, 0.15)
    }

    func testHoldAndMarginKeepALabelThroughBlips() {
        let rule = LabelRule(hold: 0.3, margin: 0.1)
        var s = TrackSmoother(.none, rule: rule)
        XCTAssertEqual(s.update(track: 1, raw: neutral, time: 0).label, Emotion.neutral.rawValue)
        // Happy leads for 0.2 s, then neutral again: no change.
        XCTAssertEqual(s.update(track: 1, raw: happy, time: 0.1).label, Emotion.neutral.rawValue)
        XCTAssertEqual(s.update(track: 1, raw: happy, time: 0.3).label, Emotion.neutral.rawValue)
        XCTAssertEqual(s.update(track: 1, raw: neutral, time: 0.4).label, Emotion.neutral.rawValue)
        // A lead under the margin never switches, however long.
        let close: [Float] = [0, 0, 0, 0.48, 0, 0, 0.42]
        for t in stride(from: 0.5, through: 2.0, by: 0.1) { XCTAssertEqual(s.update(track: 1, raw: close, time: t).label, Emotion.neutral.rawValue, "\(t)") }
        // A clear lead held for 0.3 s switches, and `held` counts from the switch.
        XCTAssertEqual(s.update(track: 1, raw: happy, time: 2.1).label, Emotion.neutral.rawValue)
        XCTAssertEqual(s.update(track: 1, raw: happy, time: 2.3).label, Emotion.neutral.rawValue)
        let switched = s.update(track: 1, raw: happy, time: 2.4)
        XCTAssertEqual(switched.label, Emotion.happy.rawValue)
        XCTAssertEqual(switched.held, 0, accuracy: 1e-9)
        XCTAssertEqual(s.update(track: 1, raw: happy, time: 3.4).held, 1.0, accuracy: 1e-9)
        XCTAssertEqual(s.update(track: 1, raw: happy, time: 3.4).score(happy), 0.9, accuracy: 1e-6)
    }

    func testStepIsFollowedWithinHoldPlusSmoothing() {
        let r = run(fps: 30, until: 3, rule: LabelRule(hold: 0.3, margin: 0.1))
        let change = r.first { $0.s.label == Emotion.happy.rawValue }!.t
        // The smoothed happy probability passes neutral's + 0.1 after τ·ln(…) ≈ 0.39 s, then 0.3 s hold.
        XCTAssertGreaterThan(change, 1.3)
        XCTAssertLessThan(change, 1.8)
        XCTAssertTrue(r.filter { $0.t >= change }.allSatisfy { $0.s.label == Emotion.happy.rawValue }, "no flicker back")
        XCTAssertTrue(r.filter { $0.t < change }.allSatisfy { $0.s.label == Emotion.neutral.rawValue })
    }

    func testATrackThatReturnsKeepsItsStateButOneLongGoneStartsAfresh() {
        var s = TrackSmoother(.tau(seconds: 0.5), rule: LabelRule(hold: 0.3, margin: 0.1), restartAfter: 5)
        for t in stride(from: 0.0, through: 2.0, by: 0.1) { _ = s.update(track: 7, raw: happy, time: t) }
        // Gone for 1 s, back with one neutral frame: the smoothed state and label carry on.
        let back = s.update(track: 7, raw: neutral, time: 3.0)
        XCTAssertEqual(back.label, Emotion.happy.rawValue)
        XCTAssertGreaterThan(back.held, 2.9)
        // Gone for 6 s (> restartAfter): judged afresh on what it shows now.
        let fresh = s.update(track: 7, raw: neutral, time: 9.0)
        XCTAssertEqual(fresh.label, Emotion.neutral.rawValue)
        XCTAssertEqual(fresh.probs, neutral)
        XCTAssertEqual(fresh.held, 0)
    }
}

extension Smoothed {
    func score(_ v: [Float]) -> Double { Double(probs[label]) }
}
