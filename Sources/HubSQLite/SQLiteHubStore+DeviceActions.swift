import DabbaCore
import DabbaProtocol
import DabbaSQLite
import HubModel

/// Device pickups and deliveries (``DeviceAction``): decided, applied, the event marked applied, and for a refusal
/// the cash posted and the alert raised — all in one transaction, so an event is acted on exactly once.
extension SQLiteHubStore {
    package func applyDeviceAction(_ action: DeviceAction) throws(StoreError) -> DeviceActionOutcome {
        try writeTransaction { () throws(StoreError) -> DeviceActionOutcome in
            let (outcome, order) = try run { () throws(SQLiteError) -> (DeviceActionOutcome, OrderRecord?) in
                try decide(action)
            }
            try run { () throws(SQLiteError) in
                try db.prepare("UPDATE events SET applied = 1 WHERE agent = ? AND seq = ?").run([
                    .text(action.agent), .integer(action.seq),
                ])
            }
            guard case .refused(let refused) = outcome else { return outcome }
            var (refusal, posting, alertMessage) = action.recording(refused, order: order)
            if let posting { try post(posting, now: wallClockMilliseconds()) }
            if let kind = refusal.alert, let alertMessage {
                let raised = try run { () throws(SQLiteError) -> Bool in
                    try insertAlert(
                        kind: kind, agent: action.agent, order: action.order, message: alertMessage, append: true)
                }
                if !raised { refusal.alert = nil }  // an existing alert was extended, not a new one
            }
            return .refused(refusal)
        }
    }

    /// Decides (``DeviceAction/plan(order:takenAt:)``) and, when it applies, writes the action; returns the outcome
    /// and the order as it was.
    private func decide(_ action: DeviceAction) throws(SQLiteError) -> (DeviceActionOutcome, OrderRecord?) {
        let order = try readOrder(id: action.order)
        let takenAt =
            action.needsTakenAt(order)
            ? try db.scalarInt(
                "SELECT MAX(time) FROM order_events WHERE order_id = ? AND action = 'unassign' AND agent_id = ?",
                [.text(action.order), .text(action.agent)]) : nil
        switch action.plan(order: order, takenAt: takenAt) {
        case .refuse(let refusal): return (.refused(refusal), order)
        case .repeated: return (.repeated, order)
        case .apply(let change): return (action.outcome(of: try changeOrder(change, action.order)), order)
        case .reclaim(let changes, let reason):
            return (try reclaim(action, changes: changes, reason: reason), order)
        }
    }

    /// Carries out ``DeviceActionPlan/reclaim(changes:reason:)``.
    private func reclaim(_ action: DeviceAction, changes: [OrderChange], reason: String) throws(SQLiteError)
        -> DeviceActionOutcome
    {
        var events: [OrderEvent] = []
        var withdrawn: [Offer] = []
        if let offered = try pendingOfferAgent(order: action.order),
            let closed = try closePending(order: action.order, agent: offered, state: .withdrawn, reason: reason)
        {
            withdrawn.append(closed)
        }
        for change in changes {
            guard case .changed(_, let event) = try changeOrder(change, action.order) else {
                throw SQLiteError(
                    extendedCode: 19, message: "order \(action.order): \(change.action.rawValue) does not apply")
            }
            events.append(event)
        }
        let others = try readOffersRaw(
            "WHERE agent_id = ? AND state = 'pending' AND order_id <> ?", [.text(action.agent), .text(action.order)])
        for offer in others {
            if let closed = try closePending(
                order: offer.order, agent: action.agent, state: .withdrawn, reason: action.otherOfferReason(reason))
            {
                withdrawn.append(closed)
            }
        }
        guard let updated = try readOrder(id: action.order) else {
            throw SQLiteError(extendedCode: 1, message: "order vanished")
        }
        return .applied(updated, events: events, withdrawn: withdrawn, late: true)
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
