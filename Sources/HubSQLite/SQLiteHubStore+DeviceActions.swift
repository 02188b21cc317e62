import DabbaCore
import DabbaProtocol
import DabbaSQLite
import HubModel

/// Device pickups and deliveries (``DeviceAction``): decided, applied, the event marked applied, and for a refusal
/// the cash posted and the alert raised — all in one transaction, so an event is acted on exactly once.
extension SQLiteHubStore {
    package func applyDeviceAction(_ action: DeviceAction) throws(StoreError) -> DeviceActionOutcome {
        try writeTransaction { () throws(StoreError) -> DeviceActionOutcome in
            let decided = try run { () throws(SQLiteError) -> (DeviceActionOutcome, OrderRecord?) in
                try decide(action)
            }
            try run { () throws(SQLiteError) in
                try db.prepare("UPDATE events SET applied = 1 WHERE agent = ? AND seq = ?").run([
                    .text(action.agent), .integer(action.seq),
                ])
            }
            guard case .refused(var refusal) = decided.0 else { return decided.0 }
            let order = decided.1
            let cash = action.action == .deliver ? action.cashCollected ?? 0 : 0
            if cash > 0, let order {
                try post(
                    LedgerPosting(
                        kind: "cash_unapplied", orderID: order.id, currency: order.currency,
                        actor: "agent:\(action.agent)",
                        memo:
                            "device event \(action.seq) (delivered at \(Timestamp.format(milliseconds: action.time))) "
                            + "not applied: \(refusal.message)",
                        legs: [
                            LedgerLeg(.debit, LedgerAccount.agentCash(action.agent), cash),
                            LedgerLeg(.credit, LedgerAccount.platformCashUnapplied, cash),
                        ]),
                    now: wallClockMilliseconds())
                refusal.cashRecorded = cash
                refusal.alert = refusal.alert ?? DeviceActionRefusal.cashAlert
            } else if cash > 0 {
                // No such order: its currency is unknown, so the cash cannot be posted; operators are told.
                refusal.alert = refusal.alert ?? DeviceActionRefusal.cashAlert
            }
            if let kind = refusal.alert {
                var message =
                    "agent \(action.agent) reported \(action.action == .pickup ? "picked_up" : "delivered") of "
                    + "order \(action.order) (event \(action.seq), made at \(Timestamp.format(milliseconds: action.time))), "
                    + "not applied: \(refusal.message)"
                if let cash = refusal.cashRecorded, let order {
                    message +=
                        "; its cash \(cash) \(order.currency) is posted to \(LedgerAccount.agentCash(action.agent))"
                } else if cash > 0 {
                    message += "; it reported \(cash) in cash, not posted (no such order, currency unknown)"
                }
                let raised = try run { () throws(SQLiteError) -> Bool in
                    try insertAlert(
                        kind: kind, agent: action.agent, order: action.order, message: message, append: true)
                }
                if !raised { refusal.alert = nil }  // an existing alert was extended, not a new one
            }
            return .refused(refusal)
        }
    }

    /// Decides and, when it applies, writes the action; returns the outcome and the order as it was.
    private func decide(_ action: DeviceAction) throws(SQLiteError) -> (DeviceActionOutcome, OrderRecord?) {
        guard let order = try readOrder(id: action.order) else {
            return (.refused(.init(message: "no order \(action.order)", alert: nil, cashRecorded: nil)), nil)
        }
        let actor = "agent:\(action.agent)"
        if order.agentID == action.agent {
            if order.status == .delivered || (action.action == .pickup && order.status == .pickedUp) {
                return (.repeated, order)
            }
            let change = OrderChange(
                action: action.action, actor: actor,
                cashCollected: action.action == .deliver ? action.cashCollected : nil,
                requiredAgent: action.agent)
            switch try changeOrder(change, order.id) {
            case .changed(let updated, let event):
                return (.applied(updated, events: [event], withdrawn: [], late: false), order)
            case .illegal(let error):
                let message = error.description + " (current state: \(error.current.rawValue))"
                return (.refused(.init(message: message, alert: nil, cashRecorded: nil)), order)
            case .notFound:
                return (.refused(.init(message: "no order \(order.id)", alert: nil, cashRecorded: nil)), order)
            }
        }
        // The order does not name this agent. Was it taken from it, and when?
        let takenAt = try db.scalarInt(
            "SELECT MAX(time) FROM order_events WHERE order_id = ? AND action = 'unassign' AND agent_id = ?",
            [.text(order.id), .text(action.agent)])
        guard let takenAt else {
            let holder = order.agentID.map { "it is assigned to \($0)" } ?? "it was never assigned to \(action.agent)"
            return (
                .refused(
                    .init(
                        message: "order \(order.id) is not \(action.agent)'s: \(holder)", alert: nil, cashRecorded: nil)
                ),
                order
            )
        }
        let taken = Timestamp.format(milliseconds: takenAt)
        guard action.time < takenAt else {
            let now =
                order.agentID.map { "; it is \(order.status.rawValue) with \($0)" }
                ?? "; it is \(order.status.rawValue)"
            return (
                .refused(
                    .init(
                        message: "made after the order was taken from \(action.agent) at \(taken)\(now)",
                        alert: DeviceActionRefusal.lateAlert, cashRecorded: nil)), order
            )
        }
        // Made before the order was taken back: the food is with this agent, unless someone else picked it up or the
        // order ended meanwhile.
        guard Self.waitingStates.contains(order.status) || order.status == .assigned else {
            let holder = order.agentID.map { " by \($0)" } ?? ""
            return (
                .refused(
                    .init(
                        message: "made before the order was taken from \(action.agent) at \(taken), but the order is "
                            + "\(order.status.rawValue)\(holder) now", alert: DeviceActionRefusal.lateAlert,
                        cashRecorded: nil)), order
            )
        }
        let reason = "\(action.agent) picked it up before it was taken back at \(taken)"
        var events: [OrderEvent] = []
        var withdrawn: [Offer] = []
        if let offered = try pendingOfferAgent(order: order.id),
            let closed = try closePending(order: order.id, agent: offered, state: .withdrawn, reason: reason)
        {
            withdrawn.append(closed)
        }
        func apply(_ change: OrderChange) throws(SQLiteError) {
            guard case .changed(_, let event) = try changeOrder(change, order.id) else {
                throw SQLiteError(
                    extendedCode: 19, message: "order \(order.id): \(change.action.rawValue) does not apply")
            }
            events.append(event)
        }
        if order.status == .assigned { try apply(OrderChange(action: .unassign, actor: "system", reason: reason)) }
        try apply(OrderChange(action: .assign, actor: "system", reason: reason, agent: action.agent))
        try apply(OrderChange(action: .pickup, actor: actor, requiredAgent: action.agent))
        if action.action == .deliver {
            try apply(
                OrderChange(
                    action: .deliver, actor: actor, cashCollected: action.cashCollected, requiredAgent: action.agent))
        }
        // The order is back with this agent whatever else it held: offers it holds for other orders were made while
        // it seemed free, and may now exceed its capacity or cash limit. Withdraw them; dispatch offers them again.
        let others = try readOffersRaw(
            "WHERE agent_id = ? AND state = 'pending' AND order_id <> ?", [.text(action.agent), .text(order.id)])
        for offer in others {
            let why = "\(action.agent) has order \(order.id) back (\(reason))"
            if let closed = try closePending(order: offer.order, agent: action.agent, state: .withdrawn, reason: why) {
                withdrawn.append(closed)
            }
        }
        guard let updated = try readOrder(id: order.id) else {
            throw SQLiteError(extendedCode: 1, message: "order vanished")
        }
        return (.applied(updated, events: events, withdrawn: withdrawn, late: true), order)
    }

    /// Inserts an alert unless one of the same kind, agent and order exists; with `append`, an existing one gets
    /// `message` appended instead. True when a new alert was inserted.
    func insertAlert(kind: String, agent: String?, order: String?, message: String, append: Bool = false)
        throws(SQLiteError) -> Bool
    {
        // `IS`, not the UNIQUE constraint, decides "once": the constraint lets rows with a NULL agent repeat.
        try db.prepare(
            """
            INSERT INTO alerts(time, kind, agent_id, order_id, message) SELECT ?1, ?2, ?3, ?4, ?5
            WHERE NOT EXISTS (SELECT 1 FROM alerts WHERE kind = ?2 AND agent_id IS ?3 AND order_id IS ?4)
            ON CONFLICT DO NOTHING
            """
        ).run([
            .integer(wallClockMilliseconds()), .text(kind), agent.map { .text($0) } ?? .null,
            order.map { .text($0) } ?? .null, .text(message),
        ])
        if db.changes == 1 { return true }
        if append {
            try db.prepare(
                "UPDATE alerts SET message = message || '; then ' || ?4 WHERE kind = ?1 AND agent_id IS ?2 AND order_id IS ?3"
            ).run([.text(kind), agent.map { .text($0) } ?? .null, order.map { .text($0) } ?? .null, .text(message)])
        }
        return false
    }
}
