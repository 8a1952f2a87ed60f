import FERCore
import TestSupport
import XCTest
@testable import Recognizer

/// Test-time crops spread over frames: the rotation, the full set for new tracks, the mean over
/// each crop's latest score, and how old scores leave it. A tiny network on the reference engine
/// scores real crops, so "equals 10-crop" compares against `Recognizer.probabilities(for:)` itself.
final class TemporalEnsembleTests: XCTestCase {
    private func recognizer() throws -> Recognizer {
        let (path, _) = try makeTinyModel(layout: "8,M,8,M", inputSize: 8, cropFrom: 10, seed: 31)
        let weights = try NetworkWeights.load(path: path)
        return Recognizer(weights: weights, engine: ReferenceEngine(weights: weights), tta: .tenCrop)
    }

    private func face(_ seed: UInt64) -> GrayImage {
        var rng = SplitMix(seed: seed)
        return GrayImage(width: 10, height: 10, pixels: (0..<100).map { _ in UInt8(rng.next() % 256) })
    }

    /// Scores what `plan` asks for on `image` and records it, as the pipeline does for one frame.
    private func step(_ e: inout TemporalEnsemble, _ r: Recognizer, track: Int, time: Double, count: Int,
                      image: GrayImage) throws -> (crops: [Int], probs: [Float]) {
        let crops = e.plan(track: track, time: time, count: count)
        let scores = try r.cropProbabilities(for: [image], crops: [crops])[0]
        return (crops, e.record(track: track, time: time, crops: crops, probabilities: scores))
    }

    func testTheRotationCoversEveryCropAndPairsMirrors() {
        let specs = TestTimeAugmentation.tenCrop.crops(from: 48, size: 44)
        for count in [1, 2, 3, 4] {
            var e = TemporalEnsemble(specs: specs, maxAge: 10)
            XCTAssertEqual(e.plan(track: 1, time: 0, count: count), Array(0..<10), "a new track gets its whole set")
            var seen: [Int] = []
            for f in 1...((10 + count - 1) / count) {
                let crops = e.plan(track: 1, time: Double(f) / 30, count: count)
                XCTAssertEqual(crops.count, count)
                seen += crops
            }
            XCTAssertEqual(Set(seen), Set(0..<10), "\(count) a frame covers all 10 crops within ⌈10/\(count)⌉ frames")
            XCTAssertEqual(Array(seen.prefix(10)).count, Set(seen.prefix(10)).count, "no crop twice before all were scored")
        }
        // Two a frame: always a crop and its mirror.
        let e = TemporalEnsemble(specs: specs)
        for pair in stride(from: 0, to: 10, by: 2) {
            let a = specs[e.rotation[pair]], b = specs[e.rotation[pair + 1]]
            XCTAssertEqual([a.x, a.y], [b.x, b.y])
            XCTAssertNotEqual(a.mirrored, b.mirrored)
        }
    }

    func testAStillFaceOverFiveFramesEqualsTenCrop() throws {
        let r = try recognizer()
        var e = TemporalEnsemble(specs: r.cropSpecs, maxAge: 1)
        // Frame 0 is another face, so the rotation has to replace every one of its scores.
        let first = try step(&e, r, track: 7, time: 0, count: 2, image: face(1))
        XCTAssertEqual(first.probs, try r.probabilities(for: [face(1)])[0], "a new track's first frame is exact 10-crop")
        let still = face(2), tenCrop = try r.probabilities(for: [still])[0]
        var probs: [Float] = []
        for f in 1...5 {
            probs = try step(&e, r, track: 7, time: Double(f) / 30, count: 2, image: still).probs
            if f < 5 { XCTAssertNotEqual(probs, tenCrop, "frame \(f): older crops of the first face still count") }
        }
        XCTAssertEqual(probs, tenCrop, "after 5 frames of 2 crops, the same numbers as 10-crop of the still face")
        XCTAssertEqual(probs.reduce(0, +), 1, accuracy: 1e-5)
    }

    func testOldScoresLeaveTheMeanAndAReturningTrackStartsAfresh() throws {
        let r = try recognizer()
        var e = TemporalEnsemble(specs: r.cropSpecs, maxAge: 0.5)
        _ = try step(&e, r, track: 3, time: 0, count: 2, image: face(4))
        // 0.6 s later every earlier score is stale: the track gets its whole set again.
        XCTAssertTrue(e.needsFullSet(track: 3, time: 0.6))
        let back = try step(&e, r, track: 3, time: 0.6, count: 2, image: face(5))
        XCTAssertEqual(back.crops, Array(0..<10))
        XCTAssertEqual(back.probs, try r.probabilities(for: [face(5)])[0])
        // The rotation goes on at 1.0 s and 1.15 s; by 1.15 s the set scored at 0.6 s is stale,
        // so only the 4 newer scores count.
        _ = try step(&e, r, track: 3, time: 1.0, count: 2, image: face(6))
        let late = try step(&e, r, track: 3, time: 1.15, count: 2, image: face(6))
        let two = try r.cropProbabilities(for: [face(6), face(6)], crops: [[e.rotation[0], e.rotation[1]], [e.rotation[2], e.rotation[3]]])
        XCTAssertEqual(late.crops, [e.rotation[2], e.rotation[3]])
        XCTAssertEqual(late.probs, Recognizer.mean(zip([e.rotation[0], e.rotation[1], e.rotation[2], e.rotation[3]],
                                                       two[0] + two[1]).sorted { $0.0 < $1.0 }.map(\.1)),
                       "only the 4 scores younger than 0.5 s, in crop order")
        // Tracks unseen for longer than maxAge are forgotten.
        e.forget(before: 2)
        XCTAssertEqual(e.trackCount, 0)
    }

    func testPlannedCropsCountAsFreshWithinABatch() {
        // Frames are planned before any is scored (a batch of frames): a new track's second
        // frame must not ask for the whole set again.
        var e = TemporalEnsemble(specs: TestTimeAugmentation.tenCrop.crops(from: 48, size: 44))
        XCTAssertEqual(e.plan(track: 1, time: 0, count: 2).count, 10)
        XCTAssertEqual(e.plan(track: 1, time: 0.04, count: 2).count, 2)
        XCTAssertEqual(e.plan(track: 2, time: 0.04, count: 2).count, 10)
    }

    /// Frames planned together (one batch) get the same probabilities as frames planned one at a
    /// time: a later frame's plan must not hide an earlier frame's scores from its mean.
    func testBatchingFramesTogetherChangesNoFramesProbabilities() throws {
        let r = try recognizer()
        let images = (0..<8).map { face(UInt64(100 + $0)) }
        var single = TemporalEnsemble(specs: r.cropSpecs)
        let oneAtATime = try images.enumerated().map { i, image in
            try step(&single, r, track: 1, time: Double(i) / 30, count: 2, image: image).probs
        }
        var batched = TemporalEnsemble(specs: r.cropSpecs)
        var together: [[Float]] = []
        for start in stride(from: 0, to: images.count, by: 3) {  // batches of 3 frames: plan all, then record all
            let frames = Array(start..<min(start + 3, images.count))
            let plans = frames.map { batched.plan(track: 1, time: Double($0) / 30, count: 2) }
            for (i, crops) in zip(frames, plans) {
                let scores = try r.cropProbabilities(for: [images[i]], crops: [crops])[0]
                together.append(batched.record(track: 1, time: Double(i) / 30, crops: crops, probabilities: scores))
            }
        }
        XCTAssertEqual(together, oneAtATime)
    }

    func testCropProbabilitiesAreEachCropsSoftmaxInTheOrderAsked() throws {
        let r = try recognizer()
        let faces = [face(8), face(9)]
        let all = try r.cropProbabilities(for: faces, crops: [Array(0..<10), Array(0..<10)])
        let some = try r.cropProbabilities(for: faces, crops: [[9, 0], []])
        XCTAssertEqual(some[0], [all[0][9], all[0][0]])
        XCTAssertEqual(some[1], [])
        XCTAssertEqual(try r.probabilities(for: faces), all.map(Recognizer.mean))
        XCTAssertThrowsError(try r.cropProbabilities(for: faces, crops: [[10], []]))
        XCTAssertThrowsError(try r.cropProbabilities(for: faces, crops: [[1]]))
    }

    // MARK: onsets (`TemporalEnsemble.Onset`)

    /// A face's crop scores over three classes: `lead` leads, each crop a little differently (a still face's crops differ).
    private func scores(lead: Int, crop: Int) -> [Float] {
        var p: [Float] = [0.1, 0.1, 0.1]
        p[lead] = 0.8
        p[(lead + 1) % 3] += 0.01 * Float(crop)
        let sum = p.reduce(0, +)
        return p.map { $0 / sum }
    }

    /// Runs frames at 30 fps, 2 crops a face-frame, the face leading with class 0 until frame
    /// `onset` and class 1 from then on: each frame's probabilities and crops scored.
    private func run(_ onset: TemporalEnsemble.Onset, frames: Int, onsetAt: Int) -> [(probs: [Float], crops: Int)] {
        var e = TemporalEnsemble(specs: TestTimeAugmentation.tenCrop.crops(from: 48, size: 44), maxAge: 0.5, onset: onset)
        return (0..<frames).map { f in
            let t = Double(f) / 30
            let crops = e.plan(track: 1, time: t, count: 2)
            let lead = f < onsetAt ? 0 : 1
            return (e.record(track: 1, time: t, crops: crops, probabilities: crops.map { scores(lead: lead, crop: $0) }), crops.count)
        }
    }

    private func top(_ p: [Float]) -> Int { p.indices.max { p[$0] < p[$1] }! }

    func testAFaceWhoseCropsFlipClassGetsTheNewClassWithinTwoFrames() {
        let onsetAt = 10
        let now = run(.default, frames: 20, onsetAt: onsetAt)
        XCTAssertEqual(now[..<onsetAt].map { top($0.probs) }, Array(repeating: 0, count: onsetAt))
        XCTAssertEqual(now[(onsetAt + 1)...].map { top($0.probs) }, Array(repeating: 1, count: 20 - onsetAt - 1),
                       "class 1 from the second frame of the onset on")
        // The plain mean of the last 5 frames' crops lags a frame more: still class 0 in the second frame.
        let plain = run(.none, frames: 20, onsetAt: onsetAt)
        XCTAssertEqual(top(plain[onsetAt + 1].probs), 0)
        XCTAssertEqual(top(plain[onsetAt + 3].probs), 1)
    }

    func testAStillFaceKeepsItsClassAndCostsNoMoreCrops() {
        let now = run(.default, frames: 30, onsetAt: 30), plain = run(.none, frames: 30, onsetAt: 30)
        XCTAssertEqual(now.map(\.crops), [10] + Array(repeating: 2, count: 29), "no re-scoring of a face that does not change")
        for (a, b) in zip(now, plain) {
            XCTAssertEqual(top(a.probs), top(b.probs))
            for k in a.probs.indices { XCTAssertEqual(a.probs[k], b.probs[k], accuracy: 0.02) }
        }
        // One frame's whole set weighs the same: exactly the plain mean.
        XCTAssertEqual(now[0].probs, plain[0].probs)
    }

    func testADisagreeingFreshPairGetsTheWholeSetRescoredNextFrame() {
        let now = run(.init(halfLife: nil, margin: 0.2), frames: 14, onsetAt: 10)
        XCTAssertEqual(now.map(\.crops), [10] + Array(repeating: 2, count: 9) + [2, 10, 2, 2],
                       "the first frame of the onset disagrees: the next scores all 10")
        XCTAssertEqual(top(now[11].probs), 1)
    }
}
