import DabbaCore
import DabbaProtocol
import DabbaSQLite
import DabbaTestSupport
import HubSQLite
import Logging

/// SQLite's own batched insert rate, the baseline of the hub's backlog ingest: the hub's schema (a database migrated by
/// opening it as the hub does, the same agents), the hub's pragmas (WAL, `synchronous = NORMAL`, the checkpoint
/// interval, foreign keys) and the hub's `INSERT … ON CONFLICT DO NOTHING` into `positions`, `batch` rows per
/// transaction, rows bound from values prepared before the clock starts — no MQTT, no JSON, no validation, no acks:
/// what the storage alone allows.
enum SQLiteInsertBaseline {
    struct Result {
        var rows: Int
        var seconds: Double
        var rowsPerSecond: Double { Double(rows) / seconds }
    }

    static func run(directory: TestDirectory, agents: Int, perAgent: Int, batch: Int, logger: Logger) async throws
        -> Result
    {
        let path = directory.path("sqlite-baseline.db")
        do {
            let store = try SQLiteHubStore(path: path, logger: logger)
            defer { store.close() }
            for i in 0..<agents { _ = try await store.createAgent(id: BenchAgent.id(i), name: nil) }
        }
        let db = try SQLiteConnection(path: path)
        // `SQLiteHubStore.init`'s pragmas, every one (the checkpoint interval matters most: ~4 MB by default).
        try db.execute("PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL")
        try db.execute("PRAGMA wal_autocheckpoint = 10000; PRAGMA journal_size_limit = 67108864")
        try db.execute("PRAGMA foreign_keys = ON")
        let insert = try db.prepare(
            """
            INSERT INTO positions(agent, seq, time, lat, lon, alt, speed, track, hacc, mode)
            VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(agent, seq) DO NOTHING
            """)
        // The rows of the benchmark's backlog messages, in the order they are published: a transaction is one
        // message (`batch` consecutive fixes of one agent), the agents' messages interleaved.
        let start = wallClockMilliseconds() - Int64(perAgent) * 1000
        var rows: [[SQLiteValue]] = []
        rows.reserveCapacity(agents * perAgent)
        for first in stride(from: 1, through: perAgent, by: batch) {
            for agent in 0..<agents {
                for seq in first..<min(perAgent + 1, first + batch) {
                    rows.append([
                        .text(BenchAgent.id(agent)), .integer(Int64(seq)), .integer(start + Int64(seq) * 1000),
                        .real(22.3149 + Double(seq) * 1e-6), .real(87.3105 - Double(agent) * 1e-4), .real(31.5),
                        .real(7.25), .real(181.5), .real(3.2), .integer(3),
                    ])
                }
            }
        }
        let clock = ContinuousClock()
        let t0 = clock.now
        for first in stride(from: 0, to: rows.count, by: batch) {
            try db.transaction { () throws(SQLiteError) in
                for row in rows[first..<min(rows.count, first + batch)] { try insert.run(row) }
            }
        }
        let seconds = (clock.now - t0).seconds
        let stored = try db.scalarInt("SELECT count(*) FROM positions") ?? 0
        guard stored == Int64(rows.count) else {
            throw BenchError("SQLite baseline: \(stored) rows stored of \(rows.count)")
        }
        return Result(rows: rows.count, seconds: seconds)
    }
}
