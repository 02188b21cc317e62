import DabbaProtocol

/// One stored position (a fix as the hub keeps it). Times are UTC milliseconds.
package struct StoredPosition: Sendable, Equatable, Codable {
    package var agent: String
    package var seq: Int64
    package var time: Int64
    package var lat: Double
    package var lon: Double
    package var alt: Double?
    package var speed: Double?
    package var track: Double?
    package var hacc: Double?
    package var mode: Int?

    package init(fix: Fix, time: Int64) {
        agent = fix.agent
        seq = fix.seq
        self.time = time
        lat = fix.lat
        lon = fix.lon
        alt = fix.alt
        speed = fix.speed
        track = fix.track
        hacc = fix.hacc
        mode = fix.mode
    }

    package init(
        agent: String, seq: Int64, time: Int64, lat: Double, lon: Double, alt: Double? = nil, speed: Double? = nil,
        track: Double? = nil, hacc: Double? = nil, mode: Int? = nil
    ) {
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

/// An agent's action from its device (`…/events`: accepted, picked_up…), as ingest stores it and dispatch applies
/// it, once.
package struct DeviceEvent: Sendable, Equatable {
    package var agent: String
    package var seq: Int64
    package var time: Int64
    package var order: String
    package var type: String
    package var payload: [UInt8]

    package init(agent: String, seq: Int64, time: Int64, order: String, type: String, payload: [UInt8]) {
        self.agent = agent
        self.seq = seq
        self.time = time
        self.order = order
        self.type = type
        self.payload = payload
    }
}

/// An agent as operators see it.
package struct AgentRecord: Sendable, Equatable {
    package var id: String
    package var name: String?
    /// What the agent rides (shown to the customer once assigned), e.g. "scooter KA-01-AB-1234".
    package var vehicle: String?
    package var createdAt: Int64
    /// The last retained state the agent published (online flag, outbox depth, oldest unsent age, gps).
    package var state: AgentState?
    package var stateAt: Int64?
    /// The newest position by fix time (never regresses when older backlog fixes arrive).
    package var last: StoredPosition?

    package init(
        id: String, name: String? = nil, vehicle: String? = nil, createdAt: Int64, state: AgentState? = nil,
        stateAt: Int64? = nil, last: StoredPosition? = nil
    ) {
        self.id = id
        self.name = name
        self.vehicle = vehicle
        self.createdAt = createdAt
        self.state = state
        self.stateAt = stateAt
        self.last = last
    }
}

/// Agents and their state.
package protocol AgentRepository: Sendable {
    /// Creates an agent; `conflict` when the id exists.
    func createAgent(id: String, name: String?) async throws(StoreError) -> AgentRecord
    func agent(id: String) async throws(StoreError) -> AgentRecord?
    func agents() async throws(StoreError) -> [AgentRecord]
    /// Sets an agent's display name and vehicle (nil leaves a value as it is); `notFound` for an unknown id.
    func updateAgentProfile(id: String, name: String?, vehicle: String?) async throws(StoreError)
    /// Stores the newest retained state of an agent.
    func updateState(_ state: AgentState, at: Int64) async throws(StoreError)
}

/// Positions and events, stored idempotently on `(agent, seq)`.
package protocol PositionRepository: Sendable {
    /// Commits `positions` and `events` in one transaction; rows already stored are left as they are. A row whose
    /// seq is stored with a different payload is kept in `seq_conflicts` in the same transaction (an identical
    /// redelivery is not). Returns, per agent, every seq of the batch now durably accounted for (for the ack) and
    /// the conflicts this commit recorded.
    func store(positions: [StoredPosition], events: [DeviceEvent]) async throws(StoreError) -> StoreReceipt
    /// Conflicts recorded for `agent`, oldest first, at most `limit`, after the conflict id `after`.
    func seqConflicts(agent: String, after: Int64?, limit: Int) async throws(StoreError) -> [SeqConflict]
    /// Positions of `agent` with `since <= time < until`, oldest first, at most `limit`, after the cursor
    /// `(time, seq)` of the previous page.
    func positions(agent: String, since: Int64?, until: Int64?, after: (time: Int64, seq: Int64)?, limit: Int)
        async throws(StoreError) -> [StoredPosition]
    /// Deletes positions with fix time before `time`; returns how many went.
    func prunePositions(before time: Int64, limit: Int) async throws(StoreError) -> Int
    /// Count of stored positions of `agent` (operators' and tests' sanity checks).
    func positionCount(agent: String) async throws(StoreError) -> Int
}
