/// A small, strict, non-validating XML reader: enough for OpenCV `FileStorage` XML files.
/// Builds a flat element tree over the file's bytes; text is kept as byte ranges and only
/// parsed (as numbers) on demand. No entity decoding (cascade files hold numbers only),
/// comments, processing instructions and DOCTYPE are skipped, CDATA is kept as text.
struct MiniXML {
    struct Element {
        var nameStart: Int32, nameEnd: Int32
        var parent: Int32
        var firstChild: Int32 = -1, lastChild: Int32 = -1, nextSibling: Int32 = -1
        var firstText: Int32 = -1, lastText: Int32 = -1
        var attrStart: Int32, attrEnd: Int32
    }
    struct TextChunk { var start: Int32, end: Int32, next: Int32 }

    struct ParseError: Error { let message: String }

    let bytes: [UInt8]
    private(set) var elements: [Element] = []
    private(set) var chunks: [TextChunk] = []
    private(set) var root: Int = -1

    init(bytes: [UInt8]) throws {
        guard bytes.count < Int(Int32.max) else { throw ParseError(message: "file too large") }
        self.bytes = bytes
        try parse()
    }

    // MARK: parsing

    private static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 }
    private static func isNameEnd(_ c: UInt8) -> Bool { isSpace(c) || c == UInt8(ascii: "/") || c == UInt8(ascii: ">") }

    private func lineOf(_ offset: Int) -> Int {
        var line = 1
        for i in 0..<min(offset, bytes.count) where bytes[i] == 0x0A { line += 1 }
        return line
    }

    private mutating func parse() throws {
        var stack: [Int32] = []
        stack.reserveCapacity(32)
        let n = bytes.count
        try bytes.withUnsafeBufferPointer { b in
            var i = 0
            if n >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF { i = 3 }

            func find(_ pattern: StaticString, from start: Int) -> Int? {
                let p = UnsafeBufferPointer(start: pattern.utf8Start, count: pattern.utf8CodeUnitCount)
                var j = start
                let last = n - p.count
                while j <= last {
                    if b[j] == p[0] {
                        var k = 1
                        while k < p.count && b[j + k] == p[k] { k += 1 }
                        if k == p.count { return j }
                    }
                    j += 1
                }
                return nil
            }
            func hasPrefix(_ pattern: StaticString, at j: Int) -> Bool {
                let c = pattern.utf8CodeUnitCount
                guard j + c <= n else { return false }
                let p = pattern.utf8Start
                for k in 0..<c where b[j + k] != p[k] { return false }
                return true
            }
            func addText(_ s: Int, _ e: Int) throws {
                var j = s
                while j < e && MiniXML.isSpace(b[j]) { j += 1 }
                if j == e { return }   // whitespace only
                guard let top = stack.last else {
                    throw ParseError(message: "text outside the root element at line \(lineOf(s))")
                }
                let chunk = Int32(chunks.count)
                chunks.append(TextChunk(start: Int32(s), end: Int32(e), next: -1))
                let t = Int(top)
                if elements[t].lastText >= 0 { chunks[Int(elements[t].lastText)].next = chunk } else { elements[t].firstText = chunk }
                elements[t].lastText = chunk
            }

            while i < n {
                // text up to the next '<'
                var j = i
                while j < n && b[j] != UInt8(ascii: "<") { j += 1 }
                if j > i { try addText(i, j) }
                if j >= n { break }
                i = j
                if hasPrefix("<!--", at: i) {
                    guard let e = find("-->", from: i + 4) else { throw ParseError(message: "unterminated comment at line \(lineOf(i))") }
                    i = e + 3
                } else if hasPrefix("<?", at: i) {
                    guard let e = find("?>", from: i + 2) else { throw ParseError(message: "unterminated processing instruction at line \(lineOf(i))") }
                    i = e + 2
                } else if hasPrefix("<![CDATA[", at: i) {
                    guard let e = find("]]>", from: i + 9) else { throw ParseError(message: "unterminated CDATA at line \(lineOf(i))") }
                    try addText(i + 9, e)
                    i = e + 3
                } else if hasPrefix("<!", at: i) {
                    guard let e = find(">", from: i + 2) else { throw ParseError(message: "unterminated declaration at line \(lineOf(i))") }
                    i = e + 1
                } else if hasPrefix("</", at: i) {
                    var k = i + 2
                    let ns = k
                    while k < n && !MiniXML.isNameEnd(b[k]) { k += 1 }
                    let ne = k
                    while k < n && MiniXML.isSpace(b[k]) { k += 1 }
                    guard k < n && b[k] == UInt8(ascii: ">") else { throw ParseError(message: "bad closing tag at line \(lineOf(i))") }
                    guard let top = stack.popLast() else { throw ParseError(message: "closing tag without an open element at line \(lineOf(i))") }
                    let el = elements[Int(top)]
                    let len = Int(el.nameEnd - el.nameStart)
                    var same = len == ne - ns
                    if same { for q in 0..<len where b[Int(el.nameStart) + q] != b[ns + q] { same = false; break } }
                    guard same else {
                        throw ParseError(message: "closing tag </\(String(decoding: b[ns..<ne], as: UTF8.self))> does not match <\(name(Int(top)))> at line \(lineOf(i))")
                    }
                    i = k + 1
                } else {
                    // start tag
                    var k = i + 1
                    let ns = k
                    while k < n && !MiniXML.isNameEnd(b[k]) { k += 1 }
                    guard k > ns else { throw ParseError(message: "empty tag name at line \(lineOf(i))") }
                    let ne = k
                    let attrStart = k
                    var quote: UInt8 = 0
                    while k < n {
                        let c = b[k]
                        if quote != 0 { if c == quote { quote = 0 } }
                        else if c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") { quote = c }
                        else if c == UInt8(ascii: ">") { break }
                        else if c == UInt8(ascii: "<") { throw ParseError(message: "'<' inside a tag at line \(lineOf(k))") }
                        k += 1
                    }
                    guard k < n else { throw ParseError(message: "unterminated tag at line \(lineOf(i))") }
                    let selfClosing = b[k - 1] == UInt8(ascii: "/")
                    let attrEnd = selfClosing ? k - 1 : k
                    if stack.isEmpty && root >= 0 { throw ParseError(message: "more than one root element (line \(lineOf(i)))") }
                    let index = Int32(elements.count)
                    let parent = stack.last ?? -1
                    elements.append(Element(nameStart: Int32(ns), nameEnd: Int32(ne), parent: parent,
                                            attrStart: Int32(attrStart), attrEnd: Int32(attrEnd)))
                    if parent >= 0 {
                        let p = Int(parent)
                        if elements[p].lastChild >= 0 { elements[Int(elements[p].lastChild)].nextSibling = index } else { elements[p].firstChild = index }
                        elements[p].lastChild = index
                    } else {
                        root = Int(index)
                    }
                    if !selfClosing { stack.append(index) }
                    i = k + 1
                }
            }
            if let open = stack.last { throw ParseError(message: "unexpected end of file: <\(name(Int(open)))> is not closed") }
            if root < 0 { throw ParseError(message: "no root element") }
        }
    }

    // MARK: queries

    func name(_ e: Int) -> String {
        let el = elements[e]
        return String(decoding: bytes[Int(el.nameStart)..<Int(el.nameEnd)], as: UTF8.self)
    }

    func nameIs(_ e: Int, _ s: StaticString) -> Bool {
        let el = elements[e]
        let len = Int(el.nameEnd - el.nameStart)
        guard len == s.utf8CodeUnitCount else { return false }
        let p = s.utf8Start
        for k in 0..<len where bytes[Int(el.nameStart) + k] != p[k] { return false }
        return true
    }

    func children(_ e: Int) -> [Int] {
        var out: [Int] = []
        var c = elements[e].firstChild
        while c >= 0 { out.append(Int(c)); c = elements[Int(c)].nextSibling }
        return out
    }

    func child(_ e: Int, _ s: StaticString) -> Int? {
        var c = elements[e].firstChild
        while c >= 0 {
            if nameIs(Int(c), s) { return Int(c) }
            c = elements[Int(c)].nextSibling
        }
        return nil
    }

    /// The raw value of attribute `key` of element `e`, if present.
    func attribute(_ e: Int, _ key: String) -> String? {
        let el = elements[e]
        let raw = String(decoding: bytes[Int(el.attrStart)..<Int(el.attrEnd)], as: UTF8.self)
        var rest = Substring(raw)
        while let eq = rest.firstIndex(of: "=") {
            let k = rest[..<eq].trimmedXML(in: " \t\r\n")
            var after = rest[rest.index(after: eq)...].drop(while: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" })
            guard let q = after.first, q == "\"" || q == "'" else { return nil }
            after = after.dropFirst()
            guard let close = after.firstIndex(of: q) else { return nil }
            if k == key { return String(after[..<close]) }
            rest = after[after.index(after: close)...]
        }
        return nil
    }

    /// The element's text (all its direct text chunks), as a string with outer whitespace trimmed.
    func text(_ e: Int) -> String {
        var s = ""
        var c = elements[e].firstText
        while c >= 0 {
            let ch = chunks[Int(c)]
            s += String(decoding: bytes[Int(ch.start)..<Int(ch.end)], as: UTF8.self)
            if ch.next >= 0 { s += " " }
            c = ch.next
        }
        return s.trimmedXML(in: " \t\r\n")
    }

    /// Parses the element's text as whitespace-separated decimal numbers; nil if any token is not a number.
    func numbers(_ e: Int) -> [Double]? {
        var out: [Double] = []
        var c = elements[e].firstText
        var ok = true
        bytes.withUnsafeBufferPointer { b in
            while c >= 0 && ok {
                let ch = chunks[Int(c)]
                var i = Int(ch.start)
                let end = Int(ch.end)
                while i < end {
                    while i < end && MiniXML.isSpace(b[i]) { i += 1 }
                    if i >= end { break }
                    var j = i
                    while j < end && !MiniXML.isSpace(b[j]) { j += 1 }
                    guard let v = MiniXML.parseNumber(b, i, j) else { ok = false; return }
                    out.append(v)
                    i = j
                }
                c = ch.next
            }
        }
        return ok ? out : nil
    }

    /// Decimal floating-point literal in b[s..<e]: [+-]digits[.digits][(e|E)[+-]digits] (also ".5", "2.").
    static func parseNumber(_ b: UnsafeBufferPointer<UInt8>, _ s: Int, _ e: Int) -> Double? {
        var i = s
        var negative = false
        if i < e && (b[i] == UInt8(ascii: "-") || b[i] == UInt8(ascii: "+")) { negative = b[i] == UInt8(ascii: "-"); i += 1 }
        var mantissa: UInt64 = 0
        var digits = 0, dropped = 0, exp10 = 0
        var sawDigit = false
        while i < e, b[i] &- 48 < 10 {
            sawDigit = true
            if digits < 19 { mantissa = mantissa * 10 + UInt64(b[i] &- 48); if mantissa > 0 { digits += 1 } } else { dropped += 1 }
            i += 1
        }
        if i < e && b[i] == UInt8(ascii: ".") {
            i += 1
            while i < e, b[i] &- 48 < 10 {
                sawDigit = true
                if digits < 19 { mantissa = mantissa * 10 + UInt64(b[i] &- 48); if mantissa > 0 { digits += 1 }; exp10 -= 1 }
                i += 1
            }
        }
        guard sawDigit else { return nil }
        if i < e && (b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E")) {
            i += 1
            var eneg = false
            if i < e && (b[i] == UInt8(ascii: "-") || b[i] == UInt8(ascii: "+")) { eneg = b[i] == UInt8(ascii: "-"); i += 1 }
            var ev = 0, eDigits = 0
            while i < e, b[i] &- 48 < 10 { if ev < 100_000 { ev = ev * 10 + Int(b[i] &- 48) }; eDigits += 1; i += 1 }
            guard eDigits > 0 else { return nil }
            exp10 += eneg ? -ev : ev
        }
        guard i == e else { return nil }
        exp10 += dropped
        var v = Double(mantissa)
        if v != 0 && exp10 != 0 {
            // Scale in at most a few steps; exact powers of ten up to 1e22.
            var k = exp10
            while k > 22 { v *= 1e22; k -= 22 }
            while k < -22 { v /= 1e22; k += 22 }
            let p = powersOfTen[abs(k)]
            v = k >= 0 ? v * p : v / p
        }
        return negative ? -v : v
    }

    private static let powersOfTen: [Double] = (0...22).map { k in
        var p = 1.0
        for _ in 0..<k { p *= 10 }
        return p
    }
}

extension StringProtocol {
    fileprivate func trimmedXML(in set: String) -> String {
        let chars = Set(set)
        var s = Substring(self)
        while let f = s.first, chars.contains(f) { s = s.dropFirst() }
        while let l = s.last, chars.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
