import DabbaSQLite
import DabbaTestSupport
import Foundation
import HubModel
import Logging
import Testing

@testable import HubSQLite

/// The SQLite store's own life cycle: migrations from a fresh file and from an older schema, and opening the files a
/// killed hub left behind. (Kill -9 of a whole hub: `PaymentCrashTests` and the ingest tests in `DabbaHubTests`.)
@Suite struct SQLiteHubStoreRecoveryTests {
    static var quiet: Logger {
        var logger = Logger(label: "hub-sqlite")
        logger.logLevel = .critical
        return logger
    }

    static func open(_ path: String) async throws -> SQLiteHubStore {
        try await offPool { try SQLiteHubStore(path: path, logger: quiet) }
    }

    static var latest: Int { HubMigrations.all.map(\.version).max() ?? 0 }

    static func integrity(_ path: String) throws -> String? {
        let db = try SQLiteConnection(path: path, readOnly: true)
        let s = try db.prepare("PRAGMA integrity_check")
        defer { s.reset() }
        return try s.step() ? s.text(0) : nil
    }

    static func fixes(_ agent: String, count: Int) -> [StoredPosition] {
        (1...count).map {
            StoredPosition(
                agent: agent, seq: Int64($0), time: 1_795_082_400_000 + Int64($0) * 1000, lat: 12.9 + Double($0) / 1e4,
                lon: 77.6)
        }
    }

    @Test func aFreshFileReachesTheLatestVersionAndReopeningChangesNothing() async throws {
        let directory = try TestDirectory("hub-sqlite-fresh")
        defer { directory.remove() }
        let path = directory.path("hub.db")
        let store = try await Self.open(path)
        #expect(try await store.schemaVersion() == Self.latest)
        _ = try await store.createAgent(id: "a-1", name: "Ravi")
        _ = try await store.store(positions: Self.fixes("a-1", count: 5), events: [])
        store.close()

        let again = try await Self.open(path)
        defer { again.close() }
        #expect(try await again.schemaVersion() == Self.latest)
        #expect(try await again.agent(id: "a-1")?.name == "Ravi")
        #expect(try await again.positions(agent: "a-1", since: nil, until: nil, after: nil, limit: 10).count == 5)
        let recorded = try await offPool {
            try SQLiteConnection(path: path, readOnly: true).scalarInt("SELECT count(*) FROM schema_migrations")
        }
        #expect(recorded == Int64(HubMigrations.all.count), "each migration recorded once, none applied twice")
    }

    /// A database from before `schema_migrations` (its version only in `user_version`), with the first schema and
    /// rows in it: opening it applies the later migrations and keeps the rows.
    @Test func anOlderDatabaseIsUpgradedInPlaceKeepingItsRows() async throws {
        let directory = try TestDirectory("hub-sqlite-upgrade")
        defer { directory.remove() }
        let path = directory.path("hub.db")
        let firstVersion = HubMigrations.first.map(\.version).max() ?? 0
        #expect(firstVersion < Self.latest)
        try await offPool {
            let db = try SQLiteConnection(path: path)
            try db.execute("PRAGMA foreign_keys = ON")
            for migration in HubMigrations.first { try db.execute(migration.sql) }
            try db.execute("PRAGMA user_version = \(firstVersion)")
            try db.execute("INSERT INTO agents(id, name, created) VALUES('a-old', 'From before', 1795082400000)")
        }
        let store = try await Self.open(path)
        defer { store.close() }
        #expect(try await store.schemaVersion() == Self.latest)
        #expect(try await store.agent(id: "a-old")?.name == "From before")
        // The upgraded schema works: a later migration's columns and tables are written and read.
        _ = try await store.store(positions: Self.fixes("a-old", count: 3), events: [])
        #expect(try await store.agent(id: "a-old")?.last?.seq == 3)
        #expect(try Self.integrity(path) == "ok")
    }

    /// Migration 22 keeps an agent's latest position in its row: a database from before it has the position only in
    /// `positions` (at `last_seq`); opening it fills the row from there — the `last_seq` fix, not the newest seq —
    /// and an agent whose `last_seq` row is missing reads as having no position, as the join read it. Ingest then
    /// keeps the row's position with the newest fix.
    @Test func upgradingCopiesEachAgentsLatestPositionIntoItsRow() async throws {
        let directory = try TestDirectory("hub-sqlite-latest")
        defer { directory.remove() }
        let path = directory.path("hub.db")
        try await offPool {
            let db = try SQLiteConnection(path: path)
            try db.execute("PRAGMA foreign_keys = ON")
            for migration in HubMigrations.all.sorted(by: { $0.version < $1.version }) where migration.version < 22 {
                try db.execute(migration.sql)
            }
            try db.execute("PRAGMA user_version = 21")
            try db.execute(
                """
                INSERT INTO agents(id, name, created, last_seq, last_time) VALUES
                    ('a-1', 'Ravi', 1795082400000, 7, 1795082407000),
                    ('a-2', 'Gone', 1795082400000, 9, 1795082409000),
                    ('a-3', 'New', 1795082400000, NULL, NULL);
                INSERT INTO positions(agent, seq, time, lat, lon, alt, speed, track, hacc, mode) VALUES
                    ('a-1', 7, 1795082407000, 12.97, 77.59, 910.5, 4.25, 181.0, 6.5, 3),
                    ('a-1', 8, 1795082400500, 12.5, 77.5, NULL, NULL, NULL, NULL, NULL),
                    ('a-2', 8, 1795082408000, 13.0, 77.0, NULL, NULL, NULL, NULL, NULL);
                """)
        }
        let store = try await Self.open(path)
        defer { store.close() }
        #expect(try await store.schemaVersion() == Self.latest)
        let moved = try #require(try await store.agent(id: "a-1")?.last)
        #expect(
            moved
                == StoredPosition(
                    agent: "a-1", seq: 7, time: 1_795_082_407_000, lat: 12.97, lon: 77.59, alt: 910.5, speed: 4.25,
                    track: 181.0, hacc: 6.5, mode: 3))
        #expect(try await store.agent(id: "a-2")?.last == nil, "its last_seq row is missing")
        #expect(try await store.agent(id: "a-3")?.last == nil)
        #expect(try await store.dispatchAgents().first { $0.agent.id == "a-1" }?.agent.last == moved)
        // Ingest moves the row's position forward with the newest fix only.
        let newer = StoredPosition(
            agent: "a-1", seq: 10, time: 1_795_082_410_000, lat: 12.98, lon: 77.6, speed: 3.5, mode: 2)
        let older = StoredPosition(agent: "a-1", seq: 11, time: 1_795_082_401_000, lat: 1, lon: 1)
        _ = try await store.store(positions: [newer, older], events: [])
        #expect(try await store.agent(id: "a-1")?.last == newer)
        #expect(try Self.integrity(path) == "ok")
    }

    /// What a hub killed with SIGKILL leaves: the database file and a WAL holding commits not yet checkpointed
    /// (copied while the store is open, which is the on-disk state at that instant). Opening the copy recovers every
    /// commit and the file is intact.
    @Test func theFilesOfAKilledHubOpenWithEveryCommitAndIntact() async throws {
        let directory = try TestDirectory("hub-sqlite-crash")
        defer { directory.remove() }
        let path = directory.path("hub.db")
        let store = try await Self.open(path)
        _ = try await store.createAgent(id: "a-1", name: nil)
        for batch in 0..<10 {
            let rows = Self.fixes("a-1", count: 100).map {
                StoredPosition(
                    agent: "a-1", seq: $0.seq + Int64(batch * 100), time: $0.time + Int64(batch * 100_000),
                    lat: $0.lat, lon: $0.lon)
            }
            _ = try await store.store(positions: rows, events: [])
        }
        let crashed = directory.path("crashed.db")
        let manager = FileManager.default
        #expect(manager.fileExists(atPath: path + "-wal"), "commits still in the WAL: the image is a crash's")
        try manager.copyItem(atPath: path, toPath: crashed)
        try manager.copyItem(atPath: path + "-wal", toPath: crashed + "-wal")
        store.close()

        let recovered = try await Self.open(crashed)
        defer { recovered.close() }
        var seen = 0
        var cursor: (time: Int64, seq: Int64)?
        for _ in 0..<20 {
            let page = try await recovered.positions(agent: "a-1", since: nil, until: nil, after: cursor, limit: 200)
            seen += page.count
            guard let last = page.last else { break }
            cursor = (last.time, last.seq)
        }
        #expect(seen == 1_000)
        #expect(try await recovered.agent(id: "a-1")?.last?.seq == 1_000)
        #expect(try Self.integrity(crashed) == "ok")
    }
}
