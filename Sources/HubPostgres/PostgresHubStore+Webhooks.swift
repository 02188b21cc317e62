import DabbaCore
import DabbaProtocol
import HubModel
import PostgresNIO

extension PostgresHubStore: WebhookRepository {
    /// One READ COMMITTED transaction that locks the owner's user row first: two creates by one owner at once (two
    /// hubs) are counted one after the other, so the bound holds. `since_event` is the newest event id committed
    /// (ids become visible in order, ``insertOrderEvent(_:on:)``).
    package func createWebhookEndpoint(_ endpoint: WebhookEndpoint, maxPerOwner: Int) async throws(StoreError)
        -> WebhookEndpoint
    {
        let stored = try await transaction { connection -> WebhookEndpoint? in
            try await connection.query("SELECT 1 FROM users WHERE id = \(endpoint.ownerID) FOR UPDATE", logger: logger)
            let owned =
                try await connection.scalar(
                    Int64.self, "SELECT count(*) FROM webhook_endpoints WHERE owner_id = \(endpoint.ownerID)", logger)
                ?? 0
            guard owned < Int64(clamping: maxPerOwner) else { return nil }
            var stored = endpoint
            stored.sinceEvent =
                try await connection.scalar(Int64.self, "SELECT COALESCE(max(id), 0) FROM order_events", logger) ?? 0
            try await connection.query(
                """
                INSERT INTO webhook_endpoints(id, url, secret, restaurant_id, statuses, owner_id, created, since_event)
                VALUES(\(stored.id), \(stored.url), \(stored.secret), \(stored.restaurant),
                    \(Self.statusList(stored.statuses)), \(stored.ownerID), \(stored.createdAt), \(stored.sinceEvent))
                """, logger: logger)
            return stored
        }
        guard let stored else {
            throw StoreError(.conflict, "at most \(maxPerOwner) webhook endpoints per user; delete one first")
        }
        return stored
    }

    /// One `SELECT` by primary key.
    package func webhookEndpoint(id: String) async throws(StoreError) -> WebhookEndpoint? {
        try await run { connection in
            try await readEndpoints("\(unescaped: Self.endpointSelect) WHERE id = \(id)", on: connection).first
        }
    }

    /// One `SELECT`, oldest first.
    package func webhookEndpoints() async throws(StoreError) -> [WebhookEndpoint] {
        try await run { connection in
            try await readEndpoints("\(unescaped: Self.endpointSelect) ORDER BY created, id", on: connection)
        }
    }

    /// One `DELETE` (its deliveries go with it: `ON DELETE CASCADE`).
    package func deleteWebhookEndpoint(id: String) async throws(StoreError) -> Bool {
        try await run { connection in
            try await connection.rows("DELETE FROM webhook_endpoints WHERE id = \(id) RETURNING 1", logger).count > 0
        }
    }

    /// Nothing new (the usual poll) is answered from one read. Otherwise one READ COMMITTED transaction that locks
    /// the cursor's row first (`FOR UPDATE`): hubs enqueueing at once take turns, as under SQLite's `BEGIN
    /// IMMEDIATE`, and each reads the cursor the previous one committed — so every event is turned into deliveries
    /// once, and a crash before `COMMIT` leaves everything as it was. Events are read by id, which is safe because
    /// ids become visible in increasing order (``insertOrderEvent(_:on:)``).
    package func enqueueWebhookDeliveries(limit: Int, now: Int64) async throws(StoreError) -> WebhookEnqueueResult {
        let idle = try await run { connection in
            try await connection.scalar(
                Int64.self,
                """
                SELECT c.event_id FROM webhook_cursor c
                WHERE c.id = 1 AND NOT EXISTS (SELECT 1 FROM order_events e WHERE e.id > c.event_id)
                """, logger)
        }
        if let idle { return WebhookEnqueueResult(events: 0, deliveries: 0, cursor: idle) }
        return try await transaction { connection in
            let cursor =
                try await connection.scalar(
                    Int64.self, "SELECT event_id FROM webhook_cursor WHERE id = 1 FOR UPDATE", logger) ?? 0
            let events = try await readEvents(
                "\(unescaped: Self.orderEventSelect) WHERE id > \(cursor) ORDER BY id LIMIT \(Int64(limit))",
                on: connection)
            var created = 0
            if let last = events.last {
                let endpoints = try await readEndpoints(
                    "\(unescaped: Self.endpointSelect) e WHERE \(unescaped: Self.entitled)", on: connection)
                for event in events {
                    let matching = endpoints.filter { $0.matches(event) }
                    guard !matching.isEmpty else { continue }
                    let json = Bytea.bind(PayloadCoding.encode(event))
                    for endpoint in matching {
                        created +=
                            try await connection.rows(
                                """
                                INSERT INTO webhook_deliveries(endpoint_id, event_id, event, state, next_attempt, created)
                                VALUES(\(endpoint.id), \(event.id), \(json), 'pending', \(now), \(now))
                                ON CONFLICT(endpoint_id, event_id) DO NOTHING RETURNING 1
                                """, logger
                            ).count
                    }
                }
                try await connection.query(
                    "UPDATE webhook_cursor SET event_id = \(last.id) WHERE id = 1", logger: logger)
            }
            return WebhookEnqueueResult(events: events.count, deliveries: created, cursor: events.last?.id ?? cursor)
        }
    }

    /// One READ COMMITTED transaction: deliveries of endpoints no longer entitled are given up, the due candidates
    /// read, and each claimed by one conditional `UPDATE … RETURNING` — PostgreSQL re-checks `lease_until` on the
    /// newest row version after waiting for a concurrent claim's row lock, so a delivery is claimed by one hub only.
    /// Order within an order needs no lock: a held-back row stays held back until the earlier one leaves
    /// `pending` (which it only does when delivered or given up).
    package func claimWebhookDeliveries(limit: Int, owner: String, now: Int64, leaseUntil: Int64)
        async throws(StoreError) -> [WebhookAttempt]
    {
        try await transaction { connection in
            try await connection.query(
                """
                UPDATE webhook_deliveries SET state = 'failed', lease_until = 0, lease_owner = NULL,
                    last_error = 'not sent: the endpoint''s owner no longer manages this restaurant, or is disabled'
                WHERE state = 'pending' AND endpoint_id IN
                    (SELECT e.id FROM webhook_endpoints e WHERE NOT (\(unescaped: Self.entitled)))
                """, logger: logger)
            let found = try await connection.rows(
                """
                SELECT d.id, d.endpoint_id, d.event_id, e.url, e.secret, d.event, d.attempts
                FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
                WHERE d.state = 'pending' AND d.next_attempt <= \(now) AND d.lease_until <= \(now)
                    AND NOT EXISTS (\(unescaped: Self.earlierPendingOfTheOrder))
                ORDER BY d.next_attempt, d.id LIMIT \(Int64(limit))
                """, logger
            ).map { row in
                let (id, endpoint, event, url, secret, body, attempts) = try row.decode(
                    (Int64, String, Int64, String, String, ByteBuffer, Int64).self)
                return WebhookAttempt(
                    deliveryID: id, endpointID: endpoint, eventID: event, url: url, secret: secret,
                    event: Bytea.read(body), attempt: Int(attempts) + 1)
            }
            var claimed: [WebhookAttempt] = []
            for attempt in found {
                let won =
                    try await connection.rows(
                        """
                        UPDATE webhook_deliveries SET lease_until = \(leaseUntil), lease_owner = \(owner),
                            attempts = attempts + 1
                        WHERE id = \(attempt.deliveryID) AND state = 'pending' AND lease_until <= \(now)
                        RETURNING 1
                        """, logger
                    ).count == 1
                if won { claimed.append(attempt) }
            }
            return claimed
        }
    }

    /// One conditional `UPDATE`: only the lease's holder records the outcome.
    package func finishWebhookAttempt(
        _ attempt: WebhookAttempt, owner: String, outcome: WebhookAttemptOutcome, now: Int64
    ) async throws(StoreError) {
        try await run { connection in
            switch outcome {
            case .delivered(let status):
                try await connection.query(
                    """
                    UPDATE webhook_deliveries SET state = 'delivered', delivered = \(now), last_status = \(Int64(status)),
                        last_error = NULL, lease_until = 0, lease_owner = NULL
                    WHERE id = \(attempt.deliveryID) AND lease_owner = \(owner) AND state = 'pending'
                    """, logger: logger)
            case .failed(let status, let error, let retryAt):
                try await connection.query(
                    """
                    UPDATE webhook_deliveries SET state = \(retryAt == nil ? "failed" : "pending"),
                        next_attempt = \(retryAt ?? now), last_status = \(status.map(Int64.init)),
                        last_error = \(error), lease_until = 0, lease_owner = NULL
                    WHERE id = \(attempt.deliveryID) AND lease_owner = \(owner) AND state = 'pending'
                    """, logger: logger)
            }
        }
    }

    /// One `SELECT`.
    package func nextWebhookDue() async throws(StoreError) -> Int64? {
        try await run { connection in
            try await connection.scalar(
                Int64?.self,
                """
                SELECT min(greatest(d.next_attempt, d.lease_until)) FROM webhook_deliveries d
                WHERE d.state = 'pending' AND NOT EXISTS (\(unescaped: Self.earlierPendingOfTheOrder))
                """, logger) ?? nil
        }
    }

    /// One `SELECT` (a snapshot of the pending rows).
    package func webhookBacklog() async throws(StoreError) -> WebhookBacklog {
        try await run { connection in
            let rows = try await connection.rows(
                "SELECT count(*), min(created) FROM webhook_deliveries WHERE state = 'pending'", logger)
            guard let row = rows.first else { return WebhookBacklog(pending: 0, oldestCreated: nil) }
            let (count, oldest) = try row.decode((Int64, Int64?).self)
            return WebhookBacklog(pending: Int(count), oldestCreated: oldest)
        }
    }

    /// One `SELECT`, newest first.
    package func webhookDeliveries(endpoint: String, before: Int64?, limit: Int) async throws(StoreError)
        -> [WebhookDelivery]
    {
        try await run { connection in
            try await connection.rows(
                """
                SELECT id, endpoint_id, event_id, state, attempts, last_status, last_error, next_attempt, delivered,
                    created
                FROM webhook_deliveries WHERE endpoint_id = \(endpoint) AND id < \(before ?? Int64.max)
                ORDER BY id DESC LIMIT \(Int64(limit))
                """, logger
            ).map { row in
                let (id, endpointID, event, state, attempts, status, error, next, delivered, created) =
                    try row.decode((Int64, String, Int64, String, Int64, Int64?, String?, Int64, Int64?, Int64).self)
                guard let state = WebhookDeliveryState(rawValue: state) else {
                    throw StoreError(.corrupt, "webhook_deliveries \(id): state \(state)")
                }
                return WebhookDelivery(
                    id: id, endpointID: endpointID, eventID: event, state: state, attempts: Int(attempts),
                    lastStatus: status.map { Int($0) }, lastError: error, nextAttempt: next, deliveredAt: delivered,
                    createdAt: created)
            }
        }
    }

    /// True (a row) when delivery `d` is held back: an earlier event of the same order to the same endpoint is
    /// still pending (due, leased or waiting for a retry).
    static let earlierPendingOfTheOrder = """
        SELECT 1 FROM order_events mine
        JOIN order_events earlier ON earlier.order_id = mine.order_id AND earlier.id < mine.id
        JOIN webhook_deliveries p ON p.endpoint_id = d.endpoint_id AND p.event_id = earlier.id
        WHERE mine.id = d.event_id AND p.state = 'pending'
        """

    /// True for an endpoint `e` entitled to its events (see ``WebhookRepository/enqueueWebhookDeliveries(limit:now:)``):
    /// global or registered by an operator or by the restaurant's current owner, and its owner not disabled.
    static let entitled = """
        (e.restaurant_id IS NULL
            OR EXISTS (SELECT 1 FROM users u WHERE u.id = e.owner_id AND u.role = 'operator')
            OR EXISTS (SELECT 1 FROM restaurants r WHERE r.id = e.restaurant_id AND r.owner_id = e.owner_id))
        AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = e.owner_id AND u.disabled)
        """

    static let endpointSelect =
        "SELECT id, url, secret, restaurant_id, statuses, owner_id, created, since_event FROM webhook_endpoints"

    /// Statuses as stored: comma separated, sorted (empty for all).
    static func statusList(_ statuses: Set<OrderStatus>) -> String {
        statuses.map(\.rawValue).sorted().joined(separator: ",")
    }

    private func readEndpoints(_ query: PostgresQuery, on connection: PostgresSession) async throws
        -> [WebhookEndpoint]
    {
        try await connection.rows(query, logger).map { row in
            let (id, url, secret, restaurant, statuses, owner, created, since) = try row.decode(
                (String, String, String, String?, String, Int64, Int64, Int64).self)
            return WebhookEndpoint(
                id: id, url: url, secret: secret, restaurant: restaurant,
                statuses: Set(statuses.split(separator: ",").compactMap { OrderStatus(rawValue: String($0)) }),
                ownerID: owner, createdAt: created, sinceEvent: since)
        }
    }
}
