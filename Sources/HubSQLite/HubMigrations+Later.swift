extension HubMigrations {
    /// Versions 7 and up: payments and the ledger, then each later change (gaps in the numbering are harmless:
    /// migrations apply by version).
    static let later: [Migration] = [
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
        // Several hubs: named leases (``LeaseRepository``), the dispatcher's among them.
        (
            20, "leases",
            """
            CREATE TABLE leases(
                name TEXT PRIMARY KEY,
                holder TEXT NOT NULL,
                expires_at INTEGER NOT NULL);
            """
        ),
        // Every dispatch round reads the agents its orders exclude (``SQLiteHubStore/excludingOffer``, whose text
        // this index's WHERE repeats so the planner can use it): without it the read visited every offer an order
        // ever had, table row and all, and a round's offers slowed as withdrawn and lapsed offers piled up.
        (
            21, "excluding offers by order",
            """
            CREATE INDEX offers_excluding ON offers(order_id, agent_id)
            WHERE (state = 'rejected' OR (state = 'expired' AND reason IS NOT 'undelivered'));
            """
        ),
        // An agent's latest position in its own row, written with `last_seq`/`last_time` by the same ingest
        // transaction: reading agents (every dispatch round reads them all) no longer looks each one up in
        // `positions`, the largest table (5,000 agents: the read ~8 → ~2 ms in the `sqlite3` shell). Filled from
        // `positions` here; an agent whose `last_seq` row is missing keeps NULLs, which read as no position, as the
        // join read it.
        (
            22, "agents: the latest position in the row",
            """
            ALTER TABLE agents ADD COLUMN last_lat REAL;
            ALTER TABLE agents ADD COLUMN last_lon REAL;
            ALTER TABLE agents ADD COLUMN last_alt REAL;
            ALTER TABLE agents ADD COLUMN last_speed REAL;
            ALTER TABLE agents ADD COLUMN last_track REAL;
            ALTER TABLE agents ADD COLUMN last_hacc REAL;
            ALTER TABLE agents ADD COLUMN last_mode INTEGER;
            UPDATE agents SET (last_lat, last_lon, last_alt, last_speed, last_track, last_hacc, last_mode) = (
                SELECT p.lat, p.lon, p.alt, p.speed, p.track, p.hacc, p.mode FROM positions p
                WHERE p.agent = agents.id AND p.seq = agents.last_seq)
            WHERE last_seq IS NOT NULL;
            """
        ),
    ]
}
