import DabbaCore
import DabbaProtocol
import DabbaSQLite
import HubModel

extension SQLiteHubStore: WebhookRepository {
    package func createWebhookEndpoint(_ endpoint: WebhookEndpoint, maxPerOwner: Int) throws(StoreError)
        -> WebhookEndpoint
    {
        let stored = try run { () throws(SQLiteError) -> WebhookEndpoint? in
            try db.transaction { () throws(SQLiteError) -> WebhookEndpoint? in
                let owned =
                    try db.scalarInt(
                        "SELECT COUNT(*) FROM webhook_endpoints WHERE owner_id = ?", [.integer(endpoint.ownerID)]) ?? 0
                guard owned < Int64(clamping: maxPerOwner) else { return nil }
                var stored = endpoint
                stored.sinceEvent = try db.scalarInt("SELECT COALESCE(MAX(id), 0) FROM order_events") ?? 0
                try db.prepare(
                    """
                    INSERT INTO webhook_endpoints(id, url, secret, restaurant_id, statuses, owner_id, created, since_event)
                    VALUES(?, ?, ?, ?, ?, ?, ?, ?)
                    """
                ).run([
                    .text(stored.id), .text(stored.url), .text(stored.secret),
                    stored.restaurant.map { .text($0) } ?? .null,
                    .text(Self.statusList(stored.statuses)), .integer(stored.ownerID), .integer(stored.createdAt),
                    .integer(stored.sinceEvent),
                ])
                return stored
            }
        }
        guard let stored else {
            throw StoreError(.conflict, "at most \(maxPerOwner) webhook endpoints per user; delete one first")
        }
        return stored
    }

    package func webhookEndpoint(id: String) throws(StoreError) -> WebhookEndpoint? {
        try run { () throws(SQLiteError) in try readEndpoints(Self.endpointSelect + " WHERE id = ?", [.text(id)]).first
        }
    }

    package func webhookEndpoints() throws(StoreError) -> [WebhookEndpoint] {
        try run { () throws(SQLiteError) in try readEndpoints(Self.endpointSelect + " ORDER BY created, id", []) }
    }

    package func deleteWebhookEndpoint(id: String) throws(StoreError) -> Bool {
        try run { () throws(SQLiteError) in
            try db.transaction { () throws(SQLiteError) in
                try db.prepare("DELETE FROM webhook_endpoints WHERE id = ?").run([.text(id)])
                return db.changes > 0
            }
        }
    }

    package func enqueueWebhookDeliveries(limit: Int, now: Int64) throws(StoreError) -> WebhookEnqueueResult {
        // Nothing new (the usual poll): answer from a read, without taking the write lock.
        let idle = try run { () throws(SQLiteError) -> Int64? in
            try db.scalarInt(
                "SELECT c.event_id FROM webhook_cursor c WHERE c.id = 1 AND NOT EXISTS "
                    + "(SELECT 1 FROM order_events e WHERE e.id > c.event_id)")
        }
        if let idle { return WebhookEnqueueResult(events: 0, deliveries: 0, cursor: idle) }
        // One transaction (BEGIN IMMEDIATE: hubs sharing the file take turns): read the cursor, the events after it
        // and the endpoints, insert the deliveries, advance the cursor. A crash before COMMIT leaves all as it was.
        try run { () throws(SQLiteError) in try db.execute("BEGIN IMMEDIATE") }
        do throws(StoreError) {
            let cursor = try run { () throws(SQLiteError) in
                try db.scalarInt("SELECT event_id FROM webhook_cursor WHERE id = 1") ?? 0
            }
            let events = try orderEvents(after: cursor, limit: limit)
            var created = 0
            if !events.isEmpty {
                try run { () throws(SQLiteError) in
                    let endpoints = try readEndpoints(Self.endpointSelect + " e WHERE " + Self.entitled, [])
                    let insert = try db.prepare(
                        """
                        INSERT OR IGNORE INTO webhook_deliveries(endpoint_id, event_id, event, state, next_attempt, created)
                        VALUES(?, ?, ?, 'pending', ?, ?)
                        """)
                    for event in events {
                        let matching = endpoints.filter { $0.matches(event) }
                        guard !matching.isEmpty else { continue }
                        let json = PayloadCoding.encode(event)
                        for endpoint in matching {
                            try insert.run([
                                .text(endpoint.id), .integer(event.id), .blob(json), .integer(now), .integer(now),
                            ])
                            created += db.changes
                        }
                    }
                    try db.prepare("UPDATE webhook_cursor SET event_id = ? WHERE id = 1").run([
                        .integer(events[events.count - 1].id)
                    ])
                }
            }
            try run { () throws(SQLiteError) in try db.execute("COMMIT") }
            return WebhookEnqueueResult(events: events.count, deliveries: created, cursor: events.last?.id ?? cursor)
        } catch {
            try? db.execute("ROLLBACK")
            throw error
        }
    }

    package func claimWebhookDeliveries(limit: Int, owner: String, now: Int64, leaseUntil: Int64)
        throws(StoreError) -> [WebhookAttempt]
    {
        try run { () throws(SQLiteError) in
            try db.transaction { () throws(SQLiteError) in
                try db.prepare(
                    """
                    UPDATE webhook_deliveries SET state = 'failed', lease_until = 0, lease_owner = NULL,
                        last_error = 'not sent: the endpoint''s owner no longer manages this restaurant, or is disabled'
                    WHERE state = 'pending' AND endpoint_id IN
                        (SELECT e.id FROM webhook_endpoints e WHERE NOT (\(Self.entitled)))
                    """
                ).run([])
                let candidates = try db.prepare(
                    """
                    SELECT d.id, d.endpoint_id, d.event_id, e.url, e.secret, d.event, d.attempts
                    FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
                    WHERE d.state = 'pending' AND d.next_attempt <= ?1 AND d.lease_until <= ?1
                        AND NOT EXISTS (\(Self.earlierPendingOfTheOrder))
                    ORDER BY d.next_attempt, d.id LIMIT ?2
                    """)
                defer { candidates.reset() }
                try candidates.bind([.integer(now), .integer(Int64(limit))])
                var found: [WebhookAttempt] = []
                while try candidates.step() {
                    found.append(
                        WebhookAttempt(
                            deliveryID: candidates.int64(0), endpointID: candidates.text(1) ?? "",
                            eventID: candidates.int64(2), url: candidates.text(3) ?? "",
                            secret: candidates.text(4) ?? "",
                            event: candidates.bytes(5), attempt: Int(candidates.int64(6)) + 1))
                }
                candidates.reset()
                // The claim itself: only a row whose lease has expired is taken (the guard that keeps two hubs from
                // sending the same delivery, also where the database has no single writer). Order within an order
                // needs no such guard: a held-back row stays held back until the earlier one leaves `pending`.
                let claim = try db.prepare(
                    """
                    UPDATE webhook_deliveries SET lease_until = ?, lease_owner = ?, attempts = attempts + 1
                    WHERE id = ? AND state = 'pending' AND lease_until <= ?
                    """)
                var claimed: [WebhookAttempt] = []
                for attempt in found {
                    try claim.run([.integer(leaseUntil), .text(owner), .integer(attempt.deliveryID), .integer(now)])
                    if db.changes == 1 { claimed.append(attempt) }
                }
                return claimed
            }
        }
    }

    package func finishWebhookAttempt(
        _ attempt: WebhookAttempt, owner: String, outcome: WebhookAttemptOutcome, now: Int64
    ) throws(StoreError) {
        try run { () throws(SQLiteError) in
            let owned = " WHERE id = ? AND lease_owner = ? AND state = 'pending'"
            switch outcome {
            case .delivered(let status):
                try db.prepare(
                    "UPDATE webhook_deliveries SET state = 'delivered', delivered = ?, last_status = ?, last_error = NULL, "
                        + "lease_until = 0, lease_owner = NULL" + owned
                ).run([.integer(now), .integer(Int64(status)), .integer(attempt.deliveryID), .text(owner)])
            case .failed(let status, let error, let retryAt):
                try db.prepare(
                    "UPDATE webhook_deliveries SET state = ?, next_attempt = ?, last_status = ?, last_error = ?, "
                        + "lease_until = 0, lease_owner = NULL" + owned
                ).run([
                    .text(retryAt == nil ? "failed" : "pending"), .integer(retryAt ?? now),
                    status.map { .integer(Int64($0)) } ?? .null, .text(error), .integer(attempt.deliveryID),
                    .text(owner),
                ])
            }
        }
    }

    package func nextWebhookDue() throws(StoreError) -> Int64? {
        try run { () throws(SQLiteError) in
            try db.scalarInt(
                "SELECT MIN(MAX(d.next_attempt, d.lease_until)) FROM webhook_deliveries d WHERE d.state = 'pending' "
                    + "AND NOT EXISTS (\(Self.earlierPendingOfTheOrder))")
        }
    }

    package func webhookBacklog() throws(StoreError) -> WebhookBacklog {
        try run { () throws(SQLiteError) in
            let s = try db.prepare("SELECT COUNT(*), MIN(created) FROM webhook_deliveries WHERE state = 'pending'")
            defer { s.reset() }
            guard try s.step() else { return WebhookBacklog(pending: 0, oldestCreated: nil) }
            return WebhookBacklog(pending: Int(s.int64(0)), oldestCreated: s.isNull(1) ? nil : s.int64(1))
        }
    }

    package func webhookDeliveries(endpoint: String, before: Int64?, limit: Int) throws(StoreError) -> [WebhookDelivery]
    {
        try run { () throws(SQLiteError) in
            let s = try db.prepare(
                """
                SELECT id, endpoint_id, event_id, state, attempts, last_status, last_error, next_attempt, delivered, created
                FROM webhook_deliveries WHERE endpoint_id = ? AND id < ? ORDER BY id DESC LIMIT ?
                """)
            defer { s.reset() }
            try s.bind([.text(endpoint), .integer(before ?? Int64.max), .integer(Int64(limit))])
            var result: [WebhookDelivery] = []
            while try s.step() {
                result.append(
                    WebhookDelivery(
                        id: s.int64(0), endpointID: s.text(1) ?? "", eventID: s.int64(2),
                        state: WebhookDeliveryState(rawValue: s.text(3) ?? "") ?? .pending, attempts: Int(s.int64(4)),
                        lastStatus: s.isNull(5) ? nil : Int(s.int64(5)), lastError: s.text(6), nextAttempt: s.int64(7),
                        deliveredAt: s.isNull(8) ? nil : s.int64(8), createdAt: s.int64(9)))
            }
            return result
        }
    }

    /// True (a row) when delivery `d` is held back: an earlier event of the same order to the same endpoint is
    /// still pending (due, leased or waiting for a retry). Walks the order's earlier events by
    /// `order_events_by_order` and probes each with the `(endpoint_id, event_id)` key.
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
        AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = e.owner_id AND u.disabled = 1)
        """

    static let endpointSelect =
        "SELECT id, url, secret, restaurant_id, statuses, owner_id, created, since_event FROM webhook_endpoints"

    /// Statuses as stored: comma separated, sorted (empty for all).
    static func statusList(_ statuses: Set<OrderStatus>) -> String {
        statuses.map(\.rawValue).sorted().joined(separator: ",")
    }

    private func readEndpoints(_ sql: String, _ bindings: [SQLiteValue]) throws(SQLiteError) -> [WebhookEndpoint] {
        let s = try db.prepare(sql)
        defer { s.reset() }
        try s.bind(bindings)
        var result: [WebhookEndpoint] = []
        while try s.step() {
            let statuses = (s.text(4) ?? "").split(separator: ",").compactMap { OrderStatus(rawValue: String($0)) }
            result.append(
                WebhookEndpoint(
                    id: s.text(0) ?? "", url: s.text(1) ?? "", secret: s.text(2) ?? "", restaurant: s.text(3),
                    statuses: Set(statuses), ownerID: s.int64(5), createdAt: s.int64(6), sinceEvent: s.int64(7)))
        }
        return result
    }
}
