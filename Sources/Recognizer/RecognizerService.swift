import Dispatch
import Foundation
import SafeTensors
import FERCore
import Synchronization

/// Scores faces' test-time crops, one softmax per crop: what a pipeline's classify stage needs.
/// A `Recognizer` does it on the caller's thread; a `RecognizerService.Client` hands the work to
/// the one thread that owns the network, so that many pipelines share one engine and batch together.
public protocol FaceClassifier: AnyObject, Sendable {
    /// The model's classes (the probabilities' order).
    var labels: LabelSet { get }
    /// A face's full set of test-time crops; `cropProbabilities` takes indices into it.
    var cropSpecs: [CropSpec] { get }
    /// The network's name, for stats (`crops_by_network`): its model file's, e.g. "vgg19-ferplus".
    var networkName: String { get }
    /// Each face's scores for the crops asked for, in the order asked (see `Recognizer`).
    func cropProbabilities(for faces: [GrayImage], crops: [[Int]]) throws(RecognizerError) -> [[[Float]]]
}

extension FaceClassifier {
    /// Crops in a face's full set.
    public var cropsPerFace: Int { cropSpecs.count }
}

extension Recognizer: FaceClassifier {
    public var labels: LabelSet { weights.labels }
    public var networkName: String { name }
}

/// One thread that owns the network; any number of clients (pipelines, one per input) submit
/// crops and wait for their own scores. Requests waiting together go through the engine in one
/// call, as DeepStream's stream muxer batches frames of many cameras: a batch goes when it holds
/// `maxCrops` crops, when every client that is running has a request in it, or when the oldest
/// request has waited `gather` seconds — so one client alone never waits.
///
/// Scores come back per crop (not averaged), so each caller decides how a face's crops combine.
/// The engine is used only on the service's thread, whatever thread the clients run on. The
/// thread ends when the service goes away (clients keep it alive) or at `shutdown()`.
public final class RecognizerService: Sendable {
    public struct Options: Sendable {
        /// Most crops in one engine call (a single larger request still goes alone, whole).
        public var maxCrops = 40
        /// Seconds the oldest waiting request may wait for other clients' requests to join it.
        public var gather = 0.005
        public init() {}
    }

    /// What the service did, for stats and tests.
    public struct Stats: Sendable, Equatable {
        public var calls = 0
        public var crops = 0
        public var requests = 0
        /// Calls that held requests of more than one client.
        public var mixedCalls = 0
        /// Busy seconds of the engine.
        public var engineSeconds = 0.0
    }

    public let labels: LabelSet
    public let cropSpecs: [CropSpec]
    public let networkName: String
    public let options: Options
    private let core: Core

    /// Starts the service thread with `recognizer`, which only that thread uses from now on.
    public init(_ recognizer: Recognizer, options: Options = .init()) {
        labels = recognizer.labels
        cropSpecs = recognizer.cropSpecs
        networkName = recognizer.name
        self.options = options
        core = Core(options: options)
        let core = self.core
        let thread = Thread {
            core.serve(recognizer)
            core.finished.signal()
        }
        thread.name = "fer-stream.recognizer"
        thread.start()
    }

    deinit { core.shutdown() }

    /// A new client: a pipeline's handle on the service. The service waits for a running
    /// client's requests (up to `gather`) only while the client is open.
    public func client() -> Client {
        Client(service: self, id: core.register())
    }

    public var stats: Stats { core.state.withLock { $0.stats } }

    /// Finishes the requests waiting and stops the thread; later requests fail. Waits for the thread.
    public func shutdown() { core.shutdown() }

    /// A pipeline's handle: submits its crops and waits for its scores. Close it (or let it go)
    /// when the pipeline ends, so that batches stop waiting for it.
    public final class Client: FaceClassifier, Sendable {
        public let service: RecognizerService
        let id: Int

        init(service: RecognizerService, id: Int) {
            self.service = service
            self.id = id
        }

        deinit { close() }

        public var labels: LabelSet { service.labels }
        public var cropSpecs: [CropSpec] { service.cropSpecs }
        public var networkName: String { service.networkName }

        public func cropProbabilities(for faces: [GrayImage], crops: [[Int]]) throws(RecognizerError) -> [[[Float]]] {
            try service.core.submit(faces: faces, crops: crops, client: id)
        }

        /// This client will send no more requests.
        public func close() { service.core.deregister(id) }
    }

    /// The queue of requests and the thread's loop; the thread holds only this, so the service
    /// itself can go away (and stop the thread) when nobody holds it.
    private final class Core: Sendable {
        let options: Options
        struct Request: Sendable {
            let faces: [GrayImage]
            let crops: [[Int]]
            let count: Int
            let client: Int
            let arrived: UInt64
            let reply: Reply
        }
        final class Reply: Sendable {
            let done = DispatchSemaphore(value: 0)
            let result = Mutex<Result<[[[Float]]], RecognizerError>?>(nil)
        }
        struct State {
            var waiting: [Request] = []
            var clients = Set<Int>()
            var nextClient = 0
            var closed = false
            var stats = Stats()
        }
        let state = Mutex(State())
        /// Signalled on every submit and on close; the service thread waits on it.
        let wake = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)


        init(options: Options) { self.options = options }

        func register() -> Int {
            state.withLock { s in
                defer { s.nextClient += 1 }
                s.clients.insert(s.nextClient)
                return s.nextClient
            }
        }

        func deregister(_ id: Int) {
            state.withLock { _ = $0.clients.remove(id) }
            wake.signal()
        }

        func shutdown() {
            let first = state.withLock { s in
                defer { s.closed = true }
                return !s.closed
            }
            guard first else { return }
            wake.signal()
            finished.wait()
        }

        func submit(faces: [GrayImage], crops: [[Int]], client: Int) throws(RecognizerError) -> [[[Float]]] {
            guard faces.count == crops.count else {
                throw .badInput(reason: "\(faces.count) faces but crop lists for \(crops.count)")
            }
            let count = crops.reduce(0) { $0 + $1.count }
            guard count > 0 else { return crops.map { _ in [] } }
            let reply = Reply()
            let request = Request(faces: faces, crops: crops, count: count, client: client,
                                  arrived: DispatchTime.now().uptimeNanoseconds, reply: reply)
            let open = state.withLock { s in
                if !s.closed { s.waiting.append(request) }
                return !s.closed
            }
            guard open else { throw .backend(reason: "the recognizer service has shut down") }
            wake.signal()
            reply.done.wait()
            switch reply.result.withLock({ $0 }) {
            case .success(let scores)?: return scores
            case .failure(let error)?: throw error
            case nil: throw .backend(reason: "the recognizer service ended without an answer")
            }
        }

        // MARK: the service thread

        func serve(_ recognizer: Recognizer) {
            while let batch = nextBatch() {
                let t0 = DispatchTime.now().uptimeNanoseconds
                let result: Result<[[[Float]]], RecognizerError>
                do {
                    result = .success(try recognizer.cropProbabilities(for: batch.flatMap(\.faces), crops: batch.flatMap(\.crops)))
                } catch {
                    result = .failure(error)
                }
                let busy = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
                state.withLock { s in
                    s.stats.calls += 1
                    s.stats.requests += batch.count
                    s.stats.crops += batch.reduce(0) { $0 + $1.count }
                    s.stats.engineSeconds += busy
                    if Set(batch.map(\.client)).count > 1 { s.stats.mixedCalls += 1 }
                }
                var offset = 0
                for request in batch {
                    let mine: Result<[[[Float]]], RecognizerError>
                    switch result {
                    case .success(let all): mine = .success(Array(all[offset..<offset + request.faces.count]))
                    case .failure(let e): mine = .failure(e)
                    }
                    offset += request.faces.count
                    request.reply.result.withLock { $0 = mine }
                    request.reply.done.signal()
                }
            }
        }

        /// Waits for requests and returns the next batch (oldest first), or nil once shut down and drained.
        func nextBatch() -> [Request]? {
            var batch: [Request] = []
            var deadline: UInt64?
            while true {
                enum Step { case wait(UInt64?), go, stop }
                let step: Step = state.withLock { s in
                    // Take what fits, in arrival order; a request too big for what is left waits for the next batch.
                    var crops = batch.reduce(0) { $0 + $1.count }
                    while let next = s.waiting.first, batch.isEmpty || crops + next.count <= options.maxCrops {
                        batch.append(s.waiting.removeFirst())
                        crops += next.count
                    }
                    if batch.isEmpty { return s.closed ? .stop : .wait(nil) }
                    if deadline == nil { deadline = batch[0].arrived + UInt64(max(0, options.gather) * 1e9) }
                    let present = Set(batch.map(\.client))
                    let everyone = s.clients.isSubset(of: present)
                    if s.closed || everyone || crops >= options.maxCrops || !s.waiting.isEmpty { return .go }
                    return .wait(deadline)
                }
                switch step {
                case .stop: return nil
                case .go: return batch
                case .wait(let until?):
                    if DispatchTime.now().uptimeNanoseconds >= until { return batch }
                    _ = wake.wait(timeout: DispatchTime(uptimeNanoseconds: until))
                case .wait(nil):
                    wake.wait()
                }
            }
        }
    }
}
