import DabbaCore
import DabbaSQLite
import Logging

/// Versioned schema migrations, applied in order at start (and by `dabba-hub migrate`); `PRAGMA user_version` holds
/// the version reached. A migration is never edited once released: add a new one.
enum HubMigrations {
    typealias Migration = (version: Int, name: String, sql: String)

    /// Every migration: the first schema (agents to dispatch) and what was added after (``later``).
    static var all: [Migration] { first + later }

    /// Versions 1–6: agents and positions, users, the market, orders, webhooks, dispatch.
    static let first: [Migration] = [
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
        // Version 3 (restaurants, menus, zones) is the marketplace's; orders reference restaurants by id. Polygons,
        // opening hours and option groups are JSON columns.
        (
            3, "restaurants, menus, zones",
            """
            CREATE TABLE zones(
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                polygon TEXT NOT NULL,
                min_lat REAL NOT NULL,
                max_lat REAL NOT NULL,
                min_lon REAL NOT NULL,
                max_lon REAL NOT NULL,
                area REAL NOT NULL,
                delivery_fee INTEGER NOT NULL CHECK (delivery_fee >= 0),
                currency TEXT NOT NULL,
                active INTEGER NOT NULL,
                created INTEGER NOT NULL,
                updated INTEGER NOT NULL);
            CREATE INDEX zones_by_box ON zones(active, min_lat, max_lat);
            CREATE TABLE restaurants(
                id TEXT PRIMARY KEY,
                owner_id INTEGER NOT NULL REFERENCES users(id),
                name TEXT NOT NULL,
                address TEXT NOT NULL,
                lat REAL NOT NULL,
                lon REAL NOT NULL,
                zone_id TEXT REFERENCES zones(id),
                currency TEXT NOT NULL,
                paused INTEGER NOT NULL DEFAULT 0,
                hours TEXT NOT NULL,
                created INTEGER NOT NULL,
                updated INTEGER NOT NULL);
            CREATE INDEX restaurants_by_owner ON restaurants(owner_id, id);
            CREATE INDEX restaurants_by_location ON restaurants(lat, lon);
            CREATE TABLE menu_sections(
                id TEXT PRIMARY KEY,
                restaurant_id TEXT NOT NULL REFERENCES restaurants(id),
                name TEXT NOT NULL,
                position INTEGER NOT NULL);
            CREATE INDEX menu_sections_by_restaurant ON menu_sections(restaurant_id, position, id);
            CREATE TABLE menu_items(
                id TEXT PRIMARY KEY,
                restaurant_id TEXT NOT NULL REFERENCES restaurants(id),
                section_id TEXT NOT NULL REFERENCES menu_sections(id),
                name TEXT NOT NULL,
                description TEXT NOT NULL,
                price INTEGER NOT NULL CHECK (price >= 0),
                currency TEXT NOT NULL,
                available INTEGER NOT NULL,
                option_groups BLOB NOT NULL,
                position INTEGER NOT NULL);
            CREATE INDEX menu_items_by_section ON menu_items(restaurant_id, section_id, position, id);
            """
        ),
        (
            4, "orders and their audit trail",
            """
            CREATE TABLE orders(
                id TEXT PRIMARY KEY,
                customer_id INTEGER NOT NULL REFERENCES users(id),
                restaurant_id TEXT NOT NULL,
                status TEXT NOT NULL,
                agent_id TEXT REFERENCES agents(id),
                payment_method TEXT NOT NULL,
                currency TEXT NOT NULL,
                subtotal INTEGER NOT NULL,
                delivery_fee INTEGER NOT NULL,
                tax INTEGER NOT NULL,
                total INTEGER NOT NULL,
                address TEXT NOT NULL,
                drop_lat REAL NOT NULL,
                drop_lon REAL NOT NULL,
                zone_id TEXT,
                prep_minutes INTEGER,
                ready_at INTEGER,
                created INTEGER NOT NULL,
                updated INTEGER NOT NULL,
                idempotency_key TEXT,
                request_hash TEXT,
                UNIQUE(customer_id, idempotency_key));
            CREATE INDEX orders_by_customer ON orders(customer_id, created);
            CREATE INDEX orders_by_restaurant ON orders(restaurant_id, created);
            CREATE INDEX orders_by_agent ON orders(agent_id, status);
            CREATE INDEX orders_by_status ON orders(status, created);
            CREATE TABLE order_items(
                order_id TEXT NOT NULL REFERENCES orders(id),
                line INTEGER NOT NULL,
                item_id TEXT NOT NULL,
                name TEXT NOT NULL,
                quantity INTEGER NOT NULL,
                unit_price INTEGER NOT NULL,
                options BLOB NOT NULL,
                line_total INTEGER NOT NULL,
                PRIMARY KEY(order_id, line));
            CREATE TABLE order_events(
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                order_id TEXT NOT NULL,
                restaurant_id TEXT NOT NULL,
                customer_id INTEGER NOT NULL,
                agent_id TEXT,
                status TEXT NOT NULL,
                previous TEXT,
                action TEXT,
                time INTEGER NOT NULL,
                actor TEXT NOT NULL,
                reason TEXT);
            CREATE INDEX order_events_by_order ON order_events(order_id, id);
            CREATE TABLE order_shares(
                token_hash TEXT PRIMARY KEY,
                order_id TEXT NOT NULL REFERENCES orders(id),
                created_by INTEGER NOT NULL,
                expires INTEGER NOT NULL,
                revoked INTEGER NOT NULL DEFAULT 0);
            CREATE INDEX order_shares_by_order ON order_shares(order_id);
            ALTER TABLE agents ADD COLUMN vehicle TEXT;
            """
        ),
        (
            5, "webhooks",
            """
            CREATE TABLE webhook_endpoints(
                id TEXT PRIMARY KEY,
                url TEXT NOT NULL,
                secret TEXT NOT NULL,
                restaurant_id TEXT,
                statuses TEXT NOT NULL,
                owner_id INTEGER NOT NULL REFERENCES users(id),
                created INTEGER NOT NULL,
                since_event INTEGER NOT NULL);
            CREATE INDEX webhook_endpoints_by_restaurant ON webhook_endpoints(restaurant_id);
            CREATE TABLE webhook_deliveries(
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
                event_id INTEGER NOT NULL,
                event BLOB NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt INTEGER NOT NULL,
                lease_until INTEGER NOT NULL DEFAULT 0,
                lease_owner TEXT,
                last_status INTEGER,
                last_error TEXT,
                delivered INTEGER,
                created INTEGER NOT NULL,
                UNIQUE(endpoint_id, event_id));
            CREATE INDEX webhook_deliveries_due ON webhook_deliveries(state, next_attempt);
            CREATE TABLE webhook_cursor(
                id INTEGER PRIMARY KEY CHECK (id = 1),
                event_id INTEGER NOT NULL);
            INSERT INTO webhook_cursor(id, event_id) SELECT 1, COALESCE(MAX(id), 0) FROM order_events;
            """
        ),
        (
            6, "dispatch: shifts, offers, decisions, device events applied, alerts",
            """
            ALTER TABLE agents ADD COLUMN on_shift INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE agents ADD COLUMN last_delivery_at INTEGER;
            ALTER TABLE events ADD COLUMN applied INTEGER NOT NULL DEFAULT 0;
            CREATE INDEX events_unapplied ON events(time, agent, seq) WHERE applied = 0;
            CREATE TABLE offers(
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                order_id TEXT NOT NULL REFERENCES orders(id),
                agent_id TEXT NOT NULL REFERENCES agents(id),
                created INTEGER NOT NULL,
                deadline INTEGER NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('pending', 'accepted', 'rejected', 'expired', 'withdrawn')),
                decided INTEGER,
                reason TEXT);
            CREATE UNIQUE INDEX offers_one_pending ON offers(order_id) WHERE state = 'pending';
            CREATE INDEX offers_by_order ON offers(order_id, id);
            CREATE INDEX offers_by_agent ON offers(agent_id, state);
            CREATE INDEX offers_due ON offers(deadline) WHERE state = 'pending';
            CREATE TABLE dispatch_decisions(
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                order_id TEXT NOT NULL,
                time INTEGER NOT NULL,
                policy TEXT NOT NULL,
                agent_id TEXT,
                outcome TEXT NOT NULL,
                candidates BLOB NOT NULL);
            CREATE INDEX dispatch_by_order ON dispatch_decisions(order_id, id);
            CREATE TABLE alerts(
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                time INTEGER NOT NULL,
                kind TEXT NOT NULL,
                agent_id TEXT,
                order_id TEXT,
                message TEXT NOT NULL,
                UNIQUE(kind, agent_id, order_id));
            """
        ),
    ]

    /// Applies every migration not yet recorded in `schema_migrations`, in version order, each in its own
    /// transaction with its record. (Databases from before that table record versions up to their
    /// `user_version`.) A version added below one already applied — branches merged in another order — is applied
    /// too instead of being skipped. `user_version` keeps the highest version applied.
    static func apply(to db: SQLiteConnection, logger: Logger) throws(SQLiteError) {
        let legacy = Int(try db.scalarInt("PRAGMA user_version") ?? 0)
        try db.transaction { () throws(SQLiteError) in
            try db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations(version INTEGER PRIMARY KEY, applied INTEGER NOT NULL)")
            for migration in all where migration.version <= legacy {
                try db.prepare("INSERT OR IGNORE INTO schema_migrations(version, applied) VALUES(?, 0)")
                    .run([.integer(Int64(migration.version))])
            }
        }
        var applied = Set<Int>()
        let s = try db.prepare("SELECT version FROM schema_migrations")
        while try s.step() { applied.insert(Int(s.int64(0))) }
        s.reset()
        for migration in all.sorted(by: { $0.version < $1.version }) where !applied.contains(migration.version) {
            try db.transaction { () throws(SQLiteError) in
                try db.execute(migration.sql)
                try db.prepare("INSERT INTO schema_migrations(version, applied) VALUES(?, ?)")
                    .run([.integer(Int64(migration.version)), .integer(wallClockMilliseconds())])
                let highest = max(legacy, migration.version, Int(try db.scalarInt("PRAGMA user_version") ?? 0))
                try db.execute("PRAGMA user_version = \(highest)")
            }
            logger.notice(
                "Applied migration",
                metadata: ["db.migration": "\(migration.version)", "db.migration_name": "\(migration.name)"])
        }
        db.clearStatementCache()
    }
}
