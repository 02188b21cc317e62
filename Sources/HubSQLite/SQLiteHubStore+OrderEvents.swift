import DabbaCore
import DabbaProtocol
import DabbaSQLite
import HubModel

extension SQLiteHubStore: OrderEventLog {
    package func orderEvents(after: Int64, limit: Int) throws(StoreError) -> [OrderEvent] {
        try run { () throws(SQLiteError) in
            try readEvents(
                Self.orderEventSelect + " WHERE id > ? ORDER BY id LIMIT ?", [.integer(after), .integer(Int64(limit))])
        }
    }

    package func orderEvents(order: String) throws(StoreError) -> [OrderEvent] {
        try run { () throws(SQLiteError) in
            try readEvents(Self.orderEventSelect + " WHERE order_id = ? ORDER BY id", [.text(order)])
        }
    }

    /// Appends one transition to the audit trail and returns it with its id. Call inside the transaction that
    /// changes the order, so the trail and the order never disagree.
    func insertOrderEvent(_ event: OrderEvent) throws(SQLiteError) -> OrderEvent {
        try db.prepare(
            """
            INSERT INTO order_events(order_id, restaurant_id, customer_id, agent_id, status, previous, action, time,
                actor, reason, cash_collected) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """
        ).run([
            .text(event.order), .text(event.restaurant), .integer(event.customer),
            event.agent.map { .text($0) } ?? .null,
            .text(event.status.rawValue), event.previous.map { .text($0.rawValue) } ?? .null,
            event.action.map { .text($0.rawValue) } ?? .null, .integer(Timestamp.parse(event.time) ?? 0),
            .text(event.actor), event.reason.map { .text($0) } ?? .null,
            event.cashCollected.map { .integer($0) } ?? .null,
        ])
        var stored = event
        stored.id = try db.scalarInt("SELECT last_insert_rowid()") ?? 0
        return stored
    }

    /// Appends `event` in a transaction of its own (tests and consumers that record events without an order
    /// change).
    package func appendOrderEvent(_ event: OrderEvent) throws(StoreError) -> OrderEvent {
        try run { () throws(SQLiteError) in try db.transaction { () throws(SQLiteError) in try insertOrderEvent(event) }
        }
    }

    static let orderEventSelect =
        "SELECT id, order_id, restaurant_id, customer_id, agent_id, status, previous, action, time, actor, reason, cash_collected FROM order_events"

    private func readEvents(_ sql: String, _ bindings: [SQLiteValue]) throws(SQLiteError) -> [OrderEvent] {
        let s = try db.prepare(sql)
        defer { s.reset() }
        try s.bind(bindings)
        var events: [OrderEvent] = []
        while try s.step() {
            events.append(
                OrderEvent(
                    id: s.int64(0), order: s.text(1) ?? "", restaurant: s.text(2) ?? "", customer: s.int64(3),
                    agent: s.text(4), status: OrderStatus(rawValue: s.text(5) ?? "") ?? .failed,
                    previous: s.text(6).flatMap(OrderStatus.init(rawValue:)),
                    action: s.text(7).flatMap(OrderAction.init(rawValue:)),
                    time: Timestamp.format(milliseconds: s.int64(8)), actor: s.text(9) ?? "", reason: s.text(10),
                    cashCollected: s.isNull(11) ? nil : s.int64(11)))
        }
        return events
    }
}
