import DabbaCore
import DabbaProtocol
import DabbaSQLite
import HubModel
import Logging

/// The embedded store: one SQLite file in WAL mode, confined to a dedicated thread (blocking commits never run on
/// Swift's cooperative pool).
package actor SQLiteHubStore: HubStore {
    private let executor: ThreadExecutor
    package nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
    let db: SQLiteConnection
    let logger: Logger
    /// Agents' states as last decoded (dispatch reads them all every round).
    let states = AgentStateMemo()
    /// How deep `run` calls are nested; the outermost one ends the connection's reads when it returns.
    private var runDepth = 0

    /// Opens (creating) the database at `path` and applies pending migrations.
    package init(path: String, logger: Logger) throws(StoreError) {
        executor = ThreadExecutor(name: "dabba-hub-db")
        self.logger = logger
        do {
            db = try SQLiteConnection(path: path)
            try db.execute("PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL")
            // Checkpoint every ~40 MB of WAL instead of every 4 MB: a checkpoint copies each page once however often
            // group commits rewrote it and syncs the database file, so ingest's many small commits of the same hot
            // index pages cost far less. Durability is unchanged (a commit is durable once in the WAL, as before);
            // the WAL file is truncated back to 64 MB at most after a checkpoint.
            try db.execute("PRAGMA wal_autocheckpoint = 10000; PRAGMA journal_size_limit = 67108864")
            try db.execute("PRAGMA foreign_keys = ON")
            try HubMigrations.apply(to: db, logger: logger)
        } catch {
            throw StoreError(error)
        }
    }

    /// The schema version after migrations.
    package func schemaVersion() throws(StoreError) -> Int {
        do { return Int(try db.scalarInt("PRAGMA user_version") ?? 0) } catch { throw StoreError(error) }
    }

    /// Stops the store's thread (after the last use).
    package nonisolated func close() { executor.shutdown() }

    /// Runs one store operation on the connection, converting SQLite's errors once. When the outermost operation
    /// returns, statements left on a row are reset (`finishReads`): another connection to the same file (another
    /// hub, `dabba-hub` admin commands) may write, and this one must neither read an old snapshot nor fail its
    /// next write with `SQLITE_BUSY_SNAPSHOT`.
    func run<T>(_ body: () throws(SQLiteError) -> T) throws(StoreError) -> T {
        runDepth += 1
        defer {
            runDepth -= 1
            if runDepth == 0 { db.finishReads() }
        }
        do { return try body() } catch { throw StoreError(error) }
    }
}

extension StoreError {
    /// The one place SQLite errors become store errors.
    init(_ error: SQLiteError) {
        switch error.code {
        case .constraint: self.init(.conflict, error.message)
        case .busy: self.init(.unavailable, error.message)
        case .corrupt, .notADatabase: self.init(.corrupt, error.message)
        case .full: self.init(.full, error.message)
        default: self.init(.other, error.description)
        }
    }
}

extension SQLiteHubStore {
    package func createAgent(id: String, name: String?) throws(StoreError) -> AgentRecord {
        let now = wallClockMilliseconds()
        try run { () throws(SQLiteError) in
            try db.prepare("INSERT INTO agents(id, name, created) VALUES(?, ?, ?)")
                .run([.text(id), name.map { .text($0) } ?? .null, .integer(now)])
        }
        return AgentRecord(id: id, name: name, createdAt: now)
    }

    package func agent(id: String) throws(StoreError) -> AgentRecord? {
        try run { () throws(SQLiteError) in
            let s = try db.prepare(Self.agentSelect + " WHERE a.id = ?")
            try s.bind([.text(id)])
            return try s.step() ? agentRow(s) : nil
        }
    }

    package func agents() throws(StoreError) -> [AgentRecord] {
        try run { () throws(SQLiteError) in
            let s = try db.prepare(Self.agentSelect + " ORDER BY a.id")
            var result: [AgentRecord] = []
            while try s.step() { result.append(agentRow(s)) }
            return result
        }
    }

    package func updateAgentProfile(id: String, name: String?, vehicle: String?) throws(StoreError) {
        let changed = try run { () throws(SQLiteError) -> Int in
            try db.prepare("UPDATE agents SET name = coalesce(?, name), vehicle = coalesce(?, vehicle) WHERE id = ?")
                .run([name.map { .text($0) } ?? .null, vehicle.map { .text($0) } ?? .null, .text(id)])
            return db.changes
        }
        if changed == 0 { throw StoreError(.notFound, "no agent \(id)") }
    }

    package func updateState(_ state: AgentState, at time: Int64) throws(StoreError) {
        try run { () throws(SQLiteError) in
            try db.prepare("UPDATE agents SET state = ?, state_at = ? WHERE id = ?")
                .run([.blob(PayloadCoding.encode(state)), .integer(time), .text(state.agent)])
        }
    }

    /// The agent with its last position: the columns ``agentRow(_:)`` reads (0–14) and the table. The latest
    /// position is kept in the agent's row (migration 22), not looked up in `positions`.
    static let agentColumns = """
        a.id, a.name, a.created, a.state, a.state_at,
        a.last_seq, a.last_time, a.last_lat, a.last_lon, a.last_alt, a.last_speed, a.last_track, a.last_hacc,
        a.last_mode, a.vehicle
        """
    static let agentTables = "FROM agents a"
    static let agentSelect = "SELECT \(agentColumns) \(agentTables)"

    func agentRow(_ s: SQLiteStatement) -> AgentRecord {
        let id = s.text(0) ?? ""
        var record = AgentRecord(id: id, name: s.text(1), createdAt: s.int64(2))
        if !s.isNull(3) { record.state = try? states.state(agent: id, bytes: s.bytes(3)) }
        record.stateAt = s.isNull(4) ? nil : s.int64(4)
        record.vehicle = s.text(14)
        if !s.isNull(5), !s.isNull(6), !s.isNull(7), !s.isNull(8) {
            record.last = StoredPosition(
                agent: id, seq: s.int64(5), time: s.int64(6), lat: s.double(7), lon: s.double(8),
                alt: s.isNull(9) ? nil : s.double(9), speed: s.isNull(10) ? nil : s.double(10),
                track: s.isNull(11) ? nil : s.double(11), hacc: s.isNull(12) ? nil : s.double(12),
                mode: s.isNull(13) ? nil : Int(s.int64(13)))
        }
        return record
    }
}
