import Foundation
import Pipeline
import Synchronization

/// A one-line progress display on stderr for file inputs: frames done of the total, frames/s and
/// the time left. Redrawn at most 4 times a second; only when stderr is a terminal.
public final class ProgressLine: FrameProgress {
    private let total: Int?
    private let start = Date()
    /// When the line was last drawn, and whether it ever was.
    private let drawn = Mutex<(last: Date, ever: Bool)>((.distantPast, false))

    /// nil when stderr is not a terminal (piped, redirected, CI): then nothing is ever drawn.
    public init?(totalFrames: Int?, force: Bool = false) {
        guard force || isatty(STDERR_FILENO) == 1 else { return nil }
        total = totalFrames
    }

    public func update(framesDone: Int) {
        let now = Date()
        let due = drawn.withLock { d in
            guard now.timeIntervalSince(d.last) >= 0.25 else { return false }
            d = (now, true)
            return true
        }
        guard due else { return }
        FileHandle.standardError.write(Data(("\r" + Self.line(done: framesDone, total: total, elapsed: now.timeIntervalSince(start)) + "\u{1B}[K").utf8))
    }

    /// Clears the line so that what follows on stderr starts clean.
    public func finish() {
        if drawn.withLock({ $0.ever }) { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }

    /// "frame 120/300 (40%)  31.2 frames/s  ETA 0:06"
    static func line(done: Int, total: Int?, elapsed: Double) -> String {
        let fps = elapsed > 0 ? Double(done) / elapsed : 0
        var s = "frame \(done)"
        if let total, total > 0 {
            s += "/\(total) (\(min(100, done * 100 / total))%)"
        }
        s += "  " + String(format: "%.1f", fps) + " frames/s"
        if let total, total > done, fps > 0 {
            let left = Int((Double(total - done) / fps).rounded())
            s += "  ETA " + String(format: "%d:%02d", left / 60, left % 60)
        }
        return s
    }
}
