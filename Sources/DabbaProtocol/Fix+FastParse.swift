/// A fast path for the hub's hottest decode: one `Fix` per MQTT message on the live lane (and the fixes of a backlog).
///
/// `Fix.parse(_:maxBytes:)` reads the common, plain form of a fix in one pass over the bytes, without building a
/// `Data`, a `JSONDecoder` or any intermediate tree. It only ever *accepts*: whenever the input is anything but that
/// plain form (not JSON, a wrong type, a missing field, a duplicate key, a string with escapes or non-ASCII bytes, a
/// nested value under an unknown key, an integer written with a fraction or exponent, …) it hands the very same
/// bytes to `PayloadCoding.decode`, so every rejection, and every edge case, is decided by `JSONDecoder` exactly as
/// before. What the fast path accepts, `JSONDecoder` accepts too, with the same values (tests compare the two).
extension Fix {
    public static func parse(_ bytes: [UInt8], maxBytes: Int = 1 << 20) throws(PayloadError) -> Fix {
        try PayloadCoding.decode(Fix.self, from: bytes, maxBytes: maxBytes, fast: fastParse)
    }

    /// The plain form of a fix, or nil to let `JSONDecoder` decide.
    static func fastParse(_ bytes: [UInt8]) -> Fix? { FlatScanner.whole(bytes) { $0.fixObject() } }
}

/// One pass over a flat JSON object of scalars. Any doubt returns nil (the caller falls back).
struct FlatScanner {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    mutating func consume(_ byte: UInt8) -> Bool {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    /// A string of printable ASCII without escapes, as its byte range (nil otherwise).
    mutating func plainString() -> Range<Int>? {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
        let start = index + 1
        var i = start
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: "\"") {
                index = i + 1
                return start..<i
            }
            // Escapes, control characters and non-ASCII (UTF-8 validation) are left to JSONDecoder.
            guard c >= 0x20, c < 0x80, c != UInt8(ascii: "\\") else { return nil }
            i += 1
        }
        return nil
    }

    func string(_ range: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    func equals(_ range: Range<Int>, _ key: StaticString) -> Bool {
        guard range.count == key.utf8CodeUnitCount else { return false }
        let k = key.utf8Start
        for (offset, i) in range.enumerated() where bytes[i] != k[offset] { return false }
        return true
    }

    /// A JSON number token (RFC 8259 grammar) as its byte range, and whether it is a plain integer.
    mutating func number() -> (range: Range<Int>, integer: Bool)? {
        skipWhitespace()
        let start = index
        var i = index
        if i < bytes.count, bytes[i] == UInt8(ascii: "-") { i += 1 }
        guard i < bytes.count else { return nil }
        if bytes[i] == UInt8(ascii: "0") {
            i += 1
        } else if (0x31...0x39).contains(bytes[i]) {
            while i < bytes.count, (0x30...0x39).contains(bytes[i]) { i += 1 }
        } else {
            return nil
        }
        var integer = true
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            integer = false
            i += 1
            let digits = i
            while i < bytes.count, (0x30...0x39).contains(bytes[i]) { i += 1 }
            guard i > digits else { return nil }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            integer = false
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            let digits = i
            while i < bytes.count, (0x30...0x39).contains(bytes[i]) { i += 1 }
            guard i > digits else { return nil }
        }
        index = i
        return (start..<i, integer)
    }

    /// A plain integer that fits in Int64 (nil for anything else, including `1.0`, `1e3` and any integer beyond
    /// Int64, which JSONDecoder then refuses). Accumulated negatively, with checked arithmetic: 19 digits can exceed
    /// Int64.max, and the bytes are any device's.
    mutating func int64() -> Int64? {
        guard let (range, integer) = number(), integer, range.count <= 20 else { return nil }
        var value: Int64 = 0
        var i = range.lowerBound
        let negative = bytes[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        while i < range.upperBound {
            let (shifted, o1) = value.multipliedReportingOverflow(by: 10)
            let (next, o2) = shifted.subtractingReportingOverflow(Int64(bytes[i] - 0x30))
            if o1 || o2 { return nil }
            value = next
            i += 1
        }
        if negative && value == 0 { return nil }  // `-0`: left to JSONDecoder
        if negative { return value }
        return value == .min ? nil : -value
    }

    /// A finite number as Double (nil when it overflows: JSONDecoder decides those).
    mutating func double() -> Double? {
        guard let (range, _) = number() else { return nil }
        guard let value = Double(Substring(string(range))), value.isFinite else { return nil }
        return value
    }

    /// A scalar value under a key the decoder ignores (objects, arrays and odd strings fall back).
    mutating func skipScalar() -> Bool {
        skipWhitespace()
        guard index < bytes.count else { return false }
        switch bytes[index] {
        case UInt8(ascii: "\""): return plainString() != nil
        case UInt8(ascii: "t"): return literal("true")
        case UInt8(ascii: "f"): return literal("false")
        case UInt8(ascii: "n"): return literal("null")
        default: return number() != nil
        }
    }

    mutating func literal(_ word: StaticString) -> Bool {
        let n = word.utf8CodeUnitCount
        guard index + n <= bytes.count else { return false }
        for k in 0..<n where bytes[index + k] != word.utf8Start[k] { return false }
        index += n
        return true
    }

    /// `null` for an optional field (JSONDecoder's `decodeIfPresent` reads it as absent).
    mutating func null() -> Bool {
        skipWhitespace()
        return literal("null")
    }

    /// A member's integer, once: a duplicate key (or anything but an integer) gives up the fast path, and
    /// `JSONDecoder` decides.
    mutating func uniqueInt64(_ slot: inout Int64?) -> Bool {
        guard slot == nil, let value = int64() else { return false }
        slot = value
        return true
    }

    /// A member's plain string, once.
    mutating func uniqueString(_ slot: inout String?) -> Bool {
        guard slot == nil, let range = plainString() else { return false }
        slot = string(range)
        return true
    }

    /// A member's number, once.
    mutating func uniqueDouble(_ slot: inout Double?) -> Bool {
        guard slot == nil, let value = double() else { return false }
        slot = value
        return true
    }

    /// A member's value (as `read` reads it) or `null`, once: a duplicate key, or a value `read` refuses, gives up the
    /// fast path.
    @inline(__always) mutating func optional<T>(_ slot: inout T??, _ read: (inout FlatScanner) -> T?) -> Bool {
        guard slot == nil else { return false }  // duplicate key
        if null() {
            slot = .some(nil)
            return true
        }
        guard let value = read(&self) else { return false }
        slot = .some(value)
        return true
    }

    /// A member's number or `null`, once.
    mutating func optionalDouble(_ slot: inout Double??) -> Bool { optional(&slot) { $0.double() } }

    /// A member's plain integer or `null`, once.
    mutating func optionalInt64(_ slot: inout Int64??) -> Bool { optional(&slot) { $0.int64() } }

    /// A member's plain string or `null`, once.
    mutating func optionalString(_ slot: inout String??) -> Bool {
        optional(&slot) { s in s.plainString().map { s.string($0) } }
    }

    /// `true` or `false`, once.
    mutating func uniqueBool(_ slot: inout Bool?) -> Bool {
        guard slot == nil else { return false }
        skipWhitespace()
        if literal("true") {
            slot = true
        } else if literal("false") {
            slot = false
        } else {
            return false
        }
        return true
    }

    /// What `read` reads from the start of `bytes`, when nothing but whitespace follows it (a whole payload);
    /// otherwise nil.
    static func whole<T>(_ bytes: [UInt8], _ read: (inout FlatScanner) -> T?) -> T? {
        bytes.withUnsafeBufferPointer { buffer -> T? in
            var scanner = FlatScanner(bytes: buffer)
            guard let value = read(&scanner) else { return nil }
            scanner.skipWhitespace()
            return scanner.index == buffer.count ? value : nil
        }
    }

    /// `{"key": value, …}` from the current position: `member` reads each key's value (the scanner just after the
    /// key's colon) and says whether it was acceptable. False on a malformed object or the first refused member; the
    /// scanner is left just after the closing brace. Keys must be plain strings.
    @inline(__always) mutating func object(_ member: (inout FlatScanner, Range<Int>) -> Bool) -> Bool {
        guard consume(UInt8(ascii: "{")) else { return false }
        if consume(UInt8(ascii: "}")) { return true }
        while true {
            guard let key = plainString(), consume(UInt8(ascii: ":")), member(&self, key) else { return false }
            if consume(UInt8(ascii: ",")) { continue }
            return consume(UInt8(ascii: "}"))
        }
    }

    /// One plain fix object from the current position; the scanner is left just after its closing brace.
    mutating func fixObject() -> Fix? {
        var v: Int64?, seq: Int64?, agent: String?, time: String?, lat: Double?, lon: Double?
        var alt: Double??, speed: Double??, track: Double??, hacc: Double??, mode: Int64??
        let wellFormed = object { s, key in
            if s.equals(key, "v") {
                return s.uniqueInt64(&v)
            } else if s.equals(key, "agent") {
                return s.uniqueString(&agent)
            } else if s.equals(key, "seq") {
                return s.uniqueInt64(&seq)
            } else if s.equals(key, "time") {
                return s.uniqueString(&time)
            } else if s.equals(key, "lat") {
                return s.uniqueDouble(&lat)
            } else if s.equals(key, "lon") {
                return s.uniqueDouble(&lon)
            } else if s.equals(key, "alt") {
                return s.optionalDouble(&alt)
            } else if s.equals(key, "speed") {
                return s.optionalDouble(&speed)
            } else if s.equals(key, "track") {
                return s.optionalDouble(&track)
            } else if s.equals(key, "hacc") {
                return s.optionalDouble(&hacc)
            } else if s.equals(key, "mode") {
                return s.optionalInt64(&mode)
            } else {
                return s.skipScalar()
            }
            return true
        }
        guard wellFormed else { return nil }
        guard let v, let agent, let seq, let time, let lat, let lon,
            let version = Int(exactly: v)
        else { return nil }
        var fix = Fix(
            agent: agent, seq: seq, time: time, lat: lat, lon: lon, alt: alt ?? nil, speed: speed ?? nil,
            track: track ?? nil, hacc: hacc ?? nil, mode: (mode ?? nil).flatMap { Int(exactly: $0) })
        fix.v = version
        return fix
    }
}

/// The backfill lane's fast path, on the same terms as `Fix.parse`: `BacklogMessage.parse` reads the plain form the
/// agent sends (`{"v":1,"agent":"…","fixes":[…plain fixes…]}`, keys in any order, unknown scalar keys skipped) in one
/// pass, and hands anything else — and every rejection — to `JSONDecoder` through `PayloadCoding.decode`. What it
/// accepts, `JSONDecoder` accepts with the same value (tests and the `backlog` fuzz target compare the two).
extension BacklogMessage {
    public static func parse(_ bytes: [UInt8], maxBytes: Int = 1 << 20) throws(PayloadError) -> BacklogMessage {
        try PayloadCoding.decode(BacklogMessage.self, from: bytes, maxBytes: maxBytes, fast: fastParse)
    }

    /// The plain form of a backlog message, or nil to let `JSONDecoder` decide.
    package static func fastParse(_ bytes: [UInt8]) -> BacklogMessage? { FlatScanner.whole(bytes) { $0.backlog() } }
}

extension FlatScanner {
    mutating func backlog() -> BacklogMessage? {
        var v: Int64?, agent: String?, fixes: [Fix]?
        let wellFormed = object { s, key in
            if s.equals(key, "v") {
                return s.uniqueInt64(&v)
            } else if s.equals(key, "agent") {
                return s.uniqueString(&agent)
            } else if s.equals(key, "fixes") {
                guard fixes == nil, let list = s.fixArray() else { return false }
                fixes = list
            } else {
                return s.skipScalar()
            }
            return true
        }
        guard wellFormed, let v, let agent, let fixes, let version = Int(exactly: v) else { return nil }
        return BacklogMessage(v: version, agent: agent, fixes: fixes)
    }

    /// `[fix, fix, …]` of plain fix objects (nil on anything else).
    mutating func fixArray() -> [Fix]? {
        guard consume(UInt8(ascii: "[")) else { return nil }
        var list: [Fix] = []
        if consume(UInt8(ascii: "]")) { return list }
        while true {
            guard let fix = fixObject() else { return nil }
            list.append(fix)
            if consume(UInt8(ascii: ",")) { continue }
            guard consume(UInt8(ascii: "]")) else { return nil }
            return list
        }
    }
}
