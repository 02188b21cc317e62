/// A small, allocation-light writer for the agent's own flat payloads (Fix, AgentState, AgentEvent, ack).
///
/// The device encodes one fix a second for days: this keeps that path off `JSONEncoder` and date formatting (less
/// CPU per fix and far fewer code pages resident). Output is plain RFC 8259 JSON; `PayloadCoding.decode` (and any
/// JSON parser) reads it back. Non-finite numbers are written as `null`.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = [UInt8(ascii: "{")]
    private var first = true

    public init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    private mutating func key(_ name: StaticString) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        first = false
        bytes.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
    }

    public mutating func field(_ name: StaticString, _ value: String) {
        key(name)
        Self.appendString(value, to: &bytes)
    }

    public mutating func field(_ name: StaticString, _ value: Int64) {
        key(name)
        bytes.append(contentsOf: String(value).utf8)
    }

    public mutating func field(_ name: StaticString, _ value: Int) { field(name, Int64(value)) }

    public mutating func field(_ name: StaticString, _ value: Bool) {
        key(name)
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    public mutating func field(_ name: StaticString, _ value: Double) {
        key(name)
        bytes.append(contentsOf: (value.isFinite ? value.description : "null").utf8)
    }

    /// Writes the field only when `value` is present, as the synthesized `Encodable` does.
    public mutating func field<T>(
        _ name: StaticString, ifPresent value: T?, _ write: (inout Self, StaticString, T) -> Void
    ) {
        if let value { write(&self, name, value) }
    }

    /// A raw, already-encoded JSON value.
    public mutating func field(_ name: StaticString, raw: [UInt8]) {
        key(name)
        bytes.append(contentsOf: raw)
    }

    /// The finished object.
    public func finish() -> [UInt8] { bytes + [UInt8(ascii: "}")] }

    /// A JSON array of already-encoded values (for ``field(_:raw:)``).
    public static func array(_ elements: [[UInt8]]) -> [UInt8] {
        var raw: [UInt8] = [UInt8(ascii: "[")]
        raw.reserveCapacity(2 + elements.reduce(0) { $0 + $1.count + 1 })
        for (i, element) in elements.enumerated() {
            if i > 0 { raw.append(UInt8(ascii: ",")) }
            raw.append(contentsOf: element)
        }
        raw.append(UInt8(ascii: "]"))
        return raw
    }

    /// Appends `value` as a JSON string literal with the escapes RFC 8259 requires.
    public static func appendString(_ value: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        for c in value.utf8 {
            switch c {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: Array("\\u00".utf8))
                bytes.append(hex[Int(c >> 4)])
                bytes.append(hex[Int(c & 0xF)])
            default: bytes.append(c)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

extension Fix {
    /// The payload bytes (same fields as `Encodable`, in DESIGN.md's order).
    public func jsonBytes() -> [UInt8] {
        var w = JSONWriter()
        w.field("v", v)
        w.field("agent", agent)
        w.field("seq", seq)
        w.field("time", time)
        w.field("lat", lat)
        w.field("lon", lon)
        w.field("alt", ifPresent: alt) { $0.field($1, $2) }
        w.field("speed", ifPresent: speed) { $0.field($1, $2) }
        w.field("track", ifPresent: track) { $0.field($1, $2) }
        w.field("hacc", ifPresent: hacc) { $0.field($1, $2) }
        w.field("mode", ifPresent: mode) { $0.field($1, $2) }
        return w.finish()
    }
}

extension AgentEvent {
    public func jsonBytes() -> [UInt8] {
        var w = JSONWriter()
        w.field("v", v)
        w.field("agent", agent)
        w.field("seq", seq)
        w.field("time", time)
        w.field("order", order)
        w.field("type", type.rawValue)
        w.field("cashCollected", ifPresent: cashCollected) { $0.field($1, $2) }
        w.field("reason", ifPresent: reason) { $0.field($1, $2) }
        return w.finish()
    }
}

extension AgentState {
    public func jsonBytes() -> [UInt8] {
        var w = JSONWriter()
        w.field("v", v)
        w.field("agent", agent)
        w.field("online", online)
        w.field("time", ifPresent: time) { $0.field($1, $2) }
        w.field("gps", ifPresent: gps) { $0.field($1, $2) }
        w.field("mode", ifPresent: mode) { $0.field($1, $2) }
        w.field("outboxDepth", ifPresent: outboxDepth) { $0.field($1, $2) }
        w.field("oldestUnsentAge", ifPresent: oldestUnsentAge) { $0.field($1, $2) }
        w.field("lastSeq", ifPresent: lastSeq) { $0.field($1, $2) }
        w.field("thinned", ifPresent: thinned) { $0.field($1, $2) }
        return w.finish()
    }
}

extension TaskSyncRequest {
    /// The payload bytes (same fields as `Encodable`): the agent sends one on every (re)connect and on each retry,
    /// so it stays off Foundation's `JSONEncoder` like the other agent payloads.
    public func jsonBytes() -> [UInt8] {
        var w = JSONWriter(capacity: 48 + agent.utf8.count + id.utf8.count)
        w.field("v", v)
        w.field("agent", agent)
        w.field("id", id)
        return w.finish()
    }
}

extension AckMessage {
    /// The payload bytes (same fields as `Encodable`): the hub writes one ack per agent per group commit.
    public func jsonBytes() -> [UInt8] {
        var raw: [UInt8] = [UInt8(ascii: "[")]
        raw.reserveCapacity(2 + seqs.count * 16)
        for (i, pair) in seqs.enumerated() {
            if i > 0 { raw.append(UInt8(ascii: ",")) }
            raw.append(UInt8(ascii: "["))
            for (k, value) in pair.enumerated() {
                if k > 0 { raw.append(UInt8(ascii: ",")) }
                raw.append(contentsOf: String(value).utf8)
            }
            raw.append(UInt8(ascii: "]"))
        }
        raw.append(UInt8(ascii: "]"))
        var w = JSONWriter(capacity: 32 + agent.utf8.count + raw.count)
        w.field("v", v)
        w.field("agent", agent)
        w.field("seqs", raw: raw)
        return w.finish()
    }
}
