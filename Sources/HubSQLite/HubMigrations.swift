import DabbaCore
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
        // Version 7: payments, the double-entry ledger (append-only: triggers
        // refuse UPDATE and DELETE of entries and transactions), cash on delivery, provider events, idempotency keys,
        // and the payment reactor's cursor over the order trail.
        (
            7, "payments and ledger",
            """
            ALTER TABLE order_events ADD COLUMN cash_collected INTEGER;
            CREATE TABLE payments(
                id TEXT PRIMARY KEY,
                order_id TEXT NOT NULL REFERENCES orders(id),
                customer_id INTEGER NOT NULL,
                method TEXT NOT NULL CHECK (method IN ('card', 'cod')),
                provider TEXT,
                provider_ref TEXT,
                state TEXT NOT NULL CHECK (state IN ('requires_payment', 'authorized', 'captured', 'partially_refunded',
                    'refunded', 'failed', 'cancelled')),
                currency TEXT NOT NULL CHECK (length(currency) = 3),
                amount INTEGER NOT NULL CHECK (amount > 0),
                captured INTEGER NOT NULL DEFAULT 0 CHECK (captured >= 0),
                refunded INTEGER NOT NULL DEFAULT 0 CHECK (refunded >= 0),
                refund_pending INTEGER NOT NULL DEFAULT 0 CHECK (refund_pending >= 0),
                card_last4 TEXT,
                failure TEXT,
                next_action TEXT,
                provider_seq INTEGER NOT NULL DEFAULT 0,
                created INTEGER NOT NULL,
                updated INTEGER NOT NULL,
                CHECK (refunded + refund_pending <= captured));
            CREATE UNIQUE INDEX payments_live_per_order ON payments(order_id) WHERE state NOT IN ('failed', 'cancelled');
            CREATE UNIQUE INDEX payments_by_provider_ref ON payments(provider, provider_ref);
            CREATE INDEX payments_by_order ON payments(order_id, created);
            CREATE TABLE refunds(
                id TEXT PRIMARY KEY,
                payment_id TEXT NOT NULL REFERENCES payments(id),
                amount INTEGER NOT NULL CHECK (amount > 0),
                state TEXT NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed')),
                reason TEXT,
                actor TEXT NOT NULL,
                created INTEGER NOT NULL,
                updated INTEGER NOT NULL);
            CREATE INDEX refunds_by_payment ON refunds(payment_id, created);
            CREATE TABLE ledger_accounts(
                name TEXT NOT NULL,
                currency TEXT NOT NULL,
                debits INTEGER NOT NULL CHECK (debits >= 0),
                credits INTEGER NOT NULL CHECK (credits >= 0),
                created INTEGER NOT NULL,
                PRIMARY KEY(name, currency));
            CREATE TABLE ledger_transactions(
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                kind TEXT NOT NULL,
                payment_id TEXT,
                order_id TEXT,
                currency TEXT NOT NULL,
                actor TEXT NOT NULL,
                memo TEXT,
                created INTEGER NOT NULL);
            CREATE INDEX ledger_transactions_by_payment ON ledger_transactions(payment_id, id);
            CREATE TABLE ledger_entries(
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                transaction_id INTEGER NOT NULL REFERENCES ledger_transactions(id),
                account TEXT NOT NULL,
                currency TEXT NOT NULL,
                side TEXT NOT NULL CHECK (side IN ('debit', 'credit')),
                amount INTEGER NOT NULL CHECK (amount > 0));
            CREATE INDEX ledger_entries_by_account ON ledger_entries(account, currency, id);
            CREATE INDEX ledger_entries_by_transaction ON ledger_entries(transaction_id);
            CREATE TRIGGER ledger_entries_no_update BEFORE UPDATE ON ledger_entries
                BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;
            CREATE TRIGGER ledger_entries_no_delete BEFORE DELETE ON ledger_entries
                BEGIN SELECT RAISE(ABORT, 'ledger entries are append-only'); END;
            CREATE TRIGGER ledger_transactions_no_update BEFORE UPDATE ON ledger_transactions
                BEGIN SELECT RAISE(ABORT, 'ledger transactions are append-only'); END;
            CREATE TRIGGER ledger_transactions_no_delete BEFORE DELETE ON ledger_transactions
                BEGIN SELECT RAISE(ABORT, 'ledger transactions are append-only'); END;
            CREATE TABLE cod_collections(
                order_id TEXT PRIMARY KEY REFERENCES orders(id),
                payment_id TEXT NOT NULL REFERENCES payments(id),
                agent_id TEXT NOT NULL,
                currency TEXT NOT NULL,
                expected INTEGER NOT NULL,
                collected INTEGER NOT NULL CHECK (collected >= 0),
                time INTEGER NOT NULL,
                day TEXT NOT NULL);
            CREATE INDEX cod_collections_by_day ON cod_collections(day, agent_id);
            CREATE TABLE cash_handins(
                id TEXT PRIMARY KEY,
                agent_id TEXT NOT NULL,
                currency TEXT NOT NULL,
                amount INTEGER NOT NULL CHECK (amount > 0),
                actor TEXT NOT NULL,
                note TEXT,
                time INTEGER NOT NULL,
                day TEXT NOT NULL);
            CREATE INDEX cash_handins_by_day ON cash_handins(day, agent_id);
            CREATE TABLE provider_events(
                provider TEXT NOT NULL,
                event_id TEXT NOT NULL,
                type TEXT NOT NULL,
                payment_ref TEXT NOT NULL,
                payment_id TEXT,
                sequence INTEGER NOT NULL,
                outcome TEXT NOT NULL,
                received INTEGER NOT NULL,
                PRIMARY KEY(provider, event_id));
            CREATE TABLE idempotency_keys(
                scope TEXT NOT NULL,
                key TEXT NOT NULL,
                request_hash TEXT NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('in_progress', 'done')),
                status INTEGER,
                response BLOB,
                created INTEGER NOT NULL,
                PRIMARY KEY(scope, key));
            CREATE TABLE payment_cursor(
                id INTEGER PRIMARY KEY CHECK (id = 1),
                event_id INTEGER NOT NULL);
            INSERT INTO payment_cursor(id, event_id) SELECT 1, COALESCE(MAX(id), 0) FROM order_events;
            """
        ),
        // Ingest writes one more B-tree per fix for every index on positions; pruning now walks positions_by_time
        // agent by agent (see `prunePositions`), so the index on time alone only cost writes.
        (
            8, "positions: drop the time-only index",
            """
            DROP INDEX IF EXISTS positions_age;
            """
        ),
        // Shifts change from the operator's REST call or from the device's event (which may arrive late, after
        // days offline): the newest change by its own time wins.
        (
            9, "agents: when the shift last changed",
            """
            ALTER TABLE agents ADD COLUMN shift_changed_at INTEGER;
            """
        ),
        // A seq that arrives again with a different payload: the first stays stored, the second is kept here for
        // operators (DESIGN.md, delivery guarantee). Unique on the arriving payload, so a resent conflict is one row.
        (
            10, "seq conflicts",
            """
            CREATE TABLE seq_conflicts(
                id INTEGER PRIMARY KEY,
                agent TEXT NOT NULL REFERENCES agents(id),
                seq INTEGER NOT NULL,
                kind TEXT NOT NULL CHECK (kind IN ('fix', 'event')),
                stored BLOB NOT NULL,
                arriving BLOB NOT NULL,
                received INTEGER NOT NULL,
                UNIQUE(agent, kind, seq, arriving));
            CREATE INDEX seq_conflicts_by_agent ON seq_conflicts(agent, id);
            """
        ),
        // Offers are delivered at least once (README, Dispatch): when a publish of the offer first reached the broker
        // (`sent`), and when the device was first seen after that, before the deadline (`seen`). A lapse without
        // `seen` is undelivered and does not exclude the agent.
        (
            11, "offers: sent and seen",
            """
            ALTER TABLE offers ADD COLUMN sent INTEGER;
            ALTER TABLE offers ADD COLUMN seen INTEGER;
            """
        ),
        // Every provider call is stored before it is made (`PaymentOperation`): its idempotency key derived from our
        // own state, its attempts, backoff and lease, and whether its outcome is unknown (reconciled with a status
        // query before it is made again); `dead` ones are listed for operators. Payments left waiting for an
        // authorization answer by an older hub that stopped mid-call get an operation that finds out.
        (
            12, "payment operations",
            """
            CREATE TABLE payment_ops(
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                key TEXT NOT NULL UNIQUE,
                payment_id TEXT NOT NULL REFERENCES payments(id),
                kind TEXT NOT NULL CHECK (kind IN ('authorize', 'capture', 'void', 'refund')),
                refund_id TEXT REFERENCES refunds(id),
                amount INTEGER NOT NULL CHECK (amount >= 0),
                state TEXT NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed', 'dead')),
                outcome_unknown INTEGER NOT NULL DEFAULT 0,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt INTEGER NOT NULL,
                lease_owner TEXT,
                lease_until INTEGER NOT NULL DEFAULT 0,
                last_error TEXT,
                event_id INTEGER,
                created INTEGER NOT NULL,
                updated INTEGER NOT NULL);
            CREATE INDEX payment_ops_due ON payment_ops(state, next_attempt);
            CREATE INDEX payment_ops_by_payment ON payment_ops(payment_id, id);
            INSERT INTO payment_ops(key, payment_id, kind, amount, state, outcome_unknown, next_attempt, created, updated)
                SELECT 'authorize-' || id, id, 'authorize', amount, 'pending', 1, 0, created, updated FROM payments
                WHERE method = 'card' AND state = 'requires_payment' AND provider_ref IS NULL;
            """
        ),
        // Every path that assigns checks the agent's cash exposure in its transaction (`AssignmentLimits`), cash the
        // payment reactor has not posted yet included: `cod_unposted` holds each delivered cash order until its
        // collection is posted (`cod_collections`), kept by two triggers so that neither the order code nor the
        // reactor has to remember it, and indexed per agent so the check reads only what is outstanding. A refused
        // offer's reason goes to the dispatch trail.
        (
            15, "dispatch: cash not yet posted, refusal reasons",
            """
            ALTER TABLE dispatch_decisions ADD COLUMN reason TEXT;
            CREATE TABLE cod_unposted(
                order_id TEXT PRIMARY KEY REFERENCES orders(id),
                agent_id TEXT NOT NULL,
                currency TEXT NOT NULL,
                amount INTEGER NOT NULL);
            CREATE INDEX cod_unposted_by_agent ON cod_unposted(agent_id, currency);
            INSERT INTO cod_unposted(order_id, agent_id, currency, amount)
                SELECT o.id, o.agent_id, o.currency,
                       MAX(0, COALESCE((SELECT e.cash_collected FROM order_events e
                                        WHERE e.order_id = o.id AND e.action = 'deliver'
                                        ORDER BY e.id DESC LIMIT 1), o.total))
                FROM orders o
                WHERE o.status = 'delivered' AND o.payment_method = 'cod' AND o.agent_id IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM cod_collections c WHERE c.order_id = o.id);
            CREATE TRIGGER cod_unposted_on_delivery AFTER INSERT ON order_events WHEN NEW.action = 'deliver'
            BEGIN
                INSERT OR REPLACE INTO cod_unposted(order_id, agent_id, currency, amount)
                    SELECT o.id, o.agent_id, o.currency, MAX(0, COALESCE(NEW.cash_collected, o.total))
                    FROM orders o
                    WHERE o.id = NEW.order_id AND o.payment_method = 'cod' AND o.agent_id IS NOT NULL
                      AND NOT EXISTS (SELECT 1 FROM cod_collections c WHERE c.order_id = o.id);
            END;
            CREATE TRIGGER cod_unposted_on_collection AFTER INSERT ON cod_collections
            BEGIN
                DELETE FROM cod_unposted WHERE order_id = NEW.order_id;
            END;
            """
        ),
        // Least-recent's line (README, Dispatch): an agent's place is its last delivery, its shift start or its last
        // lapse of a delivered offer, whichever is latest. A shift start is a start while off shift (a repeated
        // "start" does not move it); agents on shift today started at their last change.
        (
            16, "agents: shift start and last lapse",
            """
            ALTER TABLE agents ADD COLUMN shift_started_at INTEGER;
            ALTER TABLE agents ADD COLUMN last_lapse_at INTEGER;
            UPDATE agents SET shift_started_at = shift_changed_at WHERE on_shift = 1;
            """
        ),
        // Sessions (README, Auth): a user can be disabled; `token_epoch` is the revocation epoch access tokens are
        // checked against; each refresh-token family (one sign-in) has a row saying when it began (the absolute
        // lifetime counts from there) and whether it was ended. Families from before start now; one whose tokens
        // were all used is ended.
        (
            18, "users: disabled, revocation epoch; refresh families",
            """
            ALTER TABLE users ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0;
            ALTER TABLE users ADD COLUMN token_epoch INTEGER NOT NULL DEFAULT 0;
            CREATE TABLE refresh_families(
                family TEXT PRIMARY KEY,
                user_id INTEGER NOT NULL REFERENCES users(id),
                created INTEGER NOT NULL,
                ended INTEGER NOT NULL DEFAULT 0);
            CREATE INDEX refresh_families_by_user ON refresh_families(user_id);
            INSERT INTO refresh_families(family, user_id, created, ended)
                SELECT family, MIN(user_id), CAST(strftime('%s', 'now') AS INTEGER) * 1000, MIN(used)
                FROM refresh_tokens GROUP BY family;
            CREATE INDEX refresh_tokens_by_family ON refresh_tokens(family);
            """
        ),
        // Webhook endpoints are counted per owner (`webhook-max-endpoints`).
        (
            19, "webhook endpoints by owner",
            """
            CREATE INDEX webhook_endpoints_by_owner ON webhook_endpoints(owner_id);
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
