#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Protocol version carried as `"v"` in every payload.
public let payloadVersion = 1

/// One position fix (DESIGN.md "Fix").
public struct Fix: Codable, Sendable, Equatable {
    public var v: Int
    public var agent: String
    public var seq: Int64
    /// The fix's time from gpsd, ISO 8601 UTC with milliseconds.
    public var time: String
    public var lat: Double
    public var lon: Double
    public var alt: Double?
    public var speed: Double?
    public var track: Double?
    public var hacc: Double?
    public var mode: Int?

    public init(
        agent: String, seq: Int64, time: String, lat: Double, lon: Double, alt: Double? = nil, speed: Double? = nil,
        track: Double? = nil, hacc: Double? = nil, mode: Int? = nil
    ) {
        self.v = payloadVersion
        self.agent = agent
        self.seq = seq
        self.time = time
        self.lat = lat
        self.lon = lon
        self.alt = alt
        self.speed = speed
        self.track = track
        self.hacc = hacc
        self.mode = mode
    }
}

/// The backfill lane: older fixes, oldest first.
public struct BacklogMessage: Codable, Sendable, Equatable {
    public var v: Int
    public var agent: String
    public var fixes: [Fix]

    public init(v: Int = payloadVersion, agent: String, fixes: [Fix]) {
        self.v = v
        self.agent = agent
        self.fixes = fixes
    }

    /// The message as the agent sends it, `{"v":1,"agent":"…","fixes":[…]}` around fix payloads already encoded (the
    /// outbox's stored bytes), without decoding them. `agent` is a valid agent id (``AgentID``), which JSON never
    /// escapes.
    public static func payload(agent: String, fixPayloads: some Collection<[UInt8]>) -> [UInt8] {
        let head = #"{"v":\#(payloadVersion),"agent":""#.utf8
        let middle = #"","fixes":["#.utf8
        var bytes: [UInt8] = []
        bytes.reserveCapacity(
            head.count + agent.utf8.count + middle.count + fixPayloads.reduce(0) { $0 + $1.count + 1 } + 2)
        bytes += head
        bytes += agent.utf8
        bytes += middle
        var first = true
        for fix in fixPayloads {
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
            bytes += fix
        }
        bytes += "]}".utf8
        return bytes
    }
}

/// An agent action on an order (accepted, rejected, picked_up, delivered), or the agent starting or ending its
/// shift from the device (shift_started, shift_ended; `order` is empty for those).
public struct AgentEvent: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable {
        case accepted, rejected
        case pickedUp = "picked_up"
        case delivered
        case shiftStarted = "shift_started"
        case shiftEnded = "shift_ended"

        /// Shift events concern the agent, not an order.
        public var isShift: Bool { self == .shiftStarted || self == .shiftEnded }
    }
    public var v: Int
    public var agent: String
    public var seq: Int64
    public var time: String
    public var order: String
    public var type: Kind
    /// Cash collected on delivery, in minor units (cash-on-delivery orders).
    public var cashCollected: Int64?
    public var reason: String?

    public init(
        agent: String, seq: Int64, time: String, order: String, type: Kind, cashCollected: Int64? = nil,
        reason: String? = nil
    ) {
        self.v = payloadVersion
        self.agent = agent
        self.seq = seq
        self.time = time
        self.order = order
        self.type = type
        self.cashCollected = cashCollected
        self.reason = reason
    }
}

/// Retained agent state, also the Last Will (with `online: false`).
public struct AgentState: Codable, Sendable, Equatable {
    public var v: Int
    public var agent: String
    public var online: Bool
    public var time: String?
    /// "fix", "no_fix" or "gpsd_down".
    public var gps: String?
    public var mode: Int?
    public var outboxDepth: Int?
    /// Age in seconds of the oldest fix or event not yet acknowledged by the hub.
    public var oldestUnsentAge: Double?
    public var lastSeq: Int64?
    public var thinned: Int64?

    public init(
        agent: String, online: Bool, time: String? = nil, gps: String? = nil, mode: Int? = nil,
        outboxDepth: Int? = nil, oldestUnsentAge: Double? = nil, lastSeq: Int64? = nil, thinned: Int64? = nil
    ) {
        self.v = payloadVersion
        self.agent = agent
        self.online = online
        self.time = time
        self.gps = gps
        self.mode = mode
        self.outboxDepth = outboxDepth
        self.oldestUnsentAge = oldestUnsentAge
        self.lastSeq = lastSeq
        self.thinned = thinned
    }
}

/// hub → agent: the seqs the hub has durably committed, as inclusive ranges `[[first, last], …]`.
///
/// `{"v":1,"agent":"a-17","seqs":[[1,100],[105,105]]}`. The agent deletes exactly these rows from its outbox.
public struct AckMessage: Codable, Sendable, Equatable {
    public var v: Int
    public var agent: String
    public var seqs: [[Int64]]

    public init(agent: String, ranges: [ClosedRange<Int64>]) {
        self.v = payloadVersion
        self.agent = agent
        self.seqs = ranges.map { [$0.lowerBound, $0.upperBound] }
    }

    /// At most this many ranges in one ack.
    public static let maxRanges = 10_000

    /// The ranges, validated: each a pair with first ≤ last and first ≥ 1.
    public func ranges() throws(PayloadError) -> [ClosedRange<Int64>] {
        guard v == payloadVersion else { throw PayloadError(.unsupportedVersion, "unsupported version \(v)") }
        guard seqs.count <= Self.maxRanges else { throw PayloadError(.tooLarge, "more than \(Self.maxRanges) ranges") }
        return try seqs.map { pair throws(PayloadError) in
            guard pair.count == 2, pair[0] >= 1, pair[0] <= pair[1] else {
                throw PayloadError(.invalidField, "seqs must be [first,last] pairs with 1 <= first <= last")
            }
            return pair[0]...pair[1]
        }
    }

    /// Compresses a set of seqs into sorted inclusive ranges.
    public static func ranges(of seqs: some Sequence<Int64>) -> [ClosedRange<Int64>] {
        var result: [ClosedRange<Int64>] = []
        for s in seqs.sorted() {
            // Checked: a seq may be Int64.max (any device can send one), and `upperBound + 1` would trap.
            let (next, overflow) = result.last?.upperBound.addingReportingOverflow(1) ?? (0, false)
            if let last = result.last, overflow || s <= next {
                if s > last.upperBound { result[result.count - 1] = last.lowerBound...s }
            } else {
                result.append(s...s)
            }
        }
        return result
    }
}

/// hub → agent on `…/tasks`: an offer, an assignment or a cancellation of one order for this agent.
///
/// `{"v":1,"agent":"a-17","order":"o-9","type":"assigned","pickup":{…},"dropoff":{…},"cashToCollect":25000,"currency":"INR"}`
public struct TaskMessage: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable { case offer, assigned, cancelled }
    public struct Place: Codable, Sendable, Equatable {
        public var name: String?
        public var address: String?
        public var lat: Double?
        public var lon: Double?

        public init(name: String? = nil, address: String? = nil, lat: Double? = nil, lon: Double? = nil) {
            self.name = name
            self.address = address
            self.lat = lat
            self.lon = lon
        }
    }
    public var v: Int
    public var agent: String
    public var order: String
    public var type: Kind
    public var pickup: Place?
    public var dropoff: Place?
    public var cashToCollect: Int64?
    public var currency: String?
    /// For offers: when the offer lapses (ISO 8601).
    public var expiresAt: String?

    public init(
        v: Int = payloadVersion, agent: String, order: String, type: Kind, pickup: Place? = nil, dropoff: Place? = nil,
        cashToCollect: Int64? = nil, currency: String? = nil, expiresAt: String? = nil
    ) {
        self.v = v
        self.agent = agent
        self.order = order
        self.type = type
        self.pickup = pickup
        self.dropoff = dropoff
        self.cashToCollect = cashToCollect
        self.currency = currency
        self.expiresAt = expiresAt
    }
}

/// Why a payload was refused; `code` is what metrics count by.
public struct PayloadError: CodedError {
    public typealias Code = ErrorCode<PayloadError>
    public var code: Code
    public var message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}

extension ErrorCode<PayloadError> {
    public static var notJSON: Self { "not_json" }
    public static var invalidField: Self { "invalid_field" }
    public static var unsupportedVersion: Self { "unsupported_version" }
    public static var tooLarge: Self { "too_large" }
    public static var agentMismatch: Self { "agent_mismatch" }
}

/// JSON coding shared by agent and hub.
public enum PayloadCoding {
    /// `decode` with a fast path first: `fast` reads the plain form the hub and agents write, or returns nil to hand
    /// the bytes to `JSONDecoder` (which then decides every rejection); the size limit holds for both.
    static func decode<T: Decodable>(
        _ type: T.Type, from bytes: [UInt8], maxBytes: Int, fast: ([UInt8]) -> T?
    ) throws(PayloadError) -> T {
        guard bytes.count <= maxBytes else { throw PayloadError(.tooLarge, "payload of \(bytes.count) bytes") }
        if let value = fast(bytes) { return value }
        return try decode(type, from: bytes, maxBytes: maxBytes)
    }

    /// Decodes `T` from `bytes`, mapping every failure to a `PayloadError` with a short reason.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8], maxBytes: Int = 1 << 20)
        throws(PayloadError) -> T
    {
        guard bytes.count <= maxBytes else { throw PayloadError(.tooLarge, "payload of \(bytes.count) bytes") }
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch let error as DecodingError {
            switch error {
            case .dataCorrupted(let ctx) where ctx.codingPath.isEmpty:
                throw PayloadError(.notJSON, "not a JSON object")
            case .keyNotFound(let key, _):
                throw PayloadError(.invalidField, "missing field \(key.stringValue)")
            case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx), .dataCorrupted(let ctx):
                let path = ctx.codingPath.map(\.stringValue).joined(separator: ".")
                throw PayloadError(.invalidField, "wrong type or value at \(path.isEmpty ? "top level" : path)")
            @unknown default:
                throw PayloadError(.invalidField, "undecodable")
            }
        } catch {
            throw PayloadError(.notJSON, "undecodable")
        }
    }

    /// Encodes `value` as compact JSON bytes.
    public static func encode<T: Encodable>(_ value: T) -> [UInt8] {
        // Encoding our own value types cannot fail (no non-finite doubles are produced: callers drop them).
        (try? Array(JSONEncoder().encode(value))) ?? Array("{}".utf8)
    }
}
