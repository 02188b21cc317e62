import DabbaCore
import DabbaProtocol
import DabbaSQLite
import Foundation
import HubModel

extension SQLiteHubStore: OrderRepository {
    package func createOrder(_ order: OrderRecord, idempotencyKey: String?, requestHash: String?, actor: String)
        throws(StoreError) -> (order: OrderRecord, event: OrderEvent?, created: Bool)
    {
        if let idempotencyKey, let existing = try orderWithKey(customer: order.customerID, key: idempotencyKey) {
            guard existing.hash == requestHash else {
                throw StoreError(.conflict, "Idempotency-Key \(idempotencyKey) was used for a different order")
            }
            return (existing.order, nil, false)
        }
        let event = try run { () throws(SQLiteError) -> OrderEvent in
            try db.transaction { () throws(SQLiteError) -> OrderEvent in
                try db.prepare(
                    """
                    INSERT INTO orders(id, customer_id, restaurant_id, status, agent_id, payment_method, currency,
                        subtotal, delivery_fee, tax, total, address, drop_lat, drop_lon, zone_id, prep_minutes,
                        ready_at, created, updated, idempotency_key, request_hash)
                    VALUES(?, ?, ?, ?, NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?, ?)
                    """
                ).run([
                    .text(order.id), .integer(order.customerID), .text(order.restaurantID),
                    .text(order.status.rawValue), .text(order.paymentMethod.rawValue), .text(order.currency),
                    .integer(order.subtotal), .integer(order.deliveryFee), .integer(order.tax), .integer(order.total),
                    .text(order.address), .real(order.dropLat), .real(order.dropLon),
                    order.zoneID.map { .text($0) } ?? .null, .integer(order.createdAt), .integer(order.updatedAt),
                    idempotencyKey.map { .text($0) } ?? .null, requestHash.map { .text($0) } ?? .null,
                ])
                let line = try db.prepare(
                    """
                    INSERT INTO order_items(order_id, line, item_id, name, quantity, unit_price, options, line_total)
                    VALUES(?, ?, ?, ?, ?, ?, ?, ?)
                    """)
                for (index, l) in order.lines.enumerated() {
                    try line.run([
                        .text(order.id), .integer(Int64(index)), .text(l.itemID), .text(l.name),
                        .integer(Int64(l.quantity)), .integer(l.unitPrice), .blob(Self.encodeOptions(l.options)),
                        .integer(l.lineTotal),
                    ])
                }
                return try insertOrderEvent(
                    OrderEvent(
                        id: 0, order: order.id, restaurant: order.restaurantID, customer: order.customerID,
                        status: order.status, time: Timestamp.format(milliseconds: order.createdAt), actor: actor))
            }
        }
        return (order, event, true)
    }

    package func order(id: String) throws(StoreError) -> OrderRecord? {
        try run { () throws(SQLiteError) in try readOrder(id: id) }
    }

    /// One `run`, two statements (``readOrders(_:_:)``).
    package func orders(ids: [String]) throws(StoreError) -> [String: OrderRecord] {
        guard !ids.isEmpty else { return [:] }
        return try run { () throws(SQLiteError) -> [String: OrderRecord] in
            let orders = try readOrders("WHERE id IN (SELECT value FROM json_each(?1))", [.text(Self.jsonArray(ids))])
            return Dictionary(orders.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        }
    }

    package func applyOrderChange(_ change: OrderChange, to id: String) throws(StoreError) -> (OrderRecord, OrderEvent)
    {
        let outcome = try run { () throws(SQLiteError) -> OrderChangeOutcome in
            try db.transaction { () throws(SQLiteError) -> OrderChangeOutcome in try changeOrder(change, id) }
        }
        return try outcome.get(id)
    }

    /// Applies `change` to order `id` with its audit entry; call inside a transaction (nothing is written unless it
    /// applies). ``OrderChange/apply(to:id:now:)`` decides; a delivery also stamps the agent's `last_delivery_at`.
    func changeOrder(_ change: OrderChange, _ id: String) throws(SQLiteError) -> OrderChangeOutcome {
        let now = wallClockMilliseconds()
        let outcome = change.apply(to: try readOrder(id: id), id: id, now: now)
        guard case .changed(let order, let entry) = outcome else { return outcome }
        try db.prepare(
            "UPDATE orders SET status = ?, agent_id = ?, prep_minutes = ?, ready_at = ?, updated = ? WHERE id = ?"
        ).run([
            .text(order.status.rawValue), order.agentID.map { .text($0) } ?? .null,
            order.prepMinutes.map { .integer(Int64($0)) } ?? .null, order.readyAt.map { .integer($0) } ?? .null,
            .integer(now), .text(id),
        ])
        if change.action == .deliver, let agent = order.agentID {
            try db.prepare("UPDATE agents SET last_delivery_at = ? WHERE id = ?").run([.integer(now), .text(agent)])
        }
        return .changed(order, try insertOrderEvent(entry))
    }

    package func orders(_ filter: OrderFilter, after: (createdAt: Int64, id: String)?, limit: Int) throws(StoreError)
        -> [OrderRecord]
    {
        var conditions: [String] = []
        var values: [SQLiteValue] = []
        if let customer = filter.customerID {
            conditions.append("customer_id = ?")
            values.append(.integer(customer))
        }
        if let restaurants = filter.restaurantIDs {
            if restaurants.isEmpty { return [] }
            conditions.append("restaurant_id IN (" + restaurants.map { _ in "?" }.joined(separator: ",") + ")")
            values += restaurants.map { .text($0) }
        }
        if let agent = filter.agentID {
            conditions.append("agent_id = ?")
            values.append(.text(agent))
        }
        if let statuses = filter.statuses {
            if statuses.isEmpty { return [] }
            let sorted = statuses.map(\.rawValue).sorted()
            conditions.append("status IN (" + sorted.map { _ in "?" }.joined(separator: ",") + ")")
            values += sorted.map { .text($0) }
        }
        if let since = filter.since {
            conditions.append("created >= ?")
            values.append(.integer(since))
        }
        if let until = filter.until {
            conditions.append("created < ?")
            values.append(.integer(until))
        }
        if let after {
            conditions.append("(created < ? OR (created = ? AND id < ?))")
            values += [.integer(after.createdAt), .integer(after.createdAt), .text(after.id)]
        }
        let sql =
            "SELECT id FROM orders" + (conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND "))
            + " ORDER BY created DESC, id DESC LIMIT ?"
        values.append(.integer(Int64(limit)))
        return try run { () throws(SQLiteError) -> [OrderRecord] in
            let s = try db.prepare(sql)
            defer { s.reset() }
            try s.bind(values)
            var ids: [String] = []
            while try s.step() { ids.append(s.text(0) ?? "") }
            s.reset()
            var orders: [OrderRecord] = []
            for id in ids { if let order = try readOrder(id: id) { orders.append(order) } }
            return orders
        }
    }

    // MARK: - Rows

    private func orderWithKey(customer: Int64, key: String) throws(StoreError) -> (order: OrderRecord, hash: String?)? {
        try run { () throws(SQLiteError) -> (order: OrderRecord, hash: String?)? in
            let s = try db.prepare("SELECT id, request_hash FROM orders WHERE customer_id = ? AND idempotency_key = ?")
            defer { s.reset() }
            try s.bind([.integer(customer), .text(key)])
            guard try s.step(), let id = s.text(0) else { return nil }
            let hash = s.text(1)
            s.reset()
            return try readOrder(id: id).map { ($0, hash) }
        }
    }

    /// The order with its lines (`withLines`; without them for checks that read only the order's own columns).
    func readOrder(id: String, withLines: Bool = true) throws(SQLiteError) -> OrderRecord? {
        let s = try db.prepare("SELECT \(Self.orderColumns) FROM orders WHERE id = ?")
        defer { s.reset() }
        try s.bind([.text(id)])
        guard try s.step() else { return nil }
        var order = Self.orderRecord(s)
        s.reset()
        guard withLines else { return order }
        let lines = try db.prepare(
            "SELECT order_id, item_id, name, quantity, unit_price, options FROM order_items WHERE order_id = ? ORDER BY line"
        )
        defer { lines.reset() }
        try lines.bind([.text(id)])
        while try lines.step() { order.lines.append(Self.orderLine(lines)) }
        return order
    }

    /// The orders (with their lines) a `FROM orders o …` tail selects, in its order: one statement for the orders
    /// and one for all their lines, instead of two per order (a dispatch round reads 1,000 waiting orders).
    func readOrders(_ tail: String, _ values: [SQLiteValue] = []) throws(SQLiteError) -> [OrderRecord] {
        let s = try db.prepare("SELECT \(Self.orderColumns) FROM orders o \(tail)")
        defer { s.reset() }
        try s.bind(values)
        var orders: [OrderRecord] = []
        var index: [String: Int] = [:]
        while try s.step() {
            let order = Self.orderRecord(s)
            guard index[order.id] == nil else { continue }
            index[order.id] = orders.count
            orders.append(order)
        }
        s.reset()
        guard !orders.isEmpty else { return [] }
        let lines = try db.prepare(
            """
            SELECT order_id, item_id, name, quantity, unit_price, options FROM order_items
            WHERE order_id IN (SELECT value FROM json_each(?1)) ORDER BY order_id, line
            """)
        defer { lines.reset() }
        try lines.bind([.text(Self.jsonArray(orders.map(\.id)))])
        while try lines.step() {
            guard let i = index[lines.text(0) ?? ""] else { continue }
            orders[i].lines.append(Self.orderLine(lines))
        }
        return orders
    }

    /// The line in the current row of a statement selecting `order_id, item_id, name, quantity, unit_price, options`.
    static func orderLine(_ s: SQLiteStatement) -> OrderLine {
        OrderLine(
            itemID: s.text(1) ?? "", name: s.text(2) ?? "", quantity: Int(s.int64(3)), unitPrice: s.int64(4),
            options: Self.decodeOptions(s.bytes(5)))
    }

    /// The order's own columns, in the order ``orderRecord(_:)`` reads them.
    static let orderColumns = """
        id, customer_id, restaurant_id, status, agent_id, payment_method, currency, subtotal, delivery_fee, tax, total,
        address, drop_lat, drop_lon, zone_id, prep_minutes, ready_at, created, updated
        """

    /// The order (without its lines) in the current row of a statement that selects ``orderColumns`` first.
    static func orderRecord(_ s: SQLiteStatement) -> OrderRecord {
        OrderRecord(
            id: s.text(0) ?? "", customerID: s.int64(1), restaurantID: s.text(2) ?? "",
            status: OrderStatus(rawValue: s.text(3) ?? "") ?? .failed, agentID: s.text(4),
            paymentMethod: PaymentMethod(rawValue: s.text(5) ?? "") ?? .card, currency: s.text(6) ?? "",
            subtotal: s.int64(7), deliveryFee: s.int64(8), tax: s.int64(9), total: s.int64(10),
            address: s.text(11) ?? "",
            dropLat: s.double(12), dropLon: s.double(13), zoneID: s.text(14),
            prepMinutes: s.isNull(15) ? nil : Int(s.int64(15)), readyAt: s.isNull(16) ? nil : s.int64(16),
            createdAt: s.int64(17), updatedAt: s.int64(18), lines: [])
    }

    static func encodeOptions(_ options: [OrderLineOption]) -> [UInt8] {
        Array((try? JSONEncoder().encode(options)) ?? Data("[]".utf8))
    }

    static func decodeOptions(_ bytes: [UInt8]) -> [OrderLineOption] {
        if bytes.isEmpty || bytes == Array("[]".utf8) { return [] }  // most lines: no JSONDecoder
        return (try? JSONDecoder().decode([OrderLineOption].self, from: Data(bytes))) ?? []
    }
}
