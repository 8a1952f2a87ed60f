/// An input as the user gave it, and its short name for topics and file names.
public struct SourceName: Sendable, Hashable, CustomStringConvertible {
    /// As given: a path, `-`, a URL, `v4l2:/dev/video0`, or the name an app gave its frames.
    public let input: String
    /// Safe in an MQTT topic, a Redis key or a file name: the input's file name, or a URL's host
    /// and path, with every character other than `[A-Za-z0-9_.-]` replaced by `_`.
    public let short: String

    public init(_ input: String) {
        self.input = input
        short = Self.short(for: input)
    }

    public var description: String { input }

    /// See `short`. `-` (stdin) is `stdin`; credentials and the port of a URL are left out.
    public static func short(for input: String) -> String {
        if input == "-" { return "stdin" }
        var text: Substring
        if let scheme = Self.schemeEnd(input) {
            var rest = input[scheme...]
            if let query = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) { rest = rest[..<query] }
            let slash = rest.firstIndex(of: "/") ?? rest.endIndex
            var authority = rest[..<slash]
            if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
            var host = authority
            if host.hasPrefix("["), let close = host.firstIndex(of: "]") {
                host = host[host.index(after: host.startIndex)..<close]  // an IPv6 literal
            } else if let colon = host.lastIndex(of: ":") {
                host = host[..<colon]
            }
            var path = rest[slash...]
            while path.hasSuffix("/") { path = path.dropLast() }
            text = Substring(String(host) + String(path))
        } else {
            var path = Substring(input)
            if path.hasPrefix("v4l2:") { path = path.dropFirst(5) }
            while path.count > 1 && path.hasSuffix("/") { path = path.dropLast() }
            text = path.split(separator: "/").last ?? path
        }
        let safe = String(text.unicodeScalars.map { c -> Character in
            let ok = (c >= "A" && c <= "Z") || (c >= "a" && c <= "z") || (c >= "0" && c <= "9") || c == "_" || c == "." || c == "-"
            return ok ? Character(c) : "_"
        })
        // "." and ".." would be directories, and an empty name nothing at all.
        return safe.isEmpty || safe == "." || safe == ".." ? "input" : safe
    }

    /// The index after `scheme://`, if `input` starts with one.
    private static func schemeEnd(_ input: String) -> String.Index? {
        guard let colon = input.firstIndex(of: ":"), colon > input.startIndex,
              input[..<colon].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "+" || $0 == "-" || $0 == "." }),
              input[colon...].hasPrefix("://") else { return nil }
        return input.index(colon, offsetBy: 3)
    }
}
