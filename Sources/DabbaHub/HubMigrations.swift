import DabbaSQLite
import Logging

/// Versioned schema migrations, applied in order at start (and by `dabba-hub migrate`); `PRAGMA user_version` holds
/// the version reached. A migration is never edited once released: add a new one.
enum HubMigrations {
    static let all: [(version: Int, name: String, sql: String)] = [
        (
            1, "agents, positions, events",
            """
            CREATE TABLE agents(
                id TEXT PRIMARY KEY,
                name TEXT,
                created INTEGER NOT NULL,
                state BLOB,
                state_at INTEGER,
                last_seq INTEGER,
                last_time INTEGER);
            CREATE TABLE positions(
                agent TEXT NOT NULL REFERENCES agents(id),
                seq INTEGER NOT NULL,
                time INTEGER NOT NULL,
                lat REAL NOT NULL,
                lon REAL NOT NULL,
                alt REAL, speed REAL, track REAL, hacc REAL, mode INTEGER,
                PRIMARY KEY(agent, seq));
            CREATE INDEX positions_by_time ON positions(agent, time, seq);
            CREATE INDEX positions_age ON positions(time);
            CREATE TABLE events(
                agent TEXT NOT NULL REFERENCES agents(id),
                seq INTEGER NOT NULL,
                time INTEGER NOT NULL,
                order_id TEXT NOT NULL,
                type TEXT NOT NULL,
                payload BLOB NOT NULL,
                PRIMARY KEY(agent, seq));
            """
        ),
        (
            2, "users and tokens",
            """
            CREATE TABLE users(
                id INTEGER PRIMARY KEY,
                email TEXT NOT NULL UNIQUE COLLATE NOCASE,
                password_hash TEXT NOT NULL,
                name TEXT NOT NULL,
                role TEXT NOT NULL CHECK (role IN ('customer', 'agent', 'restaurant', 'operator')),
                agent_id TEXT REFERENCES agents(id),
                created INTEGER NOT NULL);
            CREATE TABLE refresh_tokens(
                token_hash TEXT PRIMARY KEY,
                user_id INTEGER NOT NULL REFERENCES users(id),
                family TEXT NOT NULL,
                expires INTEGER NOT NULL,
                used INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE settings(key TEXT PRIMARY KEY, value BLOB NOT NULL);
            """
        ),
    ]

    static func apply(to db: SQLiteConnection, logger: Logger) throws(SQLiteError) {
        let current = Int(try db.scalarInt("PRAGMA user_version") ?? 0)
        for migration in all where migration.version > current {
            try db.transaction { () throws(SQLiteError) in
                try db.execute(migration.sql)
                try db.execute("PRAGMA user_version = \(migration.version)")
            }
            logger.notice(
                "Applied migration",
                metadata: ["db.migration": "\(migration.version)", "db.migration_name": "\(migration.name)"])
        }
        db.clearStatementCache()
    }
}
