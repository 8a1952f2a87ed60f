import FERCore
import Foundation

/// How per-track probabilities are smoothed over time before the label is chosen.
public enum Smoothing: Sendable, Equatable, CustomStringConvertible {
    /// Exponential moving average with a time constant of `seconds`, from each frame's timestamp:
    /// s ← α·raw + (1−α)·s with α = 1 − exp(−Δt/τ), Δt the time since the track's previous
    /// analysed frame. The same behaviour at any frame rate, with `--every`, and across frames
    /// skipped in real time; after a long gap the old state counts for little.
    case tau(seconds: Double)
    /// Exponential moving average per analysed frame: s ← α·raw + (1−α)·s.
    case ema(alpha: Double)
    /// Mean of the last N raw vectors.
    case window(Int)
    case none

    /// A setting that does not parse: the text as given and what is wrong with it.
    public struct ParseError: Error, CustomStringConvertible, Equatable, Sendable {
        public let text: String
        /// What a valid setting looks like, e.g. "tau needs 0 < S ≤ 60 seconds, e.g. tau:0.5".
        public let reason: String

        public var description: String { "smoothing '\(text)': \(reason)" }
    }

    /// Parses `tau:S`, `ema:A`, `window:N` or `none`; a plain `ema` means `ema:0.3`.
    public init(parsing text: String) throws(ParseError) {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        switch (parts.first ?? "", parts.count > 1 ? parts[1] : nil) {
        case ("none", nil):
            self = .none
        case ("tau", let s?):
            guard let seconds = Double(s), seconds > 0, seconds <= 60 else {
                throw ParseError(text: text, reason: "tau needs 0 < S ≤ 60 seconds, e.g. tau:0.5")
            }
            self = .tau(seconds: seconds)
        case ("ema", nil):
            self = .ema(alpha: 0.3)
        case ("ema", let a?):
            guard let alpha = Double(a), alpha > 0, alpha <= 1 else {
                throw ParseError(text: text, reason: "ema needs 0 < A ≤ 1, e.g. ema:0.3")
            }
            self = .ema(alpha: alpha)
        case ("window", let n?):
            guard let count = Int(n), count >= 1 else {
                throw ParseError(text: text, reason: "window needs N ≥ 1, e.g. window:5")
            }
            self = .window(count)
        default:
            throw ParseError(text: text, reason: "expected tau:S, ema:A, window:N or none")
        }
    }

    public var description: String {
        switch self {
        case .tau(let s): "tau:\(s)"
        case .ema(let a): "ema:\(a)"
        case .window(let n): "window:\(n)"
        case .none: "none"
        }
    }
}

/// When a track's reported label changes: a new label (the argmax of the smoothed
/// probabilities) must lead the current one by at least `margin` for `hold` seconds without a
/// break. `hold` 0 and `margin` 0: the label is the argmax of every frame.
public struct LabelRule: Sendable, Equatable {
    public var hold: Double
    public var margin: Double

    public init(hold: Double = 0, margin: Double = 0) {
        self.hold = hold
        self.margin = margin
    }

    public static let argmax = LabelRule()
}

/// What smoothing gives for one face in one frame.
public struct Smoothed: Sendable, Equatable {
    public var probs: [Float]
    /// An index into the run's classes (`LabelSet`).
    public var label: Int
    /// Seconds since the label last changed (or since the track began).
    public var held: Double
}

/// Per-track smoothing and label state. Tracks unseen for `forgetAfter` analysed frames are
/// dropped, so memory stays flat on long streams with many faces coming and going; a track seen
/// again after a gap longer than `restartAfter` seconds starts afresh (a face that returns is
/// judged on what it shows now).
public struct TrackSmoother {
    private struct State {
        var probs: [Float]
        var window: [[Float]]
        var lastSeen: Int
        var lastTime: Double
        var label: Int
        var labelSince: Double
        /// The label that leads now and since when.
        var challenger: (label: Int, since: Double)?
    }

    public let method: Smoothing
    public let rule: LabelRule
    public let forgetAfter: Int
    public let restartAfter: Double
    private var states: [Int: State] = [:]
    private var step = 0

    public init(_ method: Smoothing, rule: LabelRule = .argmax, forgetAfter: Int = 300, restartAfter: Double = 5) {
        self.method = method
        self.rule = rule
        self.forgetAfter = forgetAfter
        self.restartAfter = restartAfter
    }

    /// Number of tracks with state (for tests and stats).
    public var trackCount: Int { states.count }

    /// Smooths `raw` for `track` and returns the smoothed vector (the label rule aside).
    public mutating func smooth(track: Int, raw: [Float]) -> [Float] {
        update(track: track, raw: raw, time: Double(step) / 30).probs
    }

    /// Smooths `raw` for `track` at `time` (seconds) and applies the label rule.
    public mutating func update(track: Int, raw: [Float], time: Double) -> Smoothed {
        let previous = states[track].flatMap { time - $0.lastTime > restartAfter || time < $0.lastTime ? nil : $0 }
        // A new track takes its first probabilities as they are.
        var state = previous ?? State(probs: raw, window: [], lastSeen: step, lastTime: time, label: argmax(raw), labelSince: time)
        switch method {
        case .none:
            state.probs = raw
        case .tau(let tau):
            let a = Float(1 - exp(-(time - state.lastTime) / tau))
            if previous != nil { state.probs = zip(raw, state.probs).map { a * $0 + (1 - a) * $1 } }
        case .ema(let alpha):
            let a = Float(alpha)
            if previous != nil { state.probs = zip(raw, state.probs).map { a * $0 + (1 - a) * $1 } }
        case .window(let n):
            state.window.append(raw)
            if state.window.count > n { state.window.removeFirst(state.window.count - n) }
            var sum = [Float](repeating: 0, count: raw.count)
            for v in state.window { for k in 0..<sum.count { sum[k] += v[k] } }
            state.probs = sum.map { $0 / Float(state.window.count) }
        }
        state.lastSeen = step
        state.lastTime = time
        // The label rule: a challenger must lead by the margin for the hold time, unbroken.
        let lead = argmax(state.probs)
        if lead != state.label && state.probs[lead] - state.probs[state.label] >= Float(rule.margin) {
            if state.challenger?.label != lead { state.challenger = (lead, time) }
            if time - state.challenger!.since >= rule.hold - 1e-9 {  // timestamps are not exact sums
                state.label = lead
                state.labelSince = time
                state.challenger = nil
            }
        } else {
            state.challenger = nil
        }
        states[track] = state
        return Smoothed(probs: state.probs, label: state.label, held: time - state.labelSince)
    }

    /// Marks the end of one analysed frame; forgets tracks gone for too long.
    public mutating func endFrame() {
        step += 1
        if step % 32 == 0 {
            states = states.filter { step - $0.value.lastSeen <= forgetAfter }
        }
    }

    private func argmax(_ v: [Float]) -> Int {
        var best = 0
        for k in v.indices where v[k] > v[best] { best = k }
        return best
    }
}
