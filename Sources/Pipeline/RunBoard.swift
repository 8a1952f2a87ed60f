import FERCore
import Synchronization

/// What a run's stages report as they go: its stats, its first failure and, at the end, the
/// track summary. Read from any thread (`--stats` mid-run, `Pipeline.summary`).
final class RunBoard: Sendable {
    private struct Board {
        var failure: PipelineError?
        var stats = PipelineStats()
        var summary: TrackSummary
    }
    private let board: Mutex<Board>

    init(labels: LabelSet) {
        board = Mutex(Board(summary: TrackSummary(labels: labels)))
    }

    /// Keeps the first failure: later ones are usually its consequences.
    func fail(_ error: PipelineError) {
        board.withLock { if $0.failure == nil { $0.failure = error } }
    }

    var failure: PipelineError? { board.withLock { $0.failure } }

    func update(_ change: (inout PipelineStats) -> Void) {
        board.withLock { change(&$0.stats) }
    }

    var stats: PipelineStats { board.withLock { $0.stats } }

    var summary: TrackSummary {
        get { board.withLock { $0.summary } }
        set { board.withLock { $0.summary = newValue } }
    }
}
