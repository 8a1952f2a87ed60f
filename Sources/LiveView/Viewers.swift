import FERCore
import Foundation
import Synchronization

/// One viewer: a page (the inputs it watches) or an MJPEG client (one input). It keeps only the
/// newest frame of each input until its connection takes it, never a backlog: a viewer that reads
/// slowly skips frames, one that stops reading holds one frame per input.
final class Viewer: Sendable {
    let id: Int
    let isPage: Bool
    private struct Slots {
        var watched: Set<Int>
        var frames: [Int: FrameMessage] = [:]
        var status = false
    }
    private let slots: Mutex<Slots>
    let wakes: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    init(id: Int, isPage: Bool, watching: Set<Int>) {
        self.id = id
        self.isPage = isPage
        slots = Mutex(Slots(watched: watching))
        (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    var watched: Set<Int> { slots.withLock { $0.watched } }

    /// Sets what it watches; returns the old set.
    func watch(_ ids: Set<Int>) -> Set<Int> {
        slots.withLock { s in
            let old = s.watched
            s.watched = ids
            s.frames = s.frames.filter { ids.contains($0.key) }
            return old
        }
    }

    func offer(_ m: FrameMessage) {
        let taken = slots.withLock { s -> Bool in
            guard s.watched.contains(m.source) else { return false }
            s.frames[m.source] = m
            return true
        }
        if taken { wake.yield() }
    }

    func offerStatus() {
        slots.withLock { $0.status = true }
        wake.yield()
    }

    /// What waits for it (oldest input first), emptying its slots.
    func take() -> (frames: [FrameMessage], status: Bool) {
        slots.withLock { s in
            defer { s.frames = [:]; s.status = false }
            return (s.frames.values.sorted { $0.source < $1.source }, s.status)
        }
    }

    func close() { wake.finish() }
}

/// The inputs and the viewers of one live view; a bounded number of viewers (pages plus MJPEG clients).
final class ViewerHub: Sendable {
    let maxViewers: Int
    private struct State {
        var sources: [LiveSource] = []
        var viewers: [Int: Viewer] = [:]
        var nextID = 0
    }
    private let state = Mutex(State())

    init(maxViewers: Int) {
        self.maxViewers = max(1, maxViewers)
    }

    var sources: [LiveSource] { state.withLock { $0.sources } }
    var viewerCount: Int { state.withLock { $0.viewers.count } }

    /// Adds an input (its short name made unique with -2, -3, …).
    @discardableResult
    func addSource(_ input: String) -> LiveSource {
        state.withLock { s in
            let base = SourceNameShort.of(input)
            var name = base, k = 2
            while s.sources.contains(where: { $0.name == name }) { name = "\(base)-\(k)"; k += 1 }
            let source = LiveSource(id: s.sources.count, name: name, input: input)
            s.sources.append(source)
            return source
        }
    }

    /// The registered input `input` that no sink has taken yet, else a new one.
    func claimSource(_ input: String) -> LiveSource {
        if let free = state.withLock({ s in s.sources.first { $0.input == input && !$0.state.withLock { $0.attached || $0.provider != nil || $0.ended } } }) {
            return free
        }
        return addSource(input)
    }

    /// By short name or id.
    func source(named name: String) -> LiveSource? {
        state.withLock { s in s.sources.first { $0.name == name } ?? Int(name).flatMap { i in s.sources.indices.contains(i) ? s.sources[i] : nil } }
    }

    /// A new viewer, or nil when `maxViewers` are connected. `watching` nil: every input.
    func add(isPage: Bool, watching: Set<Int>?) -> Viewer? {
        let viewer: Viewer? = state.withLock { s in
            guard s.viewers.count < maxViewers else { return nil }
            let ids = watching ?? Set(s.sources.map(\.id))
            let v = Viewer(id: s.nextID, isPage: isPage, watching: ids)
            s.nextID += 1
            s.viewers[v.id] = v
            return v
        }
        if let viewer { adjust(added: viewer.watched, removed: []) }
        return viewer
    }

    func remove(_ viewer: Viewer) {
        let was = state.withLock { $0.viewers.removeValue(forKey: viewer.id) != nil }
        viewer.close()
        if was { adjust(added: [], removed: viewer.watched) }
    }

    func watch(_ viewer: Viewer, _ ids: Set<Int>) {
        let valid = ids.filter { id in state.withLock { $0.sources.indices.contains(id) } }
        let old = viewer.watch(valid)
        adjust(added: valid.subtracting(old), removed: old.subtracting(valid))
    }

    private func adjust(added: Set<Int>, removed: Set<Int>) {
        let sources = self.sources
        for id in added where sources.indices.contains(id) { sources[id].watchers.add(1, ordering: .relaxed) }
        for id in removed where sources.indices.contains(id) { sources[id].watchers.subtract(1, ordering: .relaxed) }
    }

    func publish(_ m: FrameMessage) {
        for v in state.withLock({ Array($0.viewers.values) }) { v.offer(m) }
    }

    /// Tells every page to refresh its inputs' stats (and wakes MJPEG clients, which end with their input).
    func publishStatus() {
        for v in state.withLock({ Array($0.viewers.values) }) { v.offerStatus() }
    }

    /// The page's stats message: every input as `/api/sources` lists it.
    func statusJSON() -> String {
        "{\"type\":\"sources\",\"sources\":" + sourcesJSON() + "}"
    }

    func sourcesJSON() -> String {
        "[" + sources.map { $0.json() }.joined(separator: ",") + "]"
    }
}

enum SourceNameShort {
    static func of(_ input: String) -> String {
        var s = SourceName(input).short
        // A file's extension is left out of the URL name: /sources/clip/mjpeg for clip.mp4.
        if !input.contains("://"), let dot = s.lastIndex(of: "."), dot != s.startIndex { s = String(s[..<dot]) }
        return s.isEmpty ? "input" : s
    }
}
