import XCTest
@testable import Pipeline

/// Real time's crop budget on its own: a cost model fed with what a fake engine would take, and
/// the rung the ladder settles on as the engine slows down and speeds up again.
final class CropBudgetTests: XCTestCase {
    /// One frame at 30 fps with `faces` known faces: the budget chooses, the "engine" takes
    /// `perCrop` seconds a crop plus `overhead` a call, and the cost model sees it.
    private func frame(_ budget: inout CropBudget, _ cost: inout CropCostModel, faces: Int, perCrop: Double,
                       overhead: Double = 0.001) -> Int {
        let n = budget.choose(faces: faces, newFaces: 0, fullSet: 10, period: 1.0 / 30, deadline: 0.1, cost: cost)
        cost.observe(crops: n * faces, seconds: overhead + perCrop * Double(n * faces))
        return n
    }

    /// A cost model that has seen these calls (crops, seconds).
    private func measured(_ calls: [(Int, Double)]) -> CropCostModel {
        var model = CropCostModel()
        for (crops, seconds) in calls { model.observe(crops: crops, seconds: seconds) }
        return model
    }

    /// The student's calls as measured on AVX2 (a whole set, a full batch).
    private let studentCalls = [(10, 0.004), (50, 0.017)]

    func testTheLadderStepsDownUnderASlowEngineAndBackUp() {
        var budget = CropBudget(cropCount: 10)
        var cost = CropCostModel()
        XCTAssertEqual(budget.steps, [10, 4, 2, 1])
        XCTAssertEqual(budget.perFace, 2, "before anything is measured, as for files")
        // Fast (1 ms a crop, one face): 10 crops take 11 ms, well inside 75% of 33 ms.
        var chosen = (0..<20).map { _ in frame(&budget, &cost, faces: 1, perCrop: 0.001) }
        XCTAssertEqual(chosen.last, 10)
        // Three faces at 3 ms a crop: 4 each (36 ms) is too many, 2 each (19 ms) fits.
        XCTAssertEqual(Array(chosen.prefix(3)), [2, 4, 10], "up one rung at a time")
        chosen = (0..<20).map { _ in frame(&budget, &cost, faces: 3, perCrop: 0.003) }
        XCTAssertEqual(chosen.last, 2, "6 crops of 3 ms fit 25 ms, 12 do not")
        // 12 ms a crop: even 1 each (37 ms) does not fit; 1 it is, and frames will be skipped.
        chosen = (0..<20).map { _ in frame(&budget, &cost, faces: 3, perCrop: 0.012) }
        XCTAssertEqual(chosen.last, 1)
        XCTAssertEqual(chosen.dropFirst(2).first, 1, "down to the bottom within two frames of the slowdown")
        // Fast again: back to the top, one rung a frame.
        chosen = (0..<20).map { _ in frame(&budget, &cost, faces: 1, perCrop: 0.001) }
        XCTAssertEqual(chosen.last, 10)
        XCTAssertTrue(chosen.contains(2) && chosen.contains(4))
    }

    func testItDoesNotFlapBetweenTwoRungs() {
        // 4 crops take 20 ms (fits 25 ms); 10 would take 47 ms: it stays on 4.
        var budget = CropBudget(cropCount: 10)
        var cost = CropCostModel()
        let chosen = (0..<40).map { _ in frame(&budget, &cost, faces: 1, perCrop: 0.0045, overhead: 0.002) }
        XCTAssertEqual(Set(chosen.suffix(30)), [4])
    }

    func testNewFacesComeFirstAndEveryFaceGetsOneCrop() {
        var budget = CropBudget(cropCount: 10)
        var cost = CropCostModel()
        cost.observe(crops: 10, seconds: 0.03)
        cost.observe(crops: 2, seconds: 0.006)
        // Two new faces (20 crops, 60 ms) already exceed the frame: the others get 1 crop, not 0.
        XCTAssertEqual(budget.choose(faces: 5, newFaces: 2, fullSet: 10, period: 1.0 / 30, deadline: 0.1, cost: cost), 1)
        // A past deadline: as few as possible.
        var b2 = CropBudget(cropCount: 10)
        XCTAssertEqual(b2.choose(faces: 1, newFaces: 0, fullSet: 10, period: 1.0 / 30, deadline: -0.01, cost: cost), 1)
    }

    func testTheLadderFitsSmallerCropSets() {
        XCTAssertEqual(CropBudget(cropCount: 2).steps, [2, 1])
        XCTAssertEqual(CropBudget(cropCount: 1).steps, [1])
        XCTAssertEqual(CropBudget(cropCount: 1).perFace, 1)
    }

    func testTheCostModelSeparatesTheCallOverheadFromThePerCropCost() {
        var cost = CropCostModel()
        XCTAssertNil(cost.seconds(for: 4))
        cost.observe(crops: 2, seconds: 0.010)
        XCTAssertEqual(cost.seconds(for: 4)!, 0.020, accuracy: 1e-9, "one size seen: in proportion")
        for _ in 0..<5 {
            cost.observe(crops: 10, seconds: 0.005 + 0.003 * 10)
            cost.observe(crops: 2, seconds: 0.005 + 0.003 * 2)
        }
        XCTAssertEqual(cost.seconds(for: 4)!, 0.017, accuracy: 0.002)
    }

    // MARK: two networks: the VGG19, then the student

    /// One frame at 25 fps with `faces` known faces on a budget of two networks: the "engines"
    /// take `perCrop[k]` seconds a crop plus 1 ms a call; the chosen network's model sees it.
    private func frame(_ budget: inout CropBudget, _ costs: inout [CropCostModel], faces: Int, perCrop: [Double]) -> CropBudget.Rung {
        let r = budget.choose(faces: faces, newFaces: 0, fullSet: 10, period: 1.0 / 25, deadline: 0.1, costs: costs)
        costs[r.network].observe(crops: r.perFace * faces, seconds: 0.001 + perCrop[r.network] * Double(r.perFace * faces))
        return r
    }

    func testTheStudentTakesOverWhenOneVGGCropPerFaceDoesNotFitAndHandsBackWithHeadroom() {
        var budget = CropBudget(cropCount: 10, relativeCost: [1, 1.0 / 6], switchUtilisation: 0.95)
        var costs = [CropCostModel(), CropCostModel()]
        // The student's rungs start below the VGG19's last (its 10 crops cost more than 1 of the VGG19's).
        XCTAssertEqual(budget.rungs.map { [$0.network, $0.perFace] }, [[0, 10], [0, 4], [0, 2], [0, 1], [1, 4], [1, 2], [1, 1]])
        // The VGG19 at 1.5 ms a crop, the student at 0.25 ms; the target is 30 ms a frame.
        let speeds = [0.0015, 0.00025]
        // Two faces: 10 VGG19 crops each (31 ms) just miss it, 4 each (13 ms) fit.
        var chosen = (0..<20).map { _ in frame(&budget, &costs, faces: 2, perCrop: speeds) }
        XCTAssertEqual(chosen.last, .init(network: 0, perFace: 4))
        // Twenty-three faces: 1 VGG19 crop each takes 36 ms: past the 30 ms target, but within the
        // frame (95% of 40 ms): the VGG19 keeps them, since the student's labels agree less.
        chosen = (0..<20).map { _ in frame(&budget, &costs, faces: 23, perCrop: speeds) }
        XCTAssertEqual(chosen.last, .init(network: 0, perFace: 1), "the student only where frames would be lost: \(chosen.map { [$0.network, $0.perFace] })")
        // Twenty-eight faces: 1 VGG19 crop each takes 43 ms: the student, 4 crops each (29 ms).
        chosen = (0..<20).map { _ in frame(&budget, &costs, faces: 28, perCrop: speeds) }
        XCTAssertEqual(chosen.first, .init(network: 1, perFace: 4), "the student's rung that fits, in one frame")
        XCTAssertEqual(chosen.last, .init(network: 1, perFace: 4))
        XCTAssertEqual(Set(chosen.suffix(10).map(\.network)), [1], "and it stays there: no flapping")
        // Back to 22 faces: 1 VGG19 crop each (34 ms) would fit the frame, but not within the headroom (30 ms): the student stays.
        chosen = (0..<20).map { _ in frame(&budget, &costs, faces: 22, perCrop: speeds) }
        XCTAssertEqual(Set(chosen.map(\.network)), [1], "back up only with room to spare")
        // Twelve faces: 1 VGG19 crop each takes 19 ms, within the headroom: the VGG19 again.
        chosen = (0..<20).map { _ in frame(&budget, &costs, faces: 12, perCrop: speeds) }
        XCTAssertEqual(chosen.last?.network, 0)
        XCTAssertEqual(Set(chosen.suffix(10)), [.init(network: 0, perFace: 1)])
    }

    func testFramesAreLeftToSkipOnlyBelowTheStudentsLastRung() {
        var budget = CropBudget(cropCount: 10, relativeCost: [1, 1.0 / 6])
        var costs = [CropCostModel(), CropCostModel()]
        let speeds = [0.0015, 0.00025]
        // 100 faces: 1 student crop each takes 26 ms, which fits: its last rung, and frames still all fit.
        var chosen = (0..<30).map { _ in frame(&budget, &costs, faces: 100, perCrop: speeds) }
        XCTAssertEqual(chosen.last, .init(network: 1, perFace: 1))
        let fits = costs[1].seconds(for: 100)! <= 0.75 / 25
        XCTAssertTrue(fits, "the student's last rung fits: no frame needs to be skipped")
        // 200 faces: even that (51 ms) does not fit; the budget can go no lower (frames will be skipped).
        chosen = (0..<30).map { _ in frame(&budget, &costs, faces: 200, perCrop: speeds) }
        XCTAssertEqual(chosen.last, .init(network: 1, perFace: 1))
        XCTAssertGreaterThan(costs[1].seconds(for: 200)!, 0.75 / 25)
    }

    func testAStudentNotYetRunIsGuessedFromTheVGGsCost() {
        var budget = CropBudget(cropCount: 10, relativeCost: [1, 1.0 / 6], switchUtilisation: 0.95)
        var vgg = CropCostModel()
        vgg.observe(crops: 10, seconds: 0.015)
        vgg.observe(crops: 20, seconds: 0.030)
        // 34 faces: 1 VGG19 crop each (51 ms) does not fit the frame (47.5 ms); the student's guessed 4 crops each
        // (34 ms) fits the target (37.5 ms), so it lands there at once rather than trying its whole set first.
        let r = budget.choose(faces: 34, newFaces: 0, fullSet: 10, period: 1.0 / 20, deadline: 0.1, costs: [vgg, CropCostModel()])
        XCTAssertEqual(r, .init(network: 1, perFace: 4))
        // With one network the budget never leaves it.
        var alone = CropBudget(cropCount: 10)
        XCTAssertEqual(alone.choose(faces: 30, newFaces: 0, fullSet: 10, period: 1.0 / 20, deadline: 0.1, costs: [vgg]),
                       .init(network: 0, perFace: 1))
    }

    func testTheVGGComesBackWhenTheMachineGetsFasterUnderTheStudent() {
        // A busy neighbour: the VGG19 at 1.5 ms a crop, the student at 0.25 ms; 28 faces go to the student.
        var budget = CropBudget(cropCount: 10, relativeCost: [1, 1.0 / 6], switchUtilisation: 0.95)
        var costs = [CropCostModel(), CropCostModel()]
        for _ in 0..<5 { _ = frame(&budget, &costs, faces: 12, perCrop: [0.0015, 0.00025]) }
        var chosen = (0..<10).map { _ in frame(&budget, &costs, faces: 28, perCrop: [0.0015, 0.00025]) }
        XCTAssertEqual(chosen.last?.network, 1)
        // The neighbour goes: everything takes half as long. The VGG19 is not running, so not
        // measured; the student's speed-up says it would fit (28 crops: 22 ms) with room to spare.
        chosen = (0..<20).map { _ in frame(&budget, &costs, faces: 28, perCrop: [0.00075, 0.000125]) }
        XCTAssertEqual(chosen.last?.network, 0, "back to the VGG19: \(chosen)")
        XCTAssertEqual(Set(chosen.suffix(5).map(\.network)), [0], "and it stays")
    }

    /// Six faces seen for the first time need their whole sets (60 crops): on the VGG19 that is
    /// 0.3 s on AVX2, seven frames lost; the student scores them within the frame. With one
    /// network the new faces' sets still go to it (nothing cheaper to turn to).
    func testAFrameOfOnlyNewFacesGoesToTheStudentWhenTheirSetsDoNotFit() {
        let vgg = measured([(10, 0.047)]), student = measured(studentCalls)
        var budget = CropBudget(cropCount: 10, relativeCost: [1, 1.0 / 6])
        let r = budget.choose(faces: 6, newFaces: 6, fullSet: 10, period: 1.0 / 25, deadline: 0.1, costs: [vgg, student])
        XCTAssertEqual(r.network, 1, "60 VGG19 crops (0.28 s) do not fit 40 ms; 60 student crops (20 ms) do")
        // One new face alone: its 10 VGG19 crops (47 ms) do not fit 40 ms either, but at 10 fps they do.
        var slow = CropBudget(cropCount: 10, relativeCost: [1, 1.0 / 6])
        XCTAssertEqual(slow.choose(faces: 1, newFaces: 1, fullSet: 10, period: 1.0 / 10, deadline: 0.1, costs: [vgg, student]).network, 0)
        var alone = CropBudget(cropCount: 10)
        XCTAssertEqual(alone.choose(faces: 6, newFaces: 6, fullSet: 10, period: 1.0 / 25, deadline: 0.1, costs: [vgg]).network, 0)
    }

    /// On the student's rungs the time the frame has left goes to VGG19 crops, one face each: as
    /// many as fit within 95% of the frame after the student's crops; none on the VGG19's own rungs.
    func testTheTimeLeftUnderTheStudentGoesToVGGCrops() {
        let vgg = measured([(1, 0.005), (10, 0.032)]), student = measured(studentCalls)
        var budget = CropBudget(cropCount: 10, relativeCost: [1, 1.0 / 6], switchUtilisation: 0.95)
        // 12 known faces at 25 fps: 12 VGG19 crops (38 ms) do not fit 38 ms less 5 ms of detection; the student does.
        let r = budget.choose(faces: 12, newFaces: 0, fullSet: 10, period: 1.0 / 25, busy: 0.005, deadline: 0.1, costs: [vgg, student])
        XCTAssertEqual(r.network, 1)
        let used = student.seconds(for: 12 * r.perFace)!
        let m = budget.betterCrops(faces: 12, newFaces: 0, fullSet: 10, period: 1.0 / 25, busy: 0.005, deadline: 0.1,
                                   costs: [vgg, student], limit: 12)
        XCTAssertGreaterThan(m, 0, "room left after \(used) s of student crops")
        XCTAssertLessThanOrEqual(used + vgg.seconds(for: m)!, 0.95 / 25 - 0.005 + 1e-9, "\(m) VGG19 crops fit")
        XCTAssertGreaterThan(used + vgg.seconds(for: m + 1)!, 0.95 / 25 - 0.005, "one more would not")
        XCTAssertEqual(budget.betterCrops(faces: 12, newFaces: 0, fullSet: 10, period: 1.0 / 25, busy: 0.005, deadline: 0.1,
                                          costs: [vgg, student], limit: 2), min(m, 2), "at most the limit (the warmed sizes)")
        // Little time left (a deadline nearly spent): none.
        XCTAssertEqual(budget.betterCrops(faces: 12, newFaces: 0, fullSet: 10, period: 1.0 / 25, busy: 0.005, deadline: used,
                                          costs: [vgg, student], limit: 12), 0)
        // On the VGG19's own rungs there is nothing better to add.
        var easy = CropBudget(cropCount: 10, relativeCost: [1, 1.0 / 6], switchUtilisation: 0.95)
        XCTAssertEqual(easy.choose(faces: 2, newFaces: 0, fullSet: 10, period: 1.0 / 25, deadline: 0.1, costs: [vgg, student]).network, 0)
        XCTAssertEqual(easy.betterCrops(faces: 2, newFaces: 0, fullSet: 10, period: 1.0 / 25, deadline: 0.1, costs: [vgg, student], limit: 2), 0)
    }

    /// The default hand-over point, from a measured case: six faces at 1080p, 25 fps, AVX2, where
    /// one VGG19 crop takes ~7.7 ms alone and 10 take 44 ms, and detection 21 ms a frame. Six
    /// VGG19 crops (28 ms) are more than 95% of the 40 ms less detection, yet the VGG19 alone kept
    /// up there (detection overlaps the network on two cores): by default it keeps the faces.
    func testByDefaultTheVGGKeepsSixFacesWhereItKeepsUp() {
        let vgg = measured([(1, 0.0077), (10, 0.044)]), student = measured(studentCalls)
        func settle(_ budget: inout CropBudget, faces: Int) -> CropBudget.Rung {
            (0..<10).map { _ in budget.choose(faces: faces, newFaces: 0, fullSet: 10, period: 1.0 / 25, busy: 0.021, deadline: 0.1,
                                              costs: [vgg, student]) }.last!
        }
        var byDefault = CropBudget(cropCount: 10, relativeCost: [1, 1.0 / 6])
        XCTAssertEqual(settle(&byDefault, faces: 6), .init(network: 0, perFace: 1))
        var strict = CropBudget(cropCount: 10, relativeCost: [1, 1.0 / 6], switchUtilisation: 0.95)
        XCTAssertEqual(settle(&strict, faces: 6).network, 1, "at 95% the student would take them")
        // Eight faces (36 ms) are past even that: the student.
        XCTAssertEqual(settle(&byDefault, faces: 8).network, 1)
    }
}
