import FERCore
import Foundation

/// Small hand-written SVG charts: no dependencies, readable output, one function per picture.
public enum Plots {
    /// One colour per emotion, in `Emotion` order (angry … neutral), distinct on white.
    public static let emotionColours = colours(for: Emotion.names)

    /// One colour per class, in order: `LabelSet.colour(at:)`, as in the annotated video (so a
    /// CK+ model's anger is FER2013's angry red, its contempt a teal of its own).
    public static func colours(for classes: [String]) -> [String] {
        let labels = LabelSet(classes)
        return labels.indices.map(labels.hexColour(at:))
    }

    /// The confusion matrix as a grid: cell shade = share of the true class (row), count written in.
    public static func confusion(_ matrix: [[Int]], classes: [String], title: String) -> String {
        let n = classes.count, cell = 64, left = 90, top = 84
        let width = left + n * cell + 20, height = top + n * cell + 60
        var s = header(width: width, height: height)
        s += text(x: Double(width) / 2, y: 24, title, size: 16, anchor: "middle", weight: "bold")
        s += text(x: Double(left + n * cell / 2), y: Double(top - 30), "predicted", size: 13, anchor: "middle")
        s += "<text x=\"18\" y=\"\(top + n * cell / 2)\" font-size=\"13\" text-anchor=\"middle\" transform=\"rotate(-90 18 \(top + n * cell / 2))\">true</text>\n"
        for (i, row) in matrix.enumerated() {
            let total = max(1, row.reduce(0, +))
            s += text(x: Double(left - 6), y: Double(top + i * cell + cell / 2 + 4), classes[i], size: 12, anchor: "end")
            for (j, v) in row.enumerated() {
                let share = Double(v) / Double(total)
                let x = left + j * cell, y = top + i * cell
                let shade = Int((1 - share) * 255)
                s += "<rect x=\"\(x)\" y=\"\(y)\" width=\"\(cell)\" height=\"\(cell)\" fill=\"rgb(\(shade),\(shade),255)\" stroke=\"#ccc\"/>\n"
                s += text(x: Double(x + cell / 2), y: Double(y + cell / 2 - 2), "\(v)", size: 13, anchor: "middle", fill: share > 0.5 ? "white" : "black")
                s += text(x: Double(x + cell / 2), y: Double(y + cell / 2 + 14), String(format: "%.0f%%", share * 100), size: 10, anchor: "middle", fill: share > 0.5 ? "white" : "#555")
            }
        }
        for (j, c) in classes.enumerated() {
            s += text(x: Double(left + j * cell + cell / 2), y: Double(top - 8), c, size: 12, anchor: "middle")
        }
        return s + "</svg>\n"
    }

    /// A reliability diagram: per bin of the top probability, the share right (bars) against the
    /// mean top probability (the diagonal, where a calibrated network's bars end), faces per bin
    /// written under each bar. `bins`: equal-width bins over 0…1 as (faces, right, Σ top probability).
    public static func reliability(_ bins: [(count: Int, correct: Int, confidence: Double)], title: String) -> String {
        let plot = 360.0, left = 60.0, top = 50.0
        let width = Int(left + plot + 30), height = Int(top + plot + 70)
        var s = header(width: width, height: height)
        s += text(x: Double(width) / 2, y: 24, title, size: 14, anchor: "middle", weight: "bold")
        s += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(plot)\" height=\"\(plot)\" fill=\"none\" stroke=\"#888\"/>\n"
        let w = plot / Double(max(bins.count, 1))
        for (i, b) in bins.enumerated() where b.count > 0 {
            let acc = Double(b.correct) / Double(b.count), conf = b.confidence / Double(b.count)
            let x = left + Double(i) * w
            s += "<rect x=\"\(x + 1)\" y=\"\(top + plot * (1 - acc))\" width=\"\(w - 2)\" height=\"\(plot * acc)\" fill=\"#4c72b0\"/>\n"
            // The gap to the bin's mean confidence: red where the network claims more than it gets.
            let (lo, hi) = (min(acc, conf), max(acc, conf))
            s += "<rect x=\"\(x + 1)\" y=\"\(top + plot * (1 - hi))\" width=\"\(w - 2)\" height=\"\(plot * (hi - lo))\" fill=\"\(conf > acc ? "#d62728" : "#2ca02c")\" fill-opacity=\"0.35\"/>\n"
            s += text(x: x + w / 2, y: top + plot + 14, "\(b.count)", size: 8, anchor: "middle", fill: "#555")
        }
        s += "<line x1=\"\(left)\" y1=\"\(top + plot)\" x2=\"\(left + plot)\" y2=\"\(top)\" stroke=\"#333\" stroke-dasharray=\"4 3\"/>\n"
        for v in stride(from: 0.0, through: 1.0, by: 0.2) {
            s += text(x: left - 6, y: top + plot * (1 - v) + 4, String(format: "%.1f", v), size: 10, anchor: "end")
            s += text(x: left + plot * v, y: top + plot + 28, String(format: "%.1f", v), size: 10, anchor: "middle")
        }
        s += text(x: left + plot / 2, y: top + plot + 48, "top probability (faces per bin above)", size: 12, anchor: "middle")
        s += "<text x=\"16\" y=\"\(top + plot / 2)\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 16 \(top + plot / 2))\">share right</text>\n"
        return s + "</svg>\n"
    }

    /// One labelled series of probability vectors over time.
    public struct Series: Sendable {
        public let name: String
        public let times: [Double]
        public let values: [[Float]]

        public init(name: String, times: [Double], values: [[Float]]) {
            self.name = name; self.times = times; self.values = values
        }
    }

    /// One panel per series: each class's probability (0–1) over time, with a legend.
    public static func timeline(_ series: [Series], classes: [String], title: String) -> String {
        let palette = colours(for: classes)
        let panelWidth = 760, panelHeight = 140, left = 50, top = 50, gap = 40
        let height = top + max(1, series.count) * (panelHeight + gap) + 30
        let width = left + panelWidth + 120
        let t0 = series.compactMap(\.times.first).min() ?? 0
        let t1 = max(series.compactMap(\.times.last).max() ?? 1, t0 + 1e-3)
        var s = header(width: width, height: height)
        s += text(x: Double(left + panelWidth / 2), y: 24, title, size: 16, anchor: "middle", weight: "bold")
        if series.isEmpty { s += text(x: Double(left + panelWidth / 2), y: Double(top + 40), "no faces", size: 14, anchor: "middle") }
        for (p, one) in series.enumerated() {
            let y0 = top + p * (panelHeight + gap)
            s += "<rect x=\"\(left)\" y=\"\(y0)\" width=\"\(panelWidth)\" height=\"\(panelHeight)\" fill=\"none\" stroke=\"#999\"/>\n"
            s += text(x: Double(left), y: Double(y0 - 6), one.name, size: 13, anchor: "start", weight: "bold")
            for tick in [0.0, 0.5, 1.0] {
                let y = Double(y0) + Double(panelHeight) * (1 - tick)
                s += text(x: Double(left - 6), y: y + 4, String(format: "%.1f", tick), size: 10, anchor: "end")
            }
            for k in classes.indices {
                var points: [String] = []
                for (t, v) in zip(one.times, one.values) where k < v.count {
                    let x = Double(left) + Double(panelWidth) * (t - t0) / (t1 - t0)
                    let y = Double(y0) + Double(panelHeight) * (1 - Double(v[k]))
                    points.append(String(format: "%.1f,%.1f", x, y))
                }
                if !points.isEmpty {
                    s += "<polyline fill=\"none\" stroke=\"\(palette[k])\" stroke-width=\"1.5\" points=\"\(points.joined(separator: " "))\"/>\n"
                }
            }
            s += text(x: Double(left), y: Double(y0 + panelHeight + 14), String(format: "%.2f s", t0), size: 10, anchor: "start")
            s += text(x: Double(left + panelWidth), y: Double(y0 + panelHeight + 14), String(format: "%.2f s", t1), size: 10, anchor: "end")
        }
        for (k, c) in classes.enumerated() {
            let y = top + 10 + k * 18
            s += "<rect x=\"\(left + panelWidth + 14)\" y=\"\(y - 9)\" width=\"12\" height=\"12\" fill=\"\(palette[k])\"/>\n"
            s += text(x: Double(left + panelWidth + 32), y: Double(y + 1), c, size: 12, anchor: "start")
        }
        return s + "</svg>\n"
    }

    /// One panel per face: a horizontal bar per class, its length the probability, the winner bold.
    public static func bars(_ panels: [(title: String, probs: [Float])], classes: [String]) -> String {
        let palette = colours(for: classes)
        let barWidth = 300, row = 22, left = 90, panelHeight = 30 + classes.count * row + 20
        let width = left + barWidth + 70, height = max(1, panels.count) * panelHeight + 10
        var s = header(width: width, height: height)
        if panels.isEmpty { s += text(x: Double(width) / 2, y: 30, "no faces", size: 14, anchor: "middle") }
        for (p, panel) in panels.enumerated() {
            let y0 = p * panelHeight + 10
            s += text(x: 10, y: Double(y0 + 14), panel.title, size: 13, anchor: "start", weight: "bold")
            let best = panel.probs.indices.max { panel.probs[$0] < panel.probs[$1] } ?? 0
            for (k, c) in classes.enumerated() where k < panel.probs.count {
                let y = y0 + 26 + k * row
                let v = Double(max(0, min(1, panel.probs[k])))
                s += text(x: Double(left - 8), y: Double(y + 14), c, size: 12, anchor: "end", weight: k == best ? "bold" : "normal")
                s += "<rect x=\"\(left)\" y=\"\(y + 3)\" width=\"\(barWidth)\" height=\"\(row - 6)\" fill=\"#eee\"/>\n"
                s += String(format: "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%@\"/>\n", left, y + 3, v * Double(barWidth), row - 6, palette[k])
                s += text(x: Double(left + barWidth + 6), y: Double(y + 14), String(format: "%.1f%%", v * 100), size: 11, anchor: "start")
            }
        }
        return s + "</svg>\n"
    }

    static func header(width: Int, height: Int) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" font-family=\"sans-serif\">\n"
            + "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    }

    static func text(x: Double, y: Double, _ content: String, size: Int, anchor: String, weight: String = "normal", fill: String = "black") -> String {
        let escaped = content.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        return String(format: "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%d\" text-anchor=\"%@\" font-weight=\"%@\" fill=\"%@\">", x, y, size, anchor, weight, fill) + escaped + "</text>\n"
    }
}
