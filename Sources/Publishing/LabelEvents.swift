import FERCore

/// One change in what a tracked face shows, in the spirit of Frigate's `frigate/events`: a
/// consumer that wants "someone started smiling" reads these instead of every frame's line.
/// One line of JSON (`json`), every key on every line (`end_time` and `previous_label` null
/// where they do not apply).
public struct LabelEvent: JSONRecord, Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        /// The track appeared.
        case new
        /// Its reported label changed (`previous_label` says from what).
        case update
        /// It has been gone longer than `LabelEvents.endAfter`, or the source ended.
        case end
    }

    public let type: Kind
    /// The input, as the user gave it.
    public let source: String
    public let track: Int
    /// The class name of the track's reported label (the last one, for `end`).
    public let label: String
    /// That label's smoothed probability, 4 decimals; null where it is not a number.
    @Nullable public var score: Double?
    /// Media seconds at which the track appeared (6 decimals, as in the frame lines).
    public let start_time: Double
    /// Media seconds at which it was last seen: `end` only.
    @Nullable public var end_time: Double?
    /// The label before this one: `update` only.
    @Nullable public var previous_label: String?
    /// The frame whose result produced the event (for `end` by absence or at the end of the
    /// source, the latest frame seen) and its media time.
    public let frame: Int
    public let t: Double

    public init(type: Kind, source: String, track: Int, label: String, score: Double?, start_time: Double,
                end_time: Double? = nil, previous_label: String? = nil, frame: Int, t: Double) {
        self.type = type; self.source = source; self.track = track; self.label = label
        self.score = score; self.start_time = start_time; self.end_time = end_time
        self.previous_label = previous_label; self.frame = frame; self.t = t
    }
}

/// Turns one source's consecutive analysed `FrameResult`s into `LabelEvent`s, per track: `new`
/// when it first appears, `update` when its reported label changes, `end` when it has been absent
/// for more than `endAfter` seconds of media time, and `end` for every open track at `finish`.
/// A value: feed it frames in order, one instance per source.
public struct LabelEvents: Sendable {
    public let labels: LabelSet
    public let source: String
    /// Media seconds a track may be missing (the detector lost it for a few frames) before it ends.
    public let endAfter: Double

    private struct Open: Sendable {
        var label: Int
        var score: Float
        let start: Double
        var lastSeen: Double
    }
    private var open: [Int: Open] = [:]
    private var latest: (frame: Int, time: Double)?

    public init(labels: LabelSet, source: String, endAfter: Double = 1.0) {
        self.labels = labels
        self.source = source
        self.endAfter = endAfter
    }

    /// The tracks open now (appeared, not ended), in ascending order.
    public var openTracks: [Int] { open.keys.sorted() }

    /// The events `result` brings: ends first (ascending track), then the frame's faces in order.
    public mutating func next(_ result: FrameResult) -> [LabelEvent] {
        latest = (result.frame, result.time)
        var events: [LabelEvent] = []
        let present = Set(result.faces.map(\.track))
        for track in open.keys.sorted() where !present.contains(track) {
            // A time that goes back (a source that restarts its clock) ends nothing.
            if let o = open[track], result.time - o.lastSeen > endAfter {
                events.append(event(.end, track, o, endTime: o.lastSeen))
                open[track] = nil
            }
        }
        for face in result.faces {
            if var o = open[face.track] {
                let before = o.label
                o.label = face.label
                o.score = face.score
                o.lastSeen = result.time
                open[face.track] = o
                if before != face.label {
                    events.append(event(.update, face.track, o, previous: labels.name(at: before)))
                }
            } else {
                let o = Open(label: face.label, score: face.score, start: result.time, lastSeen: result.time)
                open[face.track] = o
                events.append(event(.new, face.track, o))
            }
        }
        return events
    }

    /// `end` for every open track (the source is over); the tracker starts empty afterwards.
    public mutating func finish() -> [LabelEvent] {
        let events = open.keys.sorted().map { track in event(.end, track, open[track]!, endTime: open[track]!.lastSeen) }
        open = [:]
        return events
    }

    private func event(_ type: LabelEvent.Kind, _ track: Int, _ o: Open, endTime: Double? = nil, previous: String? = nil) -> LabelEvent {
        LabelEvent(type: type, source: source, track: track, label: labels.name(at: o.label),
                   score: roundedOrNil(Double(o.score), 4), start_time: Self.seconds(o.start), end_time: endTime.map(Self.seconds),
                   previous_label: previous, frame: latest?.frame ?? 0, t: Self.seconds(latest?.time ?? 0))
    }

    /// Media time as the NDJSON line prints it (6 decimals).
    private static func seconds(_ t: Double) -> Double { roundedOrNil(t, 6) ?? t }
}
