import DabbaProtocol
import HubModel
import Hummingbird

/// A position as the REST API writes it (`time` in ISO 8601 UTC).
struct PositionView: Codable, Equatable {
    var seq: Int64
    var time: String
    var lat: Double
    var lon: Double
    var alt: Double?
    var speed: Double?
    var track: Double?
    var hacc: Double?
    var mode: Int?

    init(_ p: StoredPosition) {
        seq = p.seq
        time = Timestamp.format(milliseconds: p.time)
        lat = p.lat
        lon = p.lon
        alt = p.alt
        speed = p.speed
        track = p.track
        hacc = p.hacc
        mode = p.mode
    }
}

/// An agent for operators: profile, online state, last fix and the outbox figures from its last state message, its
/// shift, the orders it carries and the cash it holds against `cod-cash-limit`.
struct AgentView: ResponseEncodable, Equatable {
    /// Cash held in one currency (the ledger balance of `agent:{id}:cash`), in minor units.
    struct Cash: Encodable, Equatable {
        var currency: String
        var held: Int64
    }

    var id: String
    var name: String?
    var createdAt: String
    var online: Bool
    var gps: String?
    var outboxDepth: Int?
    var oldestUnsentAge: Double?
    var stateAt: String?
    var last: PositionView?
    var onShift: Bool
    var shiftStartedAt: String?
    /// Orders assigned or picked up, oldest first.
    var carrying: [String]
    var cash: [Cash]
    /// `cod-cash-limit`, in minor units of any currency.
    var cashLimit: Int64

    init(_ row: DispatchAgentRow, carrying: [OrderRecord], cash: [LedgerBalance], cashLimit: Int64) {
        let record = row.agent
        id = record.id
        name = record.name
        createdAt = Timestamp.format(milliseconds: record.createdAt)
        online = record.state?.online ?? false
        gps = record.state?.gps
        outboxDepth = record.state?.outboxDepth
        oldestUnsentAge = record.state?.oldestUnsentAge
        stateAt = record.stateAt.map { Timestamp.format(milliseconds: $0) }
        last = record.last.map(PositionView.init)
        onShift = row.onShift
        shiftStartedAt = row.onShift ? row.shiftStartedAt.map { Timestamp.format(milliseconds: $0) } : nil
        self.carrying = carrying.map(\.id)
        self.cash = cash.map { Cash(currency: $0.currency, held: $0.balance) }
        self.cashLimit = cashLimit
    }
}

struct AgentList: ResponseEncodable {
    var agents: [AgentView]
}

/// `/v1/fleet`: every agent's newest position and online flag.
struct FleetView: ResponseEncodable {
    struct Entry: Encodable {
        var id: String
        var online: Bool
        var last: PositionView?
    }
    var agents: [Entry]
}

/// One page of positions; `next` is always present (null on the last page).
struct PositionsPage: ResponseEncodable {
    var positions: [PositionView]
    var next: String?

    enum CodingKeys: String, CodingKey { case positions, next }
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(positions, forKey: .positions)
        try container.encode(next, forKey: .next)
    }
}

/// A GeoJSON Feature whose geometry is the LineString of a track (null geometry with fewer than two points).
struct TrackFeature: ResponseEncodable {
    struct Geometry: Encodable {
        var type = "LineString"
        var coordinates: [[Double]]
    }
    struct Properties: Encodable {
        var agent: String
        var count: Int
        var start: String?
        var end: String?
        var times: [String]
        var truncated: Bool
    }
    var type = "Feature"
    var geometry: Geometry?
    var properties: Properties

    enum CodingKeys: String, CodingKey { case type, geometry, properties }
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(type, forKey: .type)
        try container.encode(geometry, forKey: .geometry)
        try container.encode(properties, forKey: .properties)
    }
}
