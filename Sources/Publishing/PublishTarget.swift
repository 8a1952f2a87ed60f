/// Why a publisher cannot be made: one line a person can act on each (`description`).
public enum PublishError: Error, CustomStringConvertible, Sendable, Equatable {
    /// A URL that does not say where to publish (the password, if any, is hidden).
    case badURL(url: String, reason: String)
    /// The server could not be reached, or did not answer, when the publisher started.
    case cannotConnect(server: String, reason: String)
    /// The server answered but will not take what we send (authentication, a key of another type).
    case rejected(server: String, reason: String)

    public var description: String {
        switch self {
        case let .badURL(url, reason): "invalid publish URL '\(url)': \(reason)"
        case let .cannotConnect(server, reason): "\(server): cannot connect: \(reason)"
        case let .rejected(server, reason): "\(server): \(reason)"
        }
    }
}

/// `mqtt://[user:pass@]host[:port]/PREFIX[?qos=0|1]`.
public struct MQTTTarget: Sendable, Equatable {
    public static let defaultPort = 1883
    public var host: String
    public var port: Int
    public var user: String?
    public var password: String?
    /// Topic levels the messages go under: `PREFIX/available`, `PREFIX/<source>/frame`, `…/events`.
    public var prefix: String
    /// 0 (at most once) or 1 (at least once: the broker acknowledges each message).
    public var qos: Int

    public init(host: String, port: Int = defaultPort, user: String? = nil, password: String? = nil, prefix: String, qos: Int = 0) {
        self.host = host; self.port = port; self.user = user; self.password = password; self.prefix = prefix; self.qos = qos
    }

    /// `mqtt://host:port`, for messages about the connection.
    public var server: String { "mqtt://\(hostForURL(host)):\(port)" }
}

/// `redis://host[:port]/KEY[?maxlen=N]`.
public struct RedisTarget: Sendable, Equatable {
    public static let defaultPort = 6379
    public static let defaultMaxLength = 100_000
    public var host: String
    public var port: Int
    /// The stream of frames; the label events go to `KEY:events`.
    public var key: String
    /// Each stream is trimmed to about this many entries (`XADD … MAXLEN ~ N`).
    public var maxLength: Int

    public init(host: String, port: Int = defaultPort, key: String, maxLength: Int = defaultMaxLength) {
        self.host = host; self.port = port; self.key = key; self.maxLength = maxLength
    }

    /// `redis://host:port`, for messages about the connection.
    public var server: String { "redis://\(hostForURL(host)):\(port)" }
}

/// Where a publisher sends: parsed from a URL.
public enum PublishTarget: Sendable, Equatable, CustomStringConvertible {
    case mqtt(MQTTTarget)
    case redis(RedisTarget)

    /// The URL, normalised (default port written out), with the password hidden.
    public var description: String {
        switch self {
        case let .mqtt(t):
            let credentials = t.user.map { percentEncoded($0) + (t.password == nil ? "" : ":***") + "@" } ?? ""
            return "mqtt://\(credentials)\(hostForURL(t.host)):\(t.port)/\(t.prefix)" + (t.qos == 0 ? "" : "?qos=\(t.qos)")
        case let .redis(t):
            return "redis://\(hostForURL(t.host)):\(t.port)/\(t.key)"
                + (t.maxLength == RedisTarget.defaultMaxLength ? "" : "?maxlen=\(t.maxLength)")
        }
    }

    public init(parsing url: String) throws(PublishError) {
        func bad(_ reason: String) -> PublishError { .badURL(url: Self.redacted(url), reason: reason) }
        guard let sep = url.range(of: "://") else { throw bad("expected mqtt://HOST/PREFIX or redis://HOST/KEY") }
        let scheme = url[..<sep.lowerBound].lowercased()
        guard scheme == "mqtt" || scheme == "redis" else {
            throw bad("unknown scheme '\(scheme)'; expected mqtt:// or redis://")
        }
        var rest = Substring(url[sep.upperBound...])
        var query: Substring = ""
        if let q = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: q)...]
            rest = rest[..<q]
        }
        guard let slash = rest.firstIndex(of: "/") else {
            throw bad(scheme == "mqtt" ? "no topic prefix (mqtt://HOST/PREFIX)" : "no stream key (redis://HOST/KEY)")
        }
        var authority = rest[..<slash]
        guard let path = percentDecoded(rest[rest.index(after: slash)...]) else { throw bad("malformed %-escape") }
        var user: String?, password: String?
        if let at = authority.lastIndex(of: "@") {
            let info = authority[..<at]
            authority = authority[authority.index(after: at)...]
            guard scheme == "mqtt" else { throw bad("a user name or password is not supported for redis://") }
            let colon = info.firstIndex(of: ":")
            guard let u = percentDecoded(info[..<(colon ?? info.endIndex)]), !u.isEmpty else { throw bad("empty or malformed user name") }
            user = u
            if let colon {
                guard let p = percentDecoded(info[info.index(after: colon)...]) else { throw bad("malformed %-escape in the password") }
                password = p
            }
        }
        let (host, port) = try Self.hostAndPort(authority, defaultPort: scheme == "mqtt" ? MQTTTarget.defaultPort : RedisTarget.defaultPort, bad)
        let parameters = try Self.parameters(query, allowed: scheme == "mqtt" ? ["qos"] : ["maxlen"], bad)

        if scheme == "mqtt" {
            if path.isEmpty { throw bad("no topic prefix (mqtt://HOST/PREFIX)") }
            if path.contains("+") || path.contains("#") { throw bad("the topic prefix '\(path)' holds a wildcard ('+' or '#')") }
            if path.hasPrefix("$") { throw bad("topics starting with '$' are the broker's own") }
            if path.split(separator: "/", omittingEmptySubsequences: false).contains(where: \.isEmpty) {
                throw bad("the topic prefix '\(path)' has an empty level (a leading, trailing or double '/')")
            }
            if path.contains("\0") { throw bad("the topic prefix holds a NUL character") }
            var qos = 0
            if let q = parameters["qos"] {
                guard q == "0" || q == "1" else { throw bad("qos must be 0 or 1, not '\(q)'") }
                qos = q == "1" ? 1 : 0
            }
            self = .mqtt(MQTTTarget(host: host, port: port, user: user, password: password, prefix: path, qos: qos))
        } else {
            if path.isEmpty { throw bad("no stream key (redis://HOST/KEY)") }
            var maxLength = RedisTarget.defaultMaxLength
            if let m = parameters["maxlen"] {
                guard let n = Int(m), n > 0 else { throw bad("maxlen must be a whole number above 0, not '\(m)'") }
                maxLength = n
            }
            self = .redis(RedisTarget(host: host, port: port, key: path, maxLength: maxLength))
        }
    }

    /// `url` with the password in its user info (if any) replaced by `***`, for messages.
    public static func redacted(_ url: String) -> String {
        guard let sep = url.range(of: "://") else { return url }
        let rest = url[sep.upperBound...]
        let authority = rest[..<(rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex)]
        guard let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") else { return url }
        return String(url[..<authority.index(after: colon)]) + "***" + String(url[at...])
    }

    private static func hostAndPort(_ authority: Substring, defaultPort: Int, _ bad: (String) -> PublishError) throws(PublishError) -> (String, Int) {
        var host = authority
        var portText: Substring?
        if authority.hasPrefix("[") {
            // An IPv6 literal: [::1]:1883.
            guard let close = authority.firstIndex(of: "]") else { throw bad("unclosed '[' in the host") }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw bad("unexpected '\(after)' after the host") }
                portText = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        }
        guard !host.isEmpty else { throw bad("no host") }
        guard let portText else { return (String(host), defaultPort) }
        guard let port = Int(portText), portText.allSatisfy(\.isASCII), (1...65535).contains(port) else {
            throw bad("the port must be a number from 1 to 65535, not '\(portText)'")
        }
        return (String(host), port)
    }

    private static func parameters(_ query: Substring, allowed: [String], _ bad: (String) -> PublishError) throws(PublishError) -> [String: String] {
        var found: [String: String] = [:]
        for part in query.split(separator: "&") {
            let pair = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(pair[0])
            guard allowed.contains(name) else {
                throw bad("unknown parameter '\(name)' (expected \(allowed.joined(separator: ", ")))")
            }
            guard found[name] == nil else { throw bad("'\(name)' is given twice") }
            found[name] = pair.count == 2 ? String(pair[1]) : ""
        }
        return found
    }
}

/// A host as a URL writes it: an IPv6 literal in brackets.
func hostForURL(_ host: String) -> String { host.contains(":") ? "[\(host)]" : host }

/// `%XX` escapes decoded (UTF-8); nil where one is malformed or the bytes are not UTF-8.
func percentDecoded(_ text: Substring) -> String? {
    guard text.contains("%") else { return String(text) }
    var bytes: [UInt8] = []
    var utf8 = text.utf8[...]
    while let b = utf8.popFirst() {
        guard b == UInt8(ascii: "%") else { bytes.append(b); continue }
        let hex = utf8.prefix(2)
        guard hex.count == 2, hex.allSatisfy({ Character(Unicode.Scalar($0)).isHexDigit }),
              let v = UInt8(String(decoding: hex, as: UTF8.self), radix: 16) else { return nil }
        bytes.append(v)
        utf8 = utf8.dropFirst(2)
    }
    return String(validating: bytes, as: UTF8.self)
}

/// Characters a URL's user info cannot hold as they are, escaped.
func percentEncoded(_ text: String) -> String {
    var out = ""
    for b in text.utf8 {
        let c = Character(Unicode.Scalar(b))
        if b < 0x80 && (c.isLetter || c.isNumber || "-._~".contains(c)) {
            out.append(c)
        } else {
            out += "%" + (b < 16 ? "0" : "") + String(b, radix: 16, uppercase: true)
        }
    }
    return out
}
