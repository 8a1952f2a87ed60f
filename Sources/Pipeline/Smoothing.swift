/// How per-track probabilities are smoothed over time before the label is chosen.
public enum Smoothing: Sendable, Equatable, CustomStringConvertible {
    /// Exponential moving average: s ← α·raw + (1−α)·s.
    case ema(alpha: Double)
    /// Mean of the last N raw vectors.
    case window(Int)
    case none

    /// Parses `ema:A`, `window:N` or `none`; a plain `ema` means `ema:0.3`.
    public init(parsing text: String) throws(PipelineError) {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        switch (parts.first ?? "", parts.count > 1 ? parts[1] : nil) {
        case ("none", nil):
            self = .none
        case ("ema", nil):
            self = .ema(alpha: 0.3)
        case ("ema", let a?):
            guard let alpha = Double(a), alpha > 0, alpha <= 1 else {
                throw .badOption(name: "--smooth", value: text, reason: "ema needs 0 < A ≤ 1, e.g. ema:0.3")
            }
            self = .ema(alpha: alpha)
        case ("window", let n?):
            guard let count = Int(n), count >= 1 else {
                throw .badOption(name: "--smooth", value: text, reason: "window needs N ≥ 1, e.g. window:5")
            }
            self = .window(count)
        default:
            throw .badOption(name: "--smooth", value: text, reason: "expected ema:A, window:N or none")
        }
    }

    public var description: String {
        switch self {
        case .ema(let a): "ema:\(a)"
        case .window(let n): "window:\(n)"
        case .none: "none"
        }
    }
}

/// Per-track smoothing state. Tracks unseen for `forgetAfter` analysed frames are dropped, so
/// memory stays flat on long streams with many faces coming and going.
public struct TrackSmoother {
    private struct State {
        var ema: [Float]
        var window: [[Float]]
        var lastSeen: Int
    }

    public let method: Smoothing
    public let forgetAfter: Int
    private var states: [Int: State] = [:]
    private var step = 0

    public init(_ method: Smoothing, forgetAfter: Int = 300) {
        self.method = method
        self.forgetAfter = forgetAfter
    }

    /// Number of tracks with state (for tests and stats).
    public var trackCount: Int { states.count }

    /// Smooths `raw` for `track` and returns the smoothed vector.
    public mutating func smooth(track: Int, raw: [Float]) -> [Float] {
        var state = states[track] ?? State(ema: raw, window: [], lastSeen: step)
        state.lastSeen = step
        let result: [Float]
        switch method {
        case .none:
            result = raw
        case .ema(let alpha):
            let a = Float(alpha)
            if states[track] != nil {
                state.ema = zip(raw, state.ema).map { a * $0 + (1 - a) * $1 }
            }
            result = state.ema
        case .window(let n):
            state.window.append(raw)
            if state.window.count > n { state.window.removeFirst(state.window.count - n) }
            var sum = [Float](repeating: 0, count: raw.count)
            for v in state.window { for k in 0..<sum.count { sum[k] += v[k] } }
            result = sum.map { $0 / Float(state.window.count) }
        }
        states[track] = state
        return result
    }

    /// Marks the end of one analysed frame; forgets tracks gone for too long.
    public mutating func endFrame() {
        step += 1
        if step % 32 == 0 {
            states = states.filter { step - $0.value.lastSeen <= forgetAfter }
        }
    }
}
