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
            guard case .refused(let refused) = outcome else { return outcome }
            var (refusal, posting, alertMessage) = action.recording(refused, order: order)
            if let posting { try await post(posting, now: wallClockMilliseconds(), on: connection) }
            if let kind = refusal.alert, let alertMessage {
                let raised = try await insertAlert(
                    kind: kind, agent: action.agent, order: action.order, message: alertMessage, append: true,
                    on: connection)
                if !raised { refusal.alert = nil }  // an existing alert was extended, not a new one
            }
            return .refused(refusal)
        }
    }

    /// Decides (``DeviceAction/plan(order:takenAt:)``) and, when it applies, writes the action; returns the outcome
    /// and the order as it was.
    private func decide(_ action: DeviceAction, on connection: PostgresSession) async throws
        -> (DeviceActionOutcome, OrderRecord?)
    {
        let order = try await readOrder(id: action.order, forUpdate: true, on: connection)
        let takenAt =
            action.needsTakenAt(order)
            ? try await connection.scalar(
                Int64?.self,
                """
                SELECT max(time) FROM order_events
                WHERE order_id = \(action.order) AND action = 'unassign' AND agent_id = \(action.agent)
                """, logger) ?? nil : nil
        switch action.plan(order: order, takenAt: takenAt) {
        case .refuse(let refusal): return (.refused(refusal), order)
        case .repeated: return (.repeated, order)
        case .apply(let change):
            return (action.outcome(of: try await changeOrder(change, action.order, on: connection)), order)
        case .reclaim(let changes, let reason):
            return (try await reclaim(action, changes: changes, reason: reason, on: connection), order)
        }
    }

    /// Carries out ``DeviceActionPlan/reclaim(changes:reason:)``; the agent's pending offers of other orders are
    /// withdrawn holding the agent's row like every path that adds to its load (after the order's: one lock order).
    private func reclaim(
        _ action: DeviceAction, changes: [OrderChange], reason: String, on connection: PostgresSession
    ) async throws -> DeviceActionOutcome {
        var events: [OrderEvent] = []
        var withdrawn: [Offer] = []
        if let offered = try await pendingOfferAgent(order: action.order, on: connection),
            let closed = try await closePending(
                order: action.order, agent: offered, state: .withdrawn, reason: reason, on: connection)
        {
            withdrawn.append(closed)
        }
        for change in changes {
            guard case .changed(_, let event) = try await changeOrder(change, action.order, on: connection) else {
                throw StoreError(.conflict, "order \(action.order): \(change.action.rawValue) does not apply")
            }
            events.append(event)
        }
        try await connection.query("SELECT 1 FROM agents WHERE id = \(action.agent) FOR UPDATE", logger: logger)
        let others = try await readOffers(
            "WHERE f.agent_id = \(action.agent) AND f.state = 'pending' AND f.order_id <> \(action.order) ORDER BY f.id",
            on: connection)
        for offer in others {
            if let closed = try await closePending(
                order: offer.order, agent: action.agent, state: .withdrawn, reason: action.otherOfferReason(reason),
                on: connection)
            {
                withdrawn.append(closed)
            }
        }
        guard let updated = try await readOrder(id: action.order, on: connection) else {
            throw StoreError(.other, "order \(action.order) vanished")
        }
        return .applied(updated, events: events, withdrawn: withdrawn, late: true)
    }
}
