/// Versions 4–7: orders, webhooks, payments and the ledger, dispatch — the tables of SQLite's versions 4 to 19 as
/// they are today, in PostgreSQL's types (see ``HubPostgresMigrations``).
extension HubPostgresMigrations {
    /// Version 4: orders, their lines, the audit trail and share links. `order_events.id` is an identity column;
    /// ids are handed out in commit order (``PostgresHubStore/insertOrderEvent(_:on:)`` takes a lock first), so
    /// readers that follow the trail by id never skip an event.
    static let orders = Migration(
        version: 4, name: "orders and their audit trail",
        statements: [
            """
            CREATE TABLE orders(
                id TEXT COLLATE "C" PRIMARY KEY,
                customer_id BIGINT NOT NULL REFERENCES users(id),
                restaurant_id TEXT COLLATE "C" NOT NULL,
                status TEXT NOT NULL,
                agent_id TEXT COLLATE "C" REFERENCES agents(id),
                payment_method TEXT NOT NULL,
                currency TEXT NOT NULL,
                subtotal BIGINT NOT NULL,
                delivery_fee BIGINT NOT NULL,
                tax BIGINT NOT NULL,
                total BIGINT NOT NULL,
                address TEXT NOT NULL,
                drop_lat DOUBLE PRECISION NOT NULL,
                drop_lon DOUBLE PRECISION NOT NULL,
                zone_id TEXT,
                prep_minutes BIGINT,
                ready_at BIGINT,
                created BIGINT NOT NULL,
                updated BIGINT NOT NULL,
                idempotency_key TEXT,
                request_hash TEXT,
                UNIQUE(customer_id, idempotency_key))
            """,
            "CREATE INDEX orders_by_customer ON orders(customer_id, created)",
            "CREATE INDEX orders_by_restaurant ON orders(restaurant_id, created)",
            "CREATE INDEX orders_by_agent ON orders(agent_id, status)",
            "CREATE INDEX orders_by_status ON orders(status, created)",
            "CREATE INDEX orders_by_created ON orders(created, id)",
            """
            CREATE TABLE order_items(
                order_id TEXT COLLATE "C" NOT NULL REFERENCES orders(id),
                line BIGINT NOT NULL,
                item_id TEXT NOT NULL,
                name TEXT NOT NULL,
                quantity BIGINT NOT NULL,
                unit_price BIGINT NOT NULL,
                options BYTEA NOT NULL,
                line_total BIGINT NOT NULL,
                PRIMARY KEY(order_id, line))
            """,
            """
            CREATE TABLE order_events(
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                order_id TEXT COLLATE "C" NOT NULL,
                restaurant_id TEXT NOT NULL,
                customer_id BIGINT NOT NULL,
                agent_id TEXT,
                status TEXT NOT NULL,
                previous TEXT,
                action TEXT,
                time BIGINT NOT NULL,
                actor TEXT NOT NULL,
                reason TEXT,
                cash_collected BIGINT)
            """,
            "CREATE INDEX order_events_by_order ON order_events(order_id, id)",
            """
            CREATE TABLE order_shares(
                token_hash TEXT PRIMARY KEY,
                order_id TEXT COLLATE "C" NOT NULL REFERENCES orders(id),
                created_by BIGINT NOT NULL,
                expires BIGINT NOT NULL,
                revoked BOOLEAN NOT NULL DEFAULT false)
            """,
            "CREATE INDEX order_shares_by_order ON order_shares(order_id)",
        ])

    /// Version 5: webhook endpoints, their deliveries and the cursor over the trail.
    static let webhooks = Migration(
        version: 5, name: "webhooks",
        statements: [
            """
            CREATE TABLE webhook_endpoints(
                id TEXT COLLATE "C" PRIMARY KEY,
                url TEXT NOT NULL,
                secret TEXT NOT NULL,
                restaurant_id TEXT,
                statuses TEXT NOT NULL,
                owner_id BIGINT NOT NULL REFERENCES users(id),
                created BIGINT NOT NULL,
                since_event BIGINT NOT NULL)
            """,
            "CREATE INDEX webhook_endpoints_by_restaurant ON webhook_endpoints(restaurant_id)",
            "CREATE INDEX webhook_endpoints_by_owner ON webhook_endpoints(owner_id)",
            """
            CREATE TABLE webhook_deliveries(
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                endpoint_id TEXT COLLATE "C" NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
                event_id BIGINT NOT NULL,
                event BYTEA NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
                attempts BIGINT NOT NULL DEFAULT 0,
                next_attempt BIGINT NOT NULL,
                lease_until BIGINT NOT NULL DEFAULT 0,
                lease_owner TEXT,
                last_status BIGINT,
                last_error TEXT,
                delivered BIGINT,
                created BIGINT NOT NULL,
                UNIQUE(endpoint_id, event_id))
            """,
            "CREATE INDEX webhook_deliveries_due ON webhook_deliveries(state, next_attempt)",
            "CREATE TABLE webhook_cursor(id INTEGER PRIMARY KEY CHECK (id = 1), event_id BIGINT NOT NULL)",
            "INSERT INTO webhook_cursor(id, event_id) SELECT 1, COALESCE(MAX(id), 0) FROM order_events",
        ])

    /// Version 6: payments, refunds, provider operations and events, idempotency keys, cash on delivery, the
    /// reactor's cursor, and the double-entry ledger — append-only (triggers refuse `UPDATE` and `DELETE` of entries
    /// and transactions), its account totals bounded by BIGINT (an overflow fails the posting's transaction).
    /// `cod_unposted` is kept by triggers, as SQLite's.
    static let payments = Migration(
        version: 6, name: "payments and ledger",
        statements: [
            """
            CREATE TABLE payments(
                id TEXT COLLATE "C" PRIMARY KEY,
                order_id TEXT COLLATE "C" NOT NULL REFERENCES orders(id),
                customer_id BIGINT NOT NULL,
                method TEXT NOT NULL CHECK (method IN ('card', 'cod')),
                provider TEXT,
                provider_ref TEXT,
                state TEXT NOT NULL CHECK (state IN ('requires_payment', 'authorized', 'captured', 'partially_refunded',
                    'refunded', 'failed', 'cancelled')),
                currency TEXT NOT NULL CHECK (length(currency) = 3),
                amount BIGINT NOT NULL CHECK (amount > 0),
                captured BIGINT NOT NULL DEFAULT 0 CHECK (captured >= 0),
                refunded BIGINT NOT NULL DEFAULT 0 CHECK (refunded >= 0),
                refund_pending BIGINT NOT NULL DEFAULT 0 CHECK (refund_pending >= 0),
                card_last4 TEXT,
                failure TEXT,
                next_action TEXT,
                provider_seq BIGINT NOT NULL DEFAULT 0,
                created BIGINT NOT NULL,
                updated BIGINT NOT NULL,
                CHECK (refunded + refund_pending <= captured))
            """,
            "CREATE UNIQUE INDEX payments_live_per_order ON payments(order_id) WHERE state NOT IN ('failed', 'cancelled')",
            "CREATE UNIQUE INDEX payments_by_provider_ref ON payments(provider, provider_ref)",
            "CREATE INDEX payments_by_order ON payments(order_id, created)",
            """
            CREATE TABLE refunds(
                id TEXT COLLATE "C" PRIMARY KEY,
                payment_id TEXT COLLATE "C" NOT NULL REFERENCES payments(id),
                amount BIGINT NOT NULL CHECK (amount > 0),
                state TEXT NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed')),
                reason TEXT,
                actor TEXT NOT NULL,
                created BIGINT NOT NULL,
                updated BIGINT NOT NULL)
            """,
            "CREATE INDEX refunds_by_payment ON refunds(payment_id, created)",
            """
            CREATE TABLE ledger_accounts(
                name TEXT COLLATE "C" NOT NULL,
                currency TEXT COLLATE "C" NOT NULL,
                debits BIGINT NOT NULL CHECK (debits >= 0),
                credits BIGINT NOT NULL CHECK (credits >= 0),
                created BIGINT NOT NULL,
                PRIMARY KEY(name, currency))
            """,
            """
            CREATE TABLE ledger_transactions(
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                kind TEXT NOT NULL,
                payment_id TEXT,
                order_id TEXT,
                currency TEXT NOT NULL,
                actor TEXT NOT NULL,
                memo TEXT,
                created BIGINT NOT NULL)
            """,
            "CREATE INDEX ledger_transactions_by_payment ON ledger_transactions(payment_id, id)",
            """
            CREATE TABLE ledger_entries(
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                transaction_id BIGINT NOT NULL REFERENCES ledger_transactions(id),
                account TEXT COLLATE "C" NOT NULL,
                currency TEXT NOT NULL,
                side TEXT NOT NULL CHECK (side IN ('debit', 'credit')),
                amount BIGINT NOT NULL CHECK (amount > 0))
            """,
            "CREATE INDEX ledger_entries_by_account ON ledger_entries(account, currency, id)",
            "CREATE INDEX ledger_entries_by_transaction ON ledger_entries(transaction_id)",
            """
            CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'ledger % are append-only', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
            END $$
            """,
            """
            CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
                FOR EACH ROW EXECUTE FUNCTION ledger_append_only()
            """,
            """
            CREATE TRIGGER ledger_transactions_append_only BEFORE UPDATE OR DELETE ON ledger_transactions
                FOR EACH ROW EXECUTE FUNCTION ledger_append_only()
            """,
            """
            CREATE TABLE cod_collections(
                order_id TEXT COLLATE "C" PRIMARY KEY REFERENCES orders(id),
                payment_id TEXT NOT NULL REFERENCES payments(id),
                agent_id TEXT NOT NULL,
                currency TEXT NOT NULL,
                expected BIGINT NOT NULL,
                collected BIGINT NOT NULL CHECK (collected >= 0),
                time BIGINT NOT NULL,
                day TEXT NOT NULL)
            """,
            "CREATE INDEX cod_collections_by_day ON cod_collections(day, agent_id)",
            """
            CREATE TABLE cash_handins(
                id TEXT COLLATE "C" PRIMARY KEY,
                agent_id TEXT NOT NULL,
                currency TEXT NOT NULL,
                amount BIGINT NOT NULL CHECK (amount > 0),
                actor TEXT NOT NULL,
                note TEXT,
                time BIGINT NOT NULL,
                day TEXT NOT NULL)
            """,
            "CREATE INDEX cash_handins_by_day ON cash_handins(day, agent_id)",
            """
            CREATE TABLE provider_events(
                provider TEXT NOT NULL,
                event_id TEXT NOT NULL,
                type TEXT NOT NULL,
                payment_ref TEXT NOT NULL,
                payment_id TEXT,
                sequence BIGINT NOT NULL,
                outcome TEXT NOT NULL,
                received BIGINT NOT NULL,
                PRIMARY KEY(provider, event_id))
            """,
            """
            CREATE TABLE idempotency_keys(
                scope TEXT NOT NULL,
                key TEXT NOT NULL,
                request_hash TEXT NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('in_progress', 'done')),
                status BIGINT,
                response BYTEA,
                created BIGINT NOT NULL,
                PRIMARY KEY(scope, key))
            """,
            "CREATE TABLE payment_cursor(id INTEGER PRIMARY KEY CHECK (id = 1), event_id BIGINT NOT NULL)",
            "INSERT INTO payment_cursor(id, event_id) SELECT 1, COALESCE(MAX(id), 0) FROM order_events",
            """
            CREATE TABLE payment_ops(
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                key TEXT COLLATE "C" NOT NULL UNIQUE,
                payment_id TEXT COLLATE "C" NOT NULL REFERENCES payments(id),
                kind TEXT NOT NULL CHECK (kind IN ('authorize', 'capture', 'void', 'refund')),
                refund_id TEXT REFERENCES refunds(id),
                amount BIGINT NOT NULL CHECK (amount >= 0),
                state TEXT NOT NULL CHECK (state IN ('pending', 'succeeded', 'failed', 'dead')),
                outcome_unknown BOOLEAN NOT NULL DEFAULT false,
                attempts BIGINT NOT NULL DEFAULT 0,
                next_attempt BIGINT NOT NULL,
                lease_owner TEXT,
                lease_until BIGINT NOT NULL DEFAULT 0,
                last_error TEXT,
                event_id BIGINT,
                created BIGINT NOT NULL,
                updated BIGINT NOT NULL)
            """,
            "CREATE INDEX payment_ops_due ON payment_ops(state, next_attempt)",
            "CREATE INDEX payment_ops_by_payment ON payment_ops(payment_id, id)",
            """
            CREATE TABLE cod_unposted(
                order_id TEXT COLLATE "C" PRIMARY KEY REFERENCES orders(id),
                agent_id TEXT NOT NULL,
                currency TEXT NOT NULL,
                amount BIGINT NOT NULL)
            """,
            "CREATE INDEX cod_unposted_by_agent ON cod_unposted(agent_id, currency)",
            """
            CREATE FUNCTION cod_unposted_on_delivery() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO cod_unposted(order_id, agent_id, currency, amount)
                    SELECT o.id, o.agent_id, o.currency, GREATEST(0, COALESCE(NEW.cash_collected, o.total))
                    FROM orders o
                    WHERE o.id = NEW.order_id AND o.payment_method = 'cod' AND o.agent_id IS NOT NULL
                      AND NOT EXISTS (SELECT 1 FROM cod_collections c WHERE c.order_id = o.id)
                ON CONFLICT (order_id) DO UPDATE
                    SET agent_id = EXCLUDED.agent_id, currency = EXCLUDED.currency, amount = EXCLUDED.amount;
                RETURN NULL;
            END $$
            """,
            """
            CREATE TRIGGER cod_unposted_on_delivery AFTER INSERT ON order_events
                FOR EACH ROW WHEN (NEW.action = 'deliver') EXECUTE FUNCTION cod_unposted_on_delivery()
            """,
            """
            CREATE FUNCTION cod_unposted_on_collection() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                DELETE FROM cod_unposted WHERE order_id = NEW.order_id;
                RETURN NULL;
            END $$
            """,
            """
            CREATE TRIGGER cod_unposted_on_collection AFTER INSERT ON cod_collections
                FOR EACH ROW EXECUTE FUNCTION cod_unposted_on_collection()
            """,
        ])

    /// Version 7: dispatch — shifts and fairness times on agents, device events' applied flag, offers (one pending
    /// per order), decisions, and alerts (one per kind, agent and order, a missing agent or order included:
    /// `NULLS NOT DISTINCT`, PostgreSQL 15).
    static let dispatch = Migration(
        version: 7, name: "dispatch: shifts, offers, decisions, device events applied, alerts",
        statements: [
            """
            ALTER TABLE agents ADD COLUMN on_shift BOOLEAN NOT NULL DEFAULT false,
                ADD COLUMN last_delivery_at BIGINT, ADD COLUMN shift_changed_at BIGINT,
                ADD COLUMN shift_started_at BIGINT, ADD COLUMN last_lapse_at BIGINT
            """,
            "ALTER TABLE events ADD COLUMN applied BOOLEAN NOT NULL DEFAULT false",
            "CREATE INDEX events_unapplied ON events(time, agent, seq) WHERE NOT applied",
            """
            CREATE TABLE offers(
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                order_id TEXT COLLATE "C" NOT NULL REFERENCES orders(id),
                agent_id TEXT COLLATE "C" NOT NULL REFERENCES agents(id),
                created BIGINT NOT NULL,
                deadline BIGINT NOT NULL,
                state TEXT NOT NULL CHECK (state IN ('pending', 'accepted', 'rejected', 'expired', 'withdrawn')),
                decided BIGINT,
                reason TEXT,
                sent BIGINT,
                seen BIGINT)
            """,
            "CREATE UNIQUE INDEX offers_one_pending ON offers(order_id) WHERE state = 'pending'",
            "CREATE INDEX offers_by_order ON offers(order_id, id)",
            "CREATE INDEX offers_by_agent ON offers(agent_id, state)",
            "CREATE INDEX offers_due ON offers(deadline) WHERE state = 'pending'",
            """
            CREATE TABLE dispatch_decisions(
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                order_id TEXT NOT NULL,
                time BIGINT NOT NULL,
                policy TEXT NOT NULL,
                agent_id TEXT,
                outcome TEXT NOT NULL,
                candidates BYTEA NOT NULL,
                reason TEXT)
            """,
            "CREATE INDEX dispatch_by_order ON dispatch_decisions(order_id, id)",
            """
            CREATE TABLE alerts(
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                time BIGINT NOT NULL,
                kind TEXT NOT NULL,
                agent_id TEXT,
                order_id TEXT,
                message TEXT NOT NULL,
                UNIQUE NULLS NOT DISTINCT (kind, agent_id, order_id))
            """,
        ])
}
