/// What one raw line from gpsd is, judged before trusting what libgps decoded from it.
///
/// libgps never reports bad input: it silently skips a line that does not start with `{`, and for broken JSON it
/// keeps whatever fields it parsed before the error (so a TPV cut after `"lon":87.` still sets its position flags).
/// The reader therefore checks each line itself: a complete JSON object, and for TPVs the types of the fields it
/// uses. Only the top-level keys and the class name become (small, usually inline) Swift strings.
enum GPSLine: Equatable {
    /// Empty or whitespace only: nothing to do.
    case blank
    /// A well-formed JSON object of gpsd `class` (`TPV`, `VERSION`, `SKY`…) whose used fields have the right types.
    case object(className: String)
    /// Not usable, with a short reason.
    case malformed(String)

    /// TPV fields the reader uses and must be numbers.
    static let tpvNumbers: Set<String> = ["mode", "lat", "lon", "alt", "altHAE", "altMSL", "speed", "track", "eph"]
    /// TPV fields the reader uses and must be strings.
    static let tpvStrings: Set<String> = ["time", "device"]

    /// Classifies `bytes` (one line, without its `\n`; a trailing `\r` is allowed).
    static func classify(_ bytes: UnsafeBufferPointer<UInt8>) -> GPSLine {
        var scanner = JSONScanner(bytes)
        scanner.skipSpace()
        if scanner.atEnd { return .blank }
        guard scanner.peek == UInt8(ascii: "{") else { return .malformed("not JSON") }
        var className: String?
        var wrongType: String?
        let ok = scanner.object(depth: 0) { key, kind, value in
            if key == "class" {
                className = kind == .string ? value : nil
            } else if wrongType == nil {
                if tpvNumbers.contains(key) && kind != .number { wrongType = key }
                if tpvStrings.contains(key) && kind != .string { wrongType = key }
            }
        }
        scanner.skipSpace()
        guard ok, scanner.atEnd else { return .malformed("truncated or invalid JSON") }
        guard let className else { return .malformed("JSON object without a class") }
        if className == "TPV", let wrongType { return .malformed("TPV field with the wrong type: " + wrongType) }
        return .object(className: className)
    }
}

/// A strict JSON syntax checker over UTF-8 bytes, bounded in nesting depth (garbage such as
/// thousands of `[` must not overflow the reader thread's stack).
struct JSONScanner {
    enum Kind { case string, number, other }

    static let maxDepth = 32
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    var atEnd: Bool { index >= bytes.count }
    var peek: UInt8? { atEnd ? nil : bytes[index] }

    mutating func skipSpace() {
        while let c = peek, c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0A { index += 1 }
    }

    /// An object; `member` sees the top-level key, the value's kind and (for short strings) its text.
    mutating func object(depth: Int, member: ((String, Kind, String?) -> Void)? = nil) -> Bool {
        guard depth < Self.maxDepth, consume(UInt8(ascii: "{")) else { return false }
        skipSpace()
        if consume(UInt8(ascii: "}")) { return true }
        while true {
            skipSpace()
            let keyStart = index + 1
            guard string() else { return false }
            let key = member == nil ? nil : text(keyStart, index - 1)
            skipSpace()
            guard consume(UInt8(ascii: ":")) else { return false }
            skipSpace()
            let valueStart = index
            guard let kind = value(depth: depth + 1) else { return false }
            if let member {
                let short = kind == .string && index - valueStart <= 66
                member(key ?? "", kind, short ? text(valueStart + 1, index - 1) : nil)
            }
            skipSpace()
            if consume(UInt8(ascii: "}")) { return true }
            guard consume(UInt8(ascii: ",")) else { return false }
        }
    }

    mutating func value(depth: Int) -> Kind? {
        switch peek {
        case UInt8(ascii: "{"): return object(depth: depth) ? .other : nil
        case UInt8(ascii: "["): return array(depth: depth) ? .other : nil
        case UInt8(ascii: "\""): return string() ? .string : nil
        case UInt8(ascii: "t"): return literal("true") ? .other : nil
        case UInt8(ascii: "f"): return literal("false") ? .other : nil
        case UInt8(ascii: "n"): return literal("null") ? .other : nil
        default: return number() ? .number : nil
        }
    }

    mutating func array(depth: Int) -> Bool {
        guard depth < Self.maxDepth, consume(UInt8(ascii: "[")) else { return false }
        skipSpace()
        if consume(UInt8(ascii: "]")) { return true }
        while true {
            skipSpace()
            guard value(depth: depth + 1) != nil else { return false }
            skipSpace()
            if consume(UInt8(ascii: "]")) { return true }
            guard consume(UInt8(ascii: ",")) else { return false }
        }
    }

    mutating func string() -> Bool {
        guard consume(UInt8(ascii: "\"")) else { return false }
        while let c = peek {
            index += 1
            if c == UInt8(ascii: "\"") { return true }
            if c < 0x20 { return false }
            if c == UInt8(ascii: "\\") {
                guard let e = peek else { return false }
                index += 1
                if e == UInt8(ascii: "u") {
                    for _ in 0..<4 {
                        guard let h = peek, isHex(h) else { return false }
                        index += 1
                    }
                } else if !"\"\\/bfnrt".utf8.contains(e) {
                    return false
                }
            }
        }
        return false  // unterminated
    }

    mutating func number() -> Bool {
        _ = consume(UInt8(ascii: "-"))
        if consume(UInt8(ascii: "0")) {
        } else if digits() == 0 {
            return false
        }
        if consume(UInt8(ascii: ".")) && digits() == 0 { return false }
        if consume(UInt8(ascii: "e")) || consume(UInt8(ascii: "E")) {
            if !consume(UInt8(ascii: "+")) { _ = consume(UInt8(ascii: "-")) }
            if digits() == 0 { return false }
        }
        return true
    }

    mutating func literal(_ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard bytes.count - index >= count else { return false }
        for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] { return false }
        index += count
        return true
    }

    private mutating func digits() -> Int {
        let start = index
        while let c = peek, c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") { index += 1 }
        return index - start
    }

    private mutating func consume(_ byte: UInt8) -> Bool {
        guard peek == byte else { return false }
        index += 1
        return true
    }

    private func isHex(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66)
    }

    /// The raw bytes in [from, to) as a String (escapes are left as written; keys and classes have none).
    private func text(_ from: Int, _ to: Int) -> String? {
        guard from <= to, to <= bytes.count else { return nil }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[from..<to]), as: UTF8.self)
    }
}
