import DabbaCore
import DabbaProtocol
import Foundation
import HubModel
import PostgresNIO

extension PostgresHubStore: OrderRepository {
    /// The idempotency key is looked up first (a replay answers the stored order, another body is a `conflict`);
    /// then one READ COMMITTED transaction writes the order, its lines and its first trail entry. The unique
    /// `(customer_id, idempotency_key)` makes a concurrent create with the same key (another hub) a `conflict`, as
    /// SQLite's constraint does.
    package func createOrder(_ order: OrderRecord, idempotencyKey: String?, requestHash: String?, actor: String)
        async throws(StoreError) -> (order: OrderRecord, event: OrderEvent?, created: Bool)
    {
        if let idempotencyKey, let existing = try await orderWithKey(customer: order.customerID, key: idempotencyKey) {
            guard existing.hash == requestHash else {
                throw StoreError(.conflict, "Idempotency-Key \(idempotencyKey) was used for a different order")
            }
            return (existing.order, nil, false)
        }
        let options = try order.lines.map { line throws(StoreError) in try Self.encodeOptions(line.options) }
        let event = try await transaction { connection -> OrderEvent in
            try await connection.query(
                """
                INSERT INTO orders(id, customer_id, restaurant_id, status, payment_method, currency, subtotal,
                    delivery_fee, tax, total, address, drop_lat, drop_lon, zone_id, created, updated, idempotency_key,
                    request_hash)
                VALUES(\(order.id), \(order.customerID), \(order.restaurantID), \(order.status.rawValue),
                    \(order.paymentMethod.rawValue), \(order.currency), \(order.subtotal), \(order.deliveryFee),
                    \(order.tax), \(order.total), \(order.address), \(order.dropLat), \(order.dropLon), \(order.zoneID),
                    \(order.createdAt), \(order.updatedAt), \(idempotencyKey), \(requestHash))
                """, logger: logger)
            for (index, line) in order.lines.enumerated() {
                try await connection.query(
                    """
                    INSERT INTO order_items(order_id, line, item_id, name, quantity, unit_price, options, line_total)
                    VALUES(\(order.id), \(Int64(index)), \(line.itemID), \(line.name), \(Int64(line.quantity)),
                        \(line.unitPrice), \(Bytea.bind(options[index])), \(line.lineTotal))
                    """, logger: logger)
            }
            return try await insertOrderEvent(
                OrderEvent(
                    id: 0, order: order.id, restaurant: order.restaurantID, customer: order.customerID,
                    status: order.status, time: Timestamp.format(milliseconds: order.createdAt), actor: actor),
                on: connection)
        }
        return (order, event, true)
    }

    /// Two `SELECT`s (the order, its lines) outside a transaction: lines never change after the order is created.
    package func order(id: String) async throws(StoreError) -> OrderRecord? {
        try await run { connection in try await readOrder(id: id, on: connection) }
    }

    /// One connection, one read per id.
    package func orders(ids: [String]) async throws(StoreError) -> [String: OrderRecord] {
        guard !ids.isEmpty else { return [:] }
        return try await run { connection in
            var found: [String: OrderRecord] = [:]
            for id in ids where found[id] == nil {
                if let order = try await readOrder(id: id, on: connection) { found[id] = order }
            }
            return found
        }
    }

    /// One READ COMMITTED transaction that first locks the order's row (`SELECT … FOR UPDATE`), so changes of one
    /// order — from any hub, and dispatch's offers and assignments, which lock it too — apply one after another,
    /// each deciding from the state the previous one committed, as under SQLite's single writer.
    package func applyOrderChange(_ change: OrderChange, to id: String) async throws(StoreError)
        -> (OrderRecord, OrderEvent)
    {
        try await transaction { connection in try await changeOrder(change, id, on: connection) }.get(id)
    }

    /// Applies `change` to order `id` with its trail entry, inside the caller's transaction: locks the order's row
    /// first (a no-op when the caller already holds it), writes nothing unless the change applies
    /// (``OrderChange/apply(to:id:now:)`` decides, as for SQLite). A delivery also stamps the agent's
    /// `last_delivery_at` (dispatch fairness).
    func changeOrder(_ change: OrderChange, _ id: String, on connection: PostgresSession) async throws
        -> OrderChangeOutcome
    {
        let now = wallClockMilliseconds()
        let outcome = change.apply(
            to: try await readOrder(id: id, forUpdate: true, on: connection), id: id, now: now)
        guard case .changed(let order, let entry) = outcome else { return outcome }
        try await connection.query(
            """
            UPDATE orders SET status = \(order.status.rawValue), agent_id = \(order.agentID),
                prep_minutes = \(order.prepMinutes.map(Int64.init)), ready_at = \(order.readyAt), updated = \(now)
            WHERE id = \(id)
            """, logger: logger)
        if change.action == .deliver, let agent = order.agentID {
            try await connection.query(
                "UPDATE agents SET last_delivery_at = \(now) WHERE id = \(agent)", logger: logger)
        }
        return .changed(order, try await insertOrderEvent(entry, on: connection))
    }

    /// One `SELECT` of the page's ids, then each order (READ COMMITTED, no transaction: as SQLite's, an order
    /// changed between the two reads is shown as it is now).
    package func orders(_ filter: OrderFilter, after: (createdAt: Int64, id: String)?, limit: Int)
        async throws(StoreError) -> [OrderRecord]
    {
        var conditions: [String] = []
        var binds = PostgresBindings()
        func bind(_ value: some PostgresDynamicTypeEncodable) -> String {
            binds.append(value)
            return "$\(binds.count)"
        }
        if let customer = filter.customerID { conditions.append("customer_id = \(bind(customer))") }
        if let restaurants = filter.restaurantIDs {
            if restaurants.isEmpty { return [] }
            conditions.append("restaurant_id = ANY(\(bind(restaurants)))")
        }
        if let agent = filter.agentID { conditions.append("agent_id = \(bind(agent))") }
        if let statuses = filter.statuses {
            if statuses.isEmpty { return [] }
            conditions.append("status = ANY(\(bind(statuses.map(\.rawValue).sorted())))")
        }
        if let since = filter.since { conditions.append("created >= \(bind(since))") }
        if let until = filter.until { conditions.append("created < \(bind(until))") }
        if let after {
            conditions.append("(created, id) < (\(bind(after.createdAt)), \(bind(after.id)))")
        }
        let sql =
            "SELECT id FROM orders" + (conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND "))
            + " ORDER BY created DESC, id DESC LIMIT \(bind(Int64(limit)))"
        let query = PostgresQuery(unsafeSQL: sql, binds: binds)
        return try await run { connection in
            let ids = try await connection.rows(query, logger).map { try $0.decode(String.self) }
            return try await readOrders(ids, on: connection)
        }
    }

    // MARK: - Rows

    private func orderWithKey(customer: Int64, key: String) async throws(StoreError)
        -> (order: OrderRecord, hash: String?)?
    {
        try await run { connection -> (order: OrderRecord, hash: String?)? in
            guard
                let row = try await connection.rows(
                    "SELECT id, request_hash FROM orders WHERE customer_id = \(customer) AND idempotency_key = \(key)",
                    logger
                ).first
            else { return nil }
            let (id, hash) = try row.decode((String, String?).self)
            return try await readOrder(id: id, on: connection).map { ($0, hash) }
        }
    }

    /// The orders of `ids`, in that order (ids with no order left out).
    func readOrders(_ ids: [String], on connection: PostgresSession) async throws -> [OrderRecord] {
        var orders: [OrderRecord] = []
        for id in ids { if let order = try await readOrder(id: id, on: connection) { orders.append(order) } }
        return orders
    }

    /// The order and its lines; with `forUpdate`, its row locked until the transaction ends.
    func readOrder(id: String, forUpdate: Bool = false, on connection: PostgresSession) async throws
        -> OrderRecord?
    {
        guard
            let row = try await connection.rows(
                """
                SELECT id, customer_id, restaurant_id, status, agent_id, payment_method, currency, subtotal,
                    delivery_fee, tax, total, address, drop_lat, drop_lon, zone_id, prep_minutes, ready_at, created,
                    updated
                FROM orders WHERE id = \(id) \(unescaped: forUpdate ? "FOR UPDATE" : "")
                """, logger
            ).first
        else { return nil }
        let (
            orderID, customer, restaurant, status, agent, method, currency, subtotal, fee, tax, total, address, lat,
            lon, zone, prep, ready, created, updated
        ) = try row.decode(
            (
                String, Int64, String, String, String?, String, String, Int64, Int64, Int64, Int64, String, Double,
                Double, String?, Int64?, Int64?, Int64, Int64
            ).self)
        guard let status = OrderStatus(rawValue: status), let method = PaymentMethod(rawValue: method) else {
            throw StoreError(.corrupt, "orders \(orderID): status \(status), payment method \(method)")
        }
        var order = OrderRecord(
            id: orderID, customerID: customer, restaurantID: restaurant, status: status, agentID: agent,
            paymentMethod: method, currency: currency, subtotal: subtotal, deliveryFee: fee, tax: tax, total: total,
            address: address, dropLat: lat, dropLon: lon, zoneID: zone, prepMinutes: prep.map { Int($0) },
            readyAt: ready, createdAt: created, updatedAt: updated, lines: [])
        for line in try await connection.rows(
            "SELECT item_id, name, quantity, unit_price, options FROM order_items WHERE order_id = \(id) ORDER BY line",
            logger)
        {
            let (item, name, quantity, unitPrice, options) = try line.decode(
                (String, String, Int64, Int64, ByteBuffer).self)
            order.lines.append(
                OrderLine(
                    itemID: item, name: name, quantity: Int(quantity), unitPrice: unitPrice,
                    options: try Self.decodeOptions(Bytea.read(options), order: orderID)))
        }
        return order
    }

    /// A line's options as stored (JSON, as SQLite's).
    static func encodeOptions(_ options: [OrderLineOption]) throws(StoreError) -> [UInt8] {
        if options.isEmpty { return Array("[]".utf8) }
        do { return Array(try JSONEncoder().encode(options)) } catch {
            throw StoreError(.other, "order line options do not encode: \(error)")
        }
    }

    /// A stored line's options; a line whose options no longer decode is a `corrupt` order (its price was made of
    /// them), not a line without options.
    static func decodeOptions(_ bytes: [UInt8], order: String) throws(StoreError) -> [OrderLineOption] {
        if bytes.isEmpty || bytes == Array("[]".utf8) { return [] }
        do { return try JSONDecoder().decode([OrderLineOption].self, from: Data(bytes)) } catch {
            throw StoreError(.corrupt, "order \(order): a line's options do not decode")
        }
    }
}

extension PostgresHubStore: OrderEventLog {
    /// One `SELECT`. Ids are handed out in commit order (``insertOrderEvent(_:on:)``), so a reader following the
    /// trail by id never passes an event that commits later with a lower id.
    package func orderEvents(after: Int64, limit: Int) async throws(StoreError) -> [OrderEvent] {
        try await run { connection in
            try await readEvents(
                "\(unescaped: Self.orderEventSelect) WHERE id > \(after) ORDER BY id LIMIT \(Int64(limit))",
                on: connection)
        }
    }

    /// One `SELECT` on `order_events_by_order`.
    package func orderEvents(order: String) async throws(StoreError) -> [OrderEvent] {
        try await run { connection in
            try await readEvents(
                "\(unescaped: Self.orderEventSelect) WHERE order_id = \(order) ORDER BY id", on: connection)
        }
    }

    /// Serialises appends to the trail (a transaction-scoped advisory lock): see ``insertOrderEvent(_:on:)``.
    static let orderEventsLock: Int64 = 0x6461_6262_615F_6F65  // "dabba_oe"

    /// Appends one entry to the trail inside the caller's transaction (the one that changes the order, so the trail
    /// and the order never disagree) and returns it with its id.
    ///
    /// Commit order: an identity value is taken when the row is inserted, not when it commits, so two concurrent
    /// transactions could commit ids 11 then 10 — and a reader that saw 11 and moved its cursor past it (webhooks,
    /// the payment reactor, other hubs' order feeds) would never see 10. SQLite cannot do that (one writer). Here
    /// the transaction first takes ``orderEventsLock``, held until it commits or rolls back, so the next append
    /// takes its id after this one is visible: ids become visible in increasing order. Only appends to the trail
    /// wait for each other, and only for the rest of the appending transaction.
    func insertOrderEvent(_ event: OrderEvent, on connection: PostgresSession) async throws -> OrderEvent {
        try await connection.query("SELECT pg_advisory_xact_lock(\(Self.orderEventsLock))", logger: logger)
        let id = try await connection.scalar(
            Int64.self,
            """
            INSERT INTO order_events(order_id, restaurant_id, customer_id, agent_id, status, previous, action, time,
                actor, reason, cash_collected)
            VALUES(\(event.order), \(event.restaurant), \(event.customer), \(event.agent), \(event.status.rawValue),
                \(event.previous?.rawValue), \(event.action?.rawValue), \(Timestamp.parse(event.time) ?? 0),
                \(event.actor), \(event.reason), \(event.cashCollected))
            RETURNING id
            """, logger)
        guard let id else { throw StoreError(.other, "order_events: the insert returned no id") }
        var stored = event
        stored.id = id
        return stored
    }

    /// Appends `event` in a transaction of its own (tests and consumers that record events without an order
    /// change).
    package func appendOrderEvent(_ event: OrderEvent) async throws(StoreError) -> OrderEvent {
        try await transaction { connection in try await insertOrderEvent(event, on: connection) }
    }

    static let orderEventSelect =
        "SELECT id, order_id, restaurant_id, customer_id, agent_id, status, previous, action, time, actor, reason, cash_collected FROM order_events"

    func readEvents(_ query: PostgresQuery, on connection: PostgresSession) async throws -> [OrderEvent] {
        try await connection.rows(query, logger).map { row in
            let (id, order, restaurant, customer, agent, status, previous, action, time, actor, reason, cash) =
                try row.decode(
                    (
                        Int64, String, String, Int64, String?, String, String?, String?, Int64, String, String?,
                        Int64?
                    ).self)
            guard let status = OrderStatus(rawValue: status) else {
                throw StoreError(.corrupt, "order_events \(id): status \(status)")
            }
            return OrderEvent(
                id: id, order: order, restaurant: restaurant, customer: customer, agent: agent, status: status,
                previous: previous.flatMap(OrderStatus.init(rawValue:)),
                action: action.flatMap(OrderAction.init(rawValue:)), time: Timestamp.format(milliseconds: time),
                actor: actor, reason: reason, cashCollected: cash)
        }
    }
}

extension PostgresHubStore: OrderShareRepository {
    /// One `INSERT`: the token's hash is the primary key.
    package func createShare(tokenHash: String, share: OrderShare) async throws(StoreError) {
        try await run { connection in
            try await connection.query(
                """
                INSERT INTO order_shares(token_hash, order_id, created_by, expires)
                VALUES(\(tokenHash), \(share.orderID), \(share.createdBy), \(share.expires))
                """, logger: logger)
        }
    }

    /// One `SELECT` by primary key.
    package func share(tokenHash: String) async throws(StoreError) -> OrderShare? {
        try await run { connection in
            guard
                let row = try await connection.rows(
                    "SELECT order_id, created_by, expires, revoked FROM order_shares WHERE token_hash = \(tokenHash)",
                    logger
                ).first
            else { return nil }
            let (order, createdBy, expires, revoked) = try row.decode((String, Int64, Int64, Bool).self)
            return OrderShare(orderID: order, createdBy: createdBy, expires: expires, revoked: revoked)
        }
    }

    /// One conditional `UPDATE … RETURNING`: each active link is counted once, whichever hub revokes too.
    package func revokeShares(order: String) async throws(StoreError) -> Int {
        try await run { connection in
            try await connection.rows(
                "UPDATE order_shares SET revoked = true WHERE order_id = \(order) AND NOT revoked RETURNING 1", logger
            ).count
        }
    }
}
