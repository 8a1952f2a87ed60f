import CMosquitto
import Foundation
import Synchronization

/// libmosquitto's process-wide set-up. `mosquitto_lib_init` "is not thread safe" (mosquitto.h,
/// Threads), so it runs once: a static's initialiser runs exactly once, under Swift's own lock.
enum Mosquitto {
    static let initialised: Int32 = mosquitto_lib_init()

    static let success = Int32(MOSQ_ERR_SUCCESS.rawValue)
    static let noConnection = Int32(MOSQ_ERR_NO_CONN.rawValue)
    static let connectionLost = Int32(MOSQ_ERR_CONN_LOST.rawValue)
    static let systemError = Int32(MOSQ_ERR_ERRNO.rawValue)

    /// A libmosquitto result as a person reads it; `errno` as it was right after the call.
    static func describe(_ rc: Int32, errno: Int32) -> String {
        if rc == systemError { return String(cString: strerror(errno)) }
        return String(cString: mosquitto_strerror(rc))
    }
}

/// What libmosquitto's callbacks report. They run on the network thread inside `mosquitto_loop`,
/// with libmosquitto's own locks held, so they only store into atomics and take no other lock.
final class MosquittoSignals: Sendable {
    /// The CONNACK code of the latest connection attempt (0 accepted); -1 when none is new.
    let connack = Atomic<Int32>(-1)
    /// Messages libmosquitto is done with: QoS 0 written to the socket, QoS 1 acknowledged.
    let completed = Atomic<Int>(0)

    func takeConnack() -> Int32? {
        let rc = connack.exchange(-1, ordering: .acquiringAndReleasing)
        return rc < 0 ? nil : rc
    }
}

/// One libmosquitto client handle; its deinit destroys it.
///
/// `@unchecked Sendable` because the handle is a C pointer. Sharing it is safe: libmosquitto is
/// thread safe apart from `mosquitto_lib_init` (mosquitto.h, Threads) once told so with
/// `mosquitto_threaded_set`, which `init` does. Who calls what: `init` and `connect` run on the
/// creating thread before any other thread sees the client; afterwards `MQTTLink` calls
/// `publish` (from the sink's thread and its network thread, always holding its own Mutex, so
/// publishes never interleave) and the network thread alone calls `loop`, `reconnect` and
/// `disconnect`. The callbacks' context (`signals`) lives as long as the handle.
final class MosquittoClient: @unchecked Sendable {
    private let handle: OpaquePointer
    let signals: MosquittoSignals
    let target: MQTTTarget

    /// A client with its last will (`willTopic` = `offline`, retained) set; not yet connected.
    init(target: MQTTTarget, willTopic: String) throws(PublishError) {
        _ = Mosquitto.initialised
        self.target = target
        let signals = MosquittoSignals()
        self.signals = signals
        // A random client id and a clean session: nothing is kept for us while we are away.
        guard let h = mosquitto_new(nil, true, Unmanaged.passUnretained(signals).toOpaque()) else {
            throw .cannotConnect(server: target.server, reason: "cannot create an MQTT client: \(String(cString: strerror(errno)))")
        }
        handle = h
        mosquitto_threaded_set(h, true)
        mosquitto_connect_callback_set(h) { _, context, rc in
            Unmanaged<MosquittoSignals>.fromOpaque(context!).takeUnretainedValue().connack.store(rc, ordering: .releasing)
        }
        mosquitto_publish_callback_set(h) { _, context, _ in
            Unmanaged<MosquittoSignals>.fromOpaque(context!).takeUnretainedValue().completed.add(1, ordering: .releasing)
        }
        let offline = Array("offline".utf8)
        var rc = mosquitto_will_set(h, willTopic, Int32(offline.count), offline, Int32(target.qos), true)
        if rc == Mosquitto.success, let user = target.user {
            rc = mosquitto_username_pw_set(h, user, target.password)
        }
        guard rc == Mosquitto.success else {
            throw .cannotConnect(server: target.server, reason: Mosquitto.describe(rc, errno: errno))
        }
    }

    deinit { mosquitto_destroy(handle) }

    /// Connects and waits for the broker's CONNACK, at most `timeout` seconds (a host that drops
    /// our packets would otherwise hold the caller for minutes). Before the network thread exists.
    func connect(timeout: Double) throws(PublishError) {
        func fail(_ reason: String) -> PublishError { .cannotConnect(server: target.server, reason: reason) }
        let rc = mosquitto_connect_async(handle, target.host, Int32(target.port), Int32(MQTTLink.keepalive))
        guard rc == Mosquitto.success else { throw fail(Mosquitto.describe(rc, errno: errno)) }
        let deadline = ContinuousClock.now + .milliseconds(Int(timeout * 1000))
        while true {
            let (rc, error) = loop(milliseconds: 100)
            if let connack = signals.takeConnack() {
                if connack == 0 { return }
                throw .rejected(server: target.server, reason: String(cString: mosquitto_connack_string(connack)))
            }
            if rc != Mosquitto.success { throw fail(Mosquitto.describe(rc, errno: error)) }
            if ContinuousClock.now > deadline { throw fail("no answer within \(secondsText(timeout))") }
        }
    }

    /// One round of network work (read, write, keep-alive), waiting at most `milliseconds` for the
    /// socket. Returns libmosquitto's result and errno as it was right after the call.
    func loop(milliseconds: Int) -> (rc: Int32, errno: Int32) {
        let rc = mosquitto_loop(handle, Int32(milliseconds), 1)
        return (rc, errno)
    }

    /// Starts a new connection (the answer comes through `loop` and `signals.connack`).
    func reconnect() -> Int32 { mosquitto_reconnect_async(handle) }

    /// Queues a DISCONNECT: the broker then forgets our will.
    func disconnect() { mosquitto_disconnect(handle) }

    func publish(topic: String, payload: String, retain: Bool) -> Int32 {
        var payload = payload
        return payload.withUTF8 { bytes in
            mosquitto_publish(handle, nil, topic, Int32(bytes.count), bytes.baseAddress, Int32(target.qos), retain)
        }
    }
}
