import DabbaCore
import DabbaProtocol
import HubModel
import PostgresNIO

/// Device pickups and deliveries (``DeviceAction``): decided, applied, the event marked applied, and for a refusal
/// the cash posted and the alert raised — all in one transaction, so an event is acted on exactly once.
extension PostgresHubStore {
    /// One READ COMMITTED transaction that locks the order's row first (``readOrder(id:forUpdate:on:)``): the
    /// decision is made from the order as the last change committed it, and the change, the event's `applied` flag,
    /// a refusal's cash posting and its alert commit together. Two hubs applying the same event (a redelivery) are
    /// serialised on the order's row; the second finds the change done (`repeated`).
    package func applyDeviceAction(_ action: DeviceAction) async throws(StoreError) -> DeviceActionOutcome {
        try await transaction { connection -> DeviceActionOutcome in
            let (outcome, order) = try await decide(action, on: connection)
            try await connection.query(
                "UPDATE events SET applied = true WHERE agent = \(action.agent) AND seq = \(action.seq)",
                logger: logger)
            guard case .refused(var refusal) = outcome else { return outcome }
            let cash = action.action == .deliver ? action.cashCollected ?? 0 : 0
            if cash > 0, let order {
                try await post(
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
                    now: wallClockMilliseconds(), on: connection)
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
                let raised = try await insertAlert(
                    kind: kind, agent: action.agent, order: action.order, message: message, append: true,
                    on: connection)
                if !raised { refusal.alert = nil }  // an existing alert was extended, not a new one
            }
            return .refused(refusal)
        }
    }

    /// Decides and, when it applies, writes the action; returns the outcome and the order as it was.
    private func decide(_ action: DeviceAction, on connection: PostgresConnection) async throws
        -> (DeviceActionOutcome, OrderRecord?)
    {
        guard let order = try await readOrder(id: action.order, forUpdate: true, on: connection) else {
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
            switch try await changeOrder(change, order.id, on: connection) {
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
        let takenAt =
            try await connection.scalar(
                Int64?.self,
                """
                SELECT max(time) FROM order_events
                WHERE order_id = \(order.id) AND action = 'unassign' AND agent_id = \(action.agent)
                """, logger) ?? nil
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
        if let offered = try await pendingOfferAgent(order: order.id, on: connection),
            let closed = try await closePending(
                order: order.id, agent: offered, state: .withdrawn, reason: reason, on: connection)
        {
            withdrawn.append(closed)
        }
        for change in Self.lateChanges(action, order: order, reason: reason) {
            guard case .changed(_, let event) = try await changeOrder(change, order.id, on: connection) else {
                throw StoreError(.conflict, "order \(order.id): \(change.action.rawValue) does not apply")
            }
            events.append(event)
        }
        // The order is back with this agent whatever else it held: offers it holds for other orders were made while
        // it seemed free, and may now exceed its capacity or cash limit. Withdraw them (dispatch offers them again),
        // holding the agent's row like every path that adds to its load (after the order's: the same lock order).
        try await connection.query("SELECT 1 FROM agents WHERE id = \(action.agent) FOR UPDATE", logger: logger)
        let others = try await readOffers(
            "WHERE f.agent_id = \(action.agent) AND f.state = 'pending' AND f.order_id <> \(order.id) ORDER BY f.id",
            on: connection)
        for offer in others {
            let why = "\(action.agent) has order \(order.id) back (\(reason))"
            if let closed = try await closePending(
                order: offer.order, agent: action.agent, state: .withdrawn, reason: why, on: connection)
            {
                withdrawn.append(closed)
            }
        }
        guard let updated = try await readOrder(id: order.id, on: connection) else {
            throw StoreError(.other, "order \(order.id) vanished")
        }
        return (.applied(updated, events: events, withdrawn: withdrawn, late: true), order)
    }

    /// The changes that apply a late pickup or delivery made before the order was taken back: unassign (when it is
    /// assigned to someone else), assign to the agent, pick up, and deliver.
    private static func lateChanges(_ action: DeviceAction, order: OrderRecord, reason: String) -> [OrderChange] {
        let actor = "agent:\(action.agent)"
        var changes: [OrderChange] = []
        if order.status == .assigned { changes.append(OrderChange(action: .unassign, actor: "system", reason: reason)) }
        changes.append(OrderChange(action: .assign, actor: "system", reason: reason, agent: action.agent))
        changes.append(OrderChange(action: .pickup, actor: actor, requiredAgent: action.agent))
        if action.action == .deliver {
            changes.append(
                OrderChange(
                    action: .deliver, actor: actor, cashCollected: action.cashCollected, requiredAgent: action.agent))
        }
        return changes
    }
}
