/// A parsed JSON value, for the agent's per-second inbound path (acks): reading them with `JSONDecoder` would keep
/// a large part of Foundation resident on a device with a 12 MB budget. Strict RFC 8259 parsing, bounded depth.
public indirect enum JSONValue: Equatable, Sendable {
    case null
    case bool(Bool)
    /// The number exactly as written (converted on access, so 64-bit integers keep their precision).
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Parses `bytes` (one JSON text); throws `PayloadError(.notJSON)` on anything else.
    public static func parse(_ bytes: [UInt8], maxDepth: Int = 16) throws(PayloadError) -> JSONValue {
        var parser = Parser(bytes: bytes, maxDepth: maxDepth)
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw PayloadError(.notJSON, "trailing characters") }
        return value
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// The value as a whole number, nil when it is not one.
    public var int64: Int64? {
        if case .number(let text) = self { return Int64(text) }
        return nil
    }

    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var array: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    private struct Parser {
        let bytes: [UInt8]
        let maxDepth: Int
        var index = 0

        mutating func skipWhitespace() {
            while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        }

        func fail(_ why: String) -> PayloadError { PayloadError(.notJSON, "\(why) at byte \(index)") }

        mutating func value(depth: Int) throws(PayloadError) -> JSONValue {
            guard depth <= maxDepth else { throw fail("nested too deeply") }
            skipWhitespace()
            guard index < bytes.count else { throw fail("unexpected end") }
            switch bytes[index] {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            default: return try number()
            }
        }

        mutating func literal(_ word: String) throws(PayloadError) {
            let w = Array(word.utf8)
            guard index + w.count <= bytes.count, Array(bytes[index..<index + w.count]) == w else {
                throw fail("bad literal")
            }
            index += w.count
        }

        mutating func number() throws(PayloadError) -> JSONValue {
            let start = index
            if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
            while index < bytes.count,
                (0x30...0x39).contains(bytes[index]) || [0x2E, 0x65, 0x45, 0x2B, 0x2D].contains(bytes[index])
            {
                index += 1
            }
            let text = String(decoding: bytes[start..<index], as: UTF8.self)
            guard index > start, Double(text) != nil else { throw fail("bad number") }
            return .number(text)
        }

        mutating func string() throws(PayloadError) -> String {
            index += 1  // opening quote
            var out: [UInt8] = []
            while index < bytes.count {
                let c = bytes[index]
                index += 1
                switch c {
                case UInt8(ascii: "\""): return String(decoding: out, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    guard index < bytes.count else { throw fail("unterminated escape") }
                    let e = bytes[index]
                    index += 1
                    switch e {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "u"):
                        guard index + 4 <= bytes.count,
                            let code = UInt32(String(decoding: bytes[index..<index + 4], as: UTF8.self), radix: 16)
                        else { throw fail("bad \\u escape") }
                        index += 4
                        out.append(contentsOf: String(Unicode.Scalar(code) ?? "\u{FFFD}").utf8)
                    default: throw fail("bad escape")
                    }
                case 0..<0x20: throw fail("control character in string")
                default: out.append(c)
                }
            }
            throw fail("unterminated string")
        }

        mutating func array(depth: Int) throws(PayloadError) -> JSONValue {
            index += 1
            var items: [JSONValue] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(items)
            }
            while true {
                items.append(try value(depth: depth + 1))
                skipWhitespace()
                guard index < bytes.count else { throw fail("unterminated array") }
                let c = bytes[index]
                index += 1
                if c == UInt8(ascii: "]") { return .array(items) }
                guard c == UInt8(ascii: ",") else { throw fail("expected , or ]") }
            }
        }

        mutating func object(depth: Int) throws(PayloadError) -> JSONValue {
            index += 1
            var members: [String: JSONValue] = [:]
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(members)
            }
            while true {
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw fail("expected a key") }
                let key = try string()
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw fail("expected :") }
                index += 1
                members[key] = try value(depth: depth + 1)
                skipWhitespace()
                guard index < bytes.count else { throw fail("unterminated object") }
                let c = bytes[index]
                index += 1
                if c == UInt8(ascii: "}") { return .object(members) }
                guard c == UInt8(ascii: ",") else { throw fail("expected , or }") }
            }
        }
    }
}

extension AckMessage {
    /// Reads an ack without `JSONDecoder` (the agent's hot inbound path); same rules as the `Decodable` form.
    public static func parse(_ bytes: [UInt8], maxBytes: Int = 256 * 1024) throws(PayloadError) -> AckMessage {
        guard bytes.count <= maxBytes else { throw PayloadError(.tooLarge, "payload of \(bytes.count) bytes") }
        let json = try JSONValue.parse(bytes)
        guard case .object = json else { throw PayloadError(.invalidField, "not a JSON object") }
        guard let v = json["v"]?.int64 else { throw PayloadError(.invalidField, "missing or wrong type: v") }
        guard let agent = json["agent"]?.string else {
            throw PayloadError(.invalidField, "missing or wrong type: agent")
        }
        guard let list = json["seqs"]?.array else { throw PayloadError(.invalidField, "missing or wrong type: seqs") }
        var pairs: [[Int64]] = []
        pairs.reserveCapacity(list.count)
        for item in list {
            guard let pair = item.array, pair.allSatisfy({ $0.int64 != nil }) else {
                throw PayloadError(.invalidField, "seqs must hold arrays of whole numbers")
            }
            pairs.append(pair.compactMap(\.int64))
        }
        var message = AckMessage(agent: agent, ranges: [])
        message.v = Int(truncatingIfNeeded: v)
        message.seqs = pairs
        return message
    }
}
