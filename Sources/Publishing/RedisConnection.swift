import CHiredis
import Foundation

/// One hiredis connection (a synchronous `redisContext`); its deinit frees it. Not Sendable: the
/// publisher keeps it inside its Mutex and uses it only from the sink's thread. After an I/O
/// error hiredis cannot use a context again, so a failed connection is dropped and a new one made.
final class RedisConnection {
    private let context: UnsafeMutablePointer<redisContext>
    private let timeout: Double

    /// What a command came back with.
    enum Reply {
        case ok(String?)
        /// The server refused the command (a `-ERR …` reply); the connection is fine.
        case rejected(String)
    }

    /// Connects with `timeout` seconds for the connection and for each reply; throws the reason.
    init(host: String, port: Int, timeout: Double) throws(RedisFailure) {
        let tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1_000_000))
        guard let c = redisConnectWithTimeout(host, Int32(port), tv) else { throw RedisFailure("out of memory") }
        context = c
        self.timeout = timeout
        if c.pointee.err == 0 { redisSetTimeout(c, tv) }
        if let failure = failure() { throw failure }
    }

    deinit { redisFree(context) }

    /// One command, waiting for its reply.
    func command(_ args: [String]) throws(RedisFailure) -> Reply {
        let (replies, failure) = pipeline([args])
        if let failure { throw failure }
        return replies[0]
    }

    /// Sends all `commands` at once, then reads their replies in order: the replies that came
    /// back (those commands were done) and, on an I/O failure, why the rest did not.
    func pipeline(_ commands: [[String]]) -> (replies: [Reply], failure: RedisFailure?) {
        for args in commands { append(args) }
        var replies: [Reply] = []
        for _ in commands {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else {
                return (replies, failure() ?? RedisFailure("no reply"))
            }
            let reply = raw.assumingMemoryBound(to: redisReply.self).pointee
            let text = reply.str.map { String(decoding: UnsafeRawBufferPointer(start: $0, count: reply.len), as: UTF8.self) }
            replies.append(reply.type == REDIS_REPLY_ERROR ? .rejected(text ?? "error") : .ok(text))
            freeReplyObject(raw)
        }
        return (replies, nil)
    }

    /// Queues one command in hiredis's output buffer (binary-safe: lengths are passed).
    private func append(_ args: [String]) {
        var bytes: [UInt8] = []
        var offsets: [Int] = []
        var lengths: [Int] = []
        for a in args {
            offsets.append(bytes.count)
            bytes += a.utf8
            lengths.append(bytes.count - offsets.last!)
        }
        bytes.append(0)  // never empty, so there is a base address
        bytes.withUnsafeBytes { raw in
            let base = raw.baseAddress!.assumingMemoryBound(to: CChar.self)
            var pointers: [UnsafePointer<CChar>?] = offsets.map { base + $0 }
            _ = redisAppendCommandArgv(context, Int32(args.count), &pointers, lengths)
        }
    }

    /// The context's error, if it has one, as a person reads it.
    private func failure() -> RedisFailure? {
        guard context.pointee.err != 0 else { return nil }
        let text = withUnsafeBytes(of: context.pointee.errstr) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        // A read that timed out shows as EAGAIN's text.
        if text == String(cString: strerror(EAGAIN)) || text == String(cString: strerror(EWOULDBLOCK)) {
            return RedisFailure("no answer within \(secondsText(timeout))")
        }
        return RedisFailure(text.isEmpty ? "I/O error" : text)
    }
}

/// Why a Redis connection failed.
struct RedisFailure: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}
