import DabbaCore
import DabbaProtocol
import HubModel
import PostgresNIO

extension PostgresHubStore: AgentRepository {
    /// One `INSERT` (its own transaction): the primary key makes a second agent with the id a `conflict`, whichever
    /// hub tries.
    package func createAgent(id: String, name: String?) async throws(StoreError) -> AgentRecord {
        let now = wallClockMilliseconds()
        try await run { connection in
            try await connection.query(
                "INSERT INTO agents(id, name, created) VALUES(\(id), \(name), \(now))", logger: logger)
        }
        return AgentRecord(id: id, name: name, createdAt: now)
    }

    /// One `SELECT`: the agent and its latest position, from one snapshot.
    package func agent(id: String) async throws(StoreError) -> AgentRecord? {
        try await run { connection in
            let rows = try await connection.rows(
                "\(unescaped: Self.agentSelect) WHERE a.id = \(id)", logger)
            return try rows.first.map { try self.agentRow($0) }
        }
    }

    /// One `SELECT`, ordered by id.
    package func agents() async throws(StoreError) -> [AgentRecord] {
        try await run { connection in
            let rows = try await connection.rows(PostgresQuery(unsafeSQL: Self.agentSelect + " ORDER BY a.id"), logger)
            return try rows.map { try self.agentRow($0) }
        }
    }

    /// One `UPDATE … RETURNING` (READ COMMITTED suffices: `coalesce` keeps a value from the row version the update
    /// locked, so a concurrent change of the other field is not lost).
    package func updateAgentProfile(id: String, name: String?, vehicle: String?) async throws(StoreError) {
        let changed = try await run { connection in
            try await connection.rows(
                """
                UPDATE agents SET name = coalesce(\(name), name), vehicle = coalesce(\(vehicle), vehicle)
                WHERE id = \(id) RETURNING 1
                """, logger
            ).count
        }
        if changed == 0 { throw StoreError(.notFound, "no agent \(id)") }
    }

    /// One `UPDATE`: the newest retained state replaces the stored one (the last write wins, as in SQLite).
    package func updateState(_ state: AgentState, at time: Int64) async throws(StoreError) {
        let encoded = Bytea.bind(PayloadCoding.encode(state))
        try await run { connection in
            try await connection.query(
                "UPDATE agents SET state = \(encoded), state_at = \(time) WHERE id = \(state.agent)", logger: logger)
        }
    }

    static let agentSelect = """
        SELECT a.id, a.name, a.created, a.state, a.state_at,
               p.seq, p.time, p.lat, p.lon, p.alt, p.speed, p.track, p.hacc, p.mode, a.vehicle
        FROM agents a LEFT JOIN positions p ON p.agent = a.id AND p.seq = a.last_seq
        """

    /// The columns of ``agentSelect`` as a record. A stored state that no longer decodes is left out (and logged),
    /// as the SQLite store does: the next retained state replaces it.
    func agentRow(_ row: PostgresRow) throws -> AgentRecord {
        let (id, name, created, state, stateAt, seq, time, lat, lon, alt, speed, track, hacc, mode, vehicle) =
            try row.decode(
                (
                    String, String?, Int64, ByteBuffer?, Int64?, Int64?, Int64?, Double?, Double?, Double?, Double?,
                    Double?, Double?, Int?, String?
                ).self)
        var record = AgentRecord(id: id, name: name, vehicle: vehicle, createdAt: created, stateAt: stateAt)
        if let state {
            do throws(PayloadError) {
                record.state = try states.state(agent: record.id, bytes: Bytea.read(state))
            } catch {
                logger.warning("Stored agent state does not decode", metadata: ["agent": "\(id)"])
            }
        }
        if let seq, let time, let lat, let lon {
            record.last = StoredPosition(
                agent: id, seq: seq, time: time, lat: lat, lon: lon, alt: alt, speed: speed, track: track, hacc: hacc,
                mode: mode)
        }
        return record
    }
}
