/// The canonical form of a JSON request body: what ``IdempotentRequest`` hashes, so that two bodies a JSON reader
/// cannot tell apart count as the same request under one `Idempotency-Key`.
///
/// The form (close to RFC 8785, JSON Canonicalization Scheme):
/// - no insignificant whitespace;
/// - object members sorted by the UTF-8 bytes of their (unescaped) names; a name twice in one object is refused;
/// - array elements keep their order;
/// - strings unescaped, then written with only `"`, `\` and control characters escaped (`\b \f \n \r \t`, others
///   `\u00xx`); every other character is written as itself in UTF-8, so `"\u0041"` and `"A"` are the same;
/// - numbers as parsed: an integer that fits in 64 bits is written in decimal (`-0` is `0`); any other number is
///   read as the nearest `Double` and written as an integer when it is whole and below 2^53 (so `1`, `1.0` and
///   `1e0` are the same), otherwise in Swift's shortest round-trip form; numbers no `Double` can hold are refused;
/// - `true`, `false`, `null` as they are.
///
/// An empty body (or only whitespace) has the empty form. Anything that is not one JSON value (RFC 8259), is not
/// UTF-8, or nests deeper than ``maxDepth`` is refused with ``Invalid``.
enum CanonicalJSON {
    /// Why a body has no canonical form.
    struct Invalid: Error, Equatable {
        var message: String
    }

    /// Objects and arrays nested deeper than this are refused.
    static let maxDepth = 64

    /// The canonical form of `bytes` (see the type's documentation).
    static func canonical(_ bytes: [UInt8]) throws(Invalid) -> [UInt8] {
        var parser = Parser(bytes: bytes)
        parser.skipWhitespace()
        if parser.atEnd { return [] }
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.atEnd else { throw Invalid(message: "text after the JSON value at byte \(parser.index)") }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        value.write(to: &out)
        return out
    }

    /// A parsed value, already in canonical pieces.
    fileprivate indirect enum Value {
        case object([(name: [UInt8], value: Value)])
        case array([Value])
        case string([UInt8])
        /// A number or literal, as written in the canonical form.
        case token([UInt8])

        func write(to out: inout [UInt8]) {
            switch self {
            case .object(let members):
                out.append(UInt8(ascii: "{"))
                for (i, member) in members.enumerated() {
                    if i > 0 { out.append(UInt8(ascii: ",")) }
                    Value.string(member.name).write(to: &out)
                    out.append(UInt8(ascii: ":"))
                    member.value.write(to: &out)
                }
                out.append(UInt8(ascii: "}"))
            case .array(let elements):
                out.append(UInt8(ascii: "["))
                for (i, element) in elements.enumerated() {
                    if i > 0 { out.append(UInt8(ascii: ",")) }
                    element.write(to: &out)
                }
                out.append(UInt8(ascii: "]"))
            case .string(let utf8):
                out.append(UInt8(ascii: "\""))
                for byte in utf8 { Self.escape(byte, to: &out) }
                out.append(UInt8(ascii: "\""))
            case .token(let text):
                out.append(contentsOf: text)
            }
        }

        private static func escape(_ byte: UInt8, to out: inout [UInt8]) {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: Array(#"\""#.utf8))
            case UInt8(ascii: "\\"): out.append(contentsOf: Array(#"\\"#.utf8))
            case 0x08: out.append(contentsOf: Array(#"\b"#.utf8))
            case 0x0C: out.append(contentsOf: Array(#"\f"#.utf8))
            case 0x0A: out.append(contentsOf: Array(#"\n"#.utf8))
            case 0x0D: out.append(contentsOf: Array(#"\r"#.utf8))
            case 0x09: out.append(contentsOf: Array(#"\t"#.utf8))
            case ..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: Array(#"\u00"#.utf8))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            default: out.append(byte)
            }
        }
    }
}

/// A recursive-descent JSON reader over bytes (RFC 8259), producing ``CanonicalJSON/Value``.
private struct Parser {
    let bytes: [UInt8]
    var index = 0

    var atEnd: Bool { index >= bytes.count }

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func skipWhitespace() {
        while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
    }

    func fail(_ message: String) -> CanonicalJSON.Invalid {
        CanonicalJSON.Invalid(message: "\(message) at byte \(index)")
    }

    mutating func value(depth: Int) throws(CanonicalJSON.Invalid) -> CanonicalJSON.Value {
        skipWhitespace()
        guard index < bytes.count else { throw fail("a value expected") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try object(depth: depth + 1)
        case UInt8(ascii: "["): return try array(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try literal("true")
        case UInt8(ascii: "f"): return try literal("false")
        case UInt8(ascii: "n"): return try literal("null")
        default: return .token(try number())
        }
    }

    mutating func object(depth: Int) throws(CanonicalJSON.Invalid) -> CanonicalJSON.Value {
        guard depth <= CanonicalJSON.maxDepth else { throw fail("nested deeper than \(CanonicalJSON.maxDepth)") }
        index += 1
        var members: [(name: [UInt8], value: CanonicalJSON.Value)] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return .object([])
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw fail("a member name expected") }
            let name = try string()
            skipWhitespace()
            try expect(":")
            members.append((name, try value(depth: depth)))
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            try expect("}")
            break
        }
        members.sort { $0.name.lexicographicallyPrecedes($1.name) }
        for i in members.indices.dropFirst() where members[i].name == members[i - 1].name {
            throw CanonicalJSON.Invalid(message: "member \"\(String(decoding: members[i].name, as: UTF8.self))\" twice")
        }
        return .object(members)
    }

    mutating func array(depth: Int) throws(CanonicalJSON.Invalid) -> CanonicalJSON.Value {
        guard depth <= CanonicalJSON.maxDepth else { throw fail("nested deeper than \(CanonicalJSON.maxDepth)") }
        index += 1
        var elements: [CanonicalJSON.Value] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return .array([])
        }
        while true {
            elements.append(try value(depth: depth))
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            try expect("]")
            return .array(elements)
        }
    }

    mutating func expect(_ character: Unicode.Scalar) throws(CanonicalJSON.Invalid) {
        guard index < bytes.count, bytes[index] == UInt8(ascii: character) else {
            throw fail("\"\(character)\" expected")
        }
        index += 1
    }

    mutating func literal(_ word: String) throws(CanonicalJSON.Invalid) -> CanonicalJSON.Value {
        let utf8 = Array(word.utf8)
        guard bytes.count - index >= utf8.count, Array(bytes[index..<index + utf8.count]) == utf8 else {
            throw fail("unexpected character")
        }
        index += utf8.count
        return .token(utf8)
    }
}

extension Parser {
    /// A string's content, unescaped, as UTF-8 (validated); `index` is at the opening quote.
    mutating func string() throws(CanonicalJSON.Invalid) -> [UInt8] {
        index += 1
        var out: [UInt8] = []
        while true {
            guard index < bytes.count else { throw fail("unterminated string") }
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                guard String(validating: out, as: UTF8.self) != nil else { throw fail("a string that is not UTF-8") }
                return out
            case UInt8(ascii: "\\"):
                guard index < bytes.count else { throw fail("unterminated escape") }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"): out.append(contentsOf: Array(String(try unicodeEscape()).utf8))
                default: throw fail("unknown escape")
                }
            case ..<0x20:
                throw fail("a control character in a string")
            default:
                out.append(byte)
            }
        }
    }

    /// The scalar of `\uXXXX` (with its low surrogate when it is a high one); `index` is after the `u`.
    private mutating func unicodeEscape() throws(CanonicalJSON.Invalid) -> Unicode.Scalar {
        let first = try hex4()
        var value = UInt32(first)
        if (0xD800...0xDBFF).contains(first) {
            guard bytes.count - index >= 2, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
            else { throw fail("a lone surrogate") }
            index += 2
            let second = try hex4()
            guard (0xDC00...0xDFFF).contains(second) else { throw fail("a lone surrogate") }
            value = 0x10000 + ((UInt32(first) - 0xD800) << 10) + (UInt32(second) - 0xDC00)
        }
        guard let scalar = Unicode.Scalar(value) else { throw fail("a lone surrogate") }
        return scalar
    }

    private mutating func hex4() throws(CanonicalJSON.Invalid) -> UInt16 {
        guard bytes.count - index >= 4,
            let value = UInt16(String(decoding: bytes[index..<index + 4], as: UTF8.self), radix: 16)
        else { throw fail("four hex digits expected") }
        index += 4
        return value
    }

    /// A number in its canonical text (see ``CanonicalJSON``).
    mutating func number() throws(CanonicalJSON.Invalid) -> [UInt8] {
        let start = index
        func digits(_ p: inout Parser) -> Int {
            let from = p.index
            while p.index < p.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(p.bytes[p.index]) {
                p.index += 1
            }
            return p.index - from
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        let integerStart = index
        let integerDigits = digits(&self)
        guard integerDigits > 0 else { throw fail("unexpected character") }
        if integerDigits > 1, bytes[integerStart] == UInt8(ascii: "0") { throw fail("a number with a leading zero") }
        var integral = true
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digits(&self) > 0 else { throw fail("digits expected after the decimal point") }
            integral = false
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                index += 1
            }
            guard digits(&self) > 0 else { throw fail("digits expected in the exponent") }
            integral = false
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        if integral, let whole = Int64(text) { return Array(String(whole).utf8) }
        guard let double = Double(text), double.isFinite else { throw fail("a number out of range") }
        if double == double.rounded(.towardZero), abs(double) < 9_007_199_254_740_992 {
            return Array(String(Int64(double)).utf8)
        }
        return Array(String(double).utf8)
    }
}
