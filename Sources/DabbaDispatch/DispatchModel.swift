/// A point on the earth, degrees WGS84 (north and east positive).
public struct GeoCoordinate: Sendable, Hashable, Codable {
    public var lat: Double
    public var lon: Double

    public init(lat: Double, lon: Double) {
        self.lat = lat
        self.lon = lon
    }
}

/// An agent that may receive orders in a dispatch round.
public struct DispatchAgent: Sendable, Equatable {
    public var id: String
    public var position: GeoCoordinate
    /// When its last delivery finished (ms since 1970); nil = never delivered.
    public var lastDeliveryAt: Int64?
    /// When its current shift started (ms); nil = unknown.
    public var shiftStartedAt: Int64?
    /// When an offer it had (the device received it) last lapsed unanswered (ms); nil = never.
    public var lastLapseAt: Int64?
    /// Orders it carries now and how many it may carry (capacity > 1 stacks only orders from the same restaurant).
    public var load: Int
    public var capacity: Int
    /// The restaurant of the orders it carries (for stacking), nil when empty.
    public var carryingFrom: String?
    /// Zones it works in; nil = any.
    public var zones: Set<String>?
    /// Recent speed m/s (nil: use the policy's default).
    public var speed: Double?

    public init(
        id: String, position: GeoCoordinate, lastDeliveryAt: Int64? = nil, load: Int = 0, capacity: Int = 1,
        carryingFrom: String? = nil, zones: Set<String>? = nil, speed: Double? = nil, shiftStartedAt: Int64? = nil,
        lastLapseAt: Int64? = nil
    ) {
        self.id = id
        self.position = position
        self.lastDeliveryAt = lastDeliveryAt
        self.shiftStartedAt = shiftStartedAt
        self.lastLapseAt = lastLapseAt
        self.load = load
        self.capacity = capacity
        self.carryingFrom = carryingFrom
        self.zones = zones
        self.speed = speed
    }
}

/// An order waiting for an agent.
public struct DispatchOrder: Sendable, Equatable {
    public var id: String
    public var restaurantID: String
    public var pickup: GeoCoordinate
    public var zoneID: String?
    /// When it was placed / entered the queue (ms) — first come first served, waiting penalty.
    public var placedAt: Int64
    /// When the food will be ready (ms).
    public var readyAt: Int64
    /// Agents that rejected it or let an offer lapse: never offered again.
    public var excludedAgents: Set<String>

    public init(
        id: String, restaurantID: String, pickup: GeoCoordinate, zoneID: String? = nil, placedAt: Int64,
        readyAt: Int64, excludedAgents: Set<String> = []
    ) {
        self.id = id
        self.restaurantID = restaurantID
        self.pickup = pickup
        self.zoneID = zoneID
        self.placedAt = placedAt
        self.readyAt = readyAt
        self.excludedAgents = excludedAgents
    }
}

/// One feasible agent for an order with the cost the policy gave it (lower is better).
public struct DispatchCandidate: Sendable, Equatable, Codable {
    public var agent: String
    public var cost: Double
    public var etaSeconds: Double

    public init(agent: String, cost: Double, etaSeconds: Double) {
        self.agent = agent
        self.cost = cost
        self.etaSeconds = etaSeconds
    }
}

/// What a policy decided for one order.
public struct DispatchDecision: Sendable, Equatable, Codable {
    public var order: String
    /// nil: stays queued.
    public var agent: String?
    public var policy: String
    /// The best few feasible candidates with their costs, best first (for operators: "why").
    public var candidates: [DispatchCandidate]

    public init(order: String, agent: String?, policy: String, candidates: [DispatchCandidate]) {
        self.order = order
        self.agent = agent
        self.policy = policy
        self.candidates = candidates
    }
}

/// A dispatch rule: which available agent gets which waiting order.
public protocol DispatchPolicy: Sendable {
    var name: String { get }
    /// Deterministic for a given input (ties broken by id). Each agent gets at most (capacity - load) orders.
    func assign(orders: [DispatchOrder], agents: [DispatchAgent], now: Int64) -> [DispatchDecision]
}

extension DispatchAgent {
    /// Since when it has waited in least-recent's line: the latest of its last delivery, its shift start and its
    /// last lapse (nil when none is known: it waits since before anyone).
    public var waitingSince: Int64? {
        // Without an array: least-recent reads this for every agent in each round.
        var latest = lastDeliveryAt
        if let started = shiftStartedAt, latest.map({ started > $0 }) ?? true { latest = started }
        if let lapsed = lastLapseAt, latest.map({ lapsed > $0 }) ?? true { latest = lapsed }
        return latest
    }

    /// Free slots: how many more orders it may take.
    public var freeSlots: Int { max(0, capacity - load) }

    /// Whether it may take `order` on top of what it carries: a free slot, the order's zone, not excluded by the
    /// order, and (when it already carries orders) the same restaurant.
    public func canTake(_ order: DispatchOrder) -> Bool {
        guard load < capacity, !order.excludedAgents.contains(id) else { return false }
        if load > 0, carryingFrom != order.restaurantID { return false }
        if let zones, let zone = order.zoneID, !zones.contains(zone) { return false }
        return true
    }
}
