import DabbaCore
import DabbaProtocol

/// What a ``DeviceAction`` does to its order, decided by ``DeviceAction/plan(order:takenAt:)`` from what the
/// backend's transaction read; the backend carries it out (the rule is in ``DeviceAction``'s documentation).
package enum DeviceActionPlan: Sendable, Equatable {
    /// Not applied; nothing about the order changes (the refusal's cash and alert are recorded by
    /// ``DeviceAction/recording(_:order:)``).
    case refuse(DeviceActionRefusal)
    /// Already done (the same action over REST first, or a redelivery).
    case repeated
    /// The order names the agent: apply this change (``DeviceAction/outcome(of:)`` says what its result means).
    case apply(OrderChange)
    /// Made before the order was taken back from the agent: withdraw the order's pending offer, apply `changes` in
    /// order, then withdraw the agent's pending offers of other orders (``DeviceAction/otherOfferReason(_:)``) — all
    /// with `reason`.
    case reclaim(changes: [OrderChange], reason: String)
}

extension DeviceAction {
    /// The cash this action reports (a `delivered` event's `cashCollected`; 0 for a pickup).
    package var reportedCash: Int64 { action == .deliver ? cashCollected ?? 0 : 0 }

    /// Whether ``plan(order:takenAt:)`` needs `takenAt`: the time of the latest `unassign` trail entry of the
    /// order naming this agent (nil when there is none).
    package func needsTakenAt(_ order: OrderRecord?) -> Bool {
        guard let order else { return false }
        return order.agentID != agent
    }

    /// Decides what this action does to `order` (nil: no such order); `takenAt` as ``needsTakenAt(_:)`` says.
    package func plan(order: OrderRecord?, takenAt: Int64?) -> DeviceActionPlan {
        guard let order else { return .refuse(.init(message: "no order \(self.order)", alert: nil, cashRecorded: nil)) }
        let actor = "agent:\(agent)"
        if order.agentID == agent {
            if order.status == .delivered || (action == .pickup && order.status == .pickedUp) { return .repeated }
            return .apply(
                OrderChange(
                    action: action, actor: actor, cashCollected: action == .deliver ? cashCollected : nil,
                    requiredAgent: agent))
        }
        guard let takenAt else {
            let holder = order.agentID.map { "it is assigned to \($0)" } ?? "it was never assigned to \(agent)"
            return .refuse(
                .init(message: "order \(order.id) is not \(agent)'s: \(holder)", alert: nil, cashRecorded: nil))
        }
        let taken = Timestamp.format(milliseconds: takenAt)
        guard time < takenAt else {
            let now =
                order.agentID.map { "; it is \(order.status.rawValue) with \($0)" }
                ?? "; it is \(order.status.rawValue)"
            return .refuse(
                .init(
                    message: "made after the order was taken from \(agent) at \(taken)\(now)",
                    alert: DeviceActionRefusal.lateAlert, cashRecorded: nil))
        }
        // Made before the order was taken back: the food is with this agent, unless someone else picked it up or the
        // order ended meanwhile.
        guard OrderStatus.waitingForAgent.contains(order.status) || order.status == .assigned else {
            let holder = order.agentID.map { " by \($0)" } ?? ""
            return .refuse(
                .init(
                    message: "made before the order was taken from \(agent) at \(taken), but the order is "
                        + "\(order.status.rawValue)\(holder) now", alert: DeviceActionRefusal.lateAlert,
                    cashRecorded: nil))
        }
        let reason = "\(agent) picked it up before it was taken back at \(taken)"
        var changes: [OrderChange] = []
        if order.status == .assigned { changes.append(OrderChange(action: .unassign, actor: "system", reason: reason)) }
        changes.append(OrderChange(action: .assign, actor: "system", reason: reason, agent: agent))
        changes.append(OrderChange(action: .pickup, actor: actor, requiredAgent: agent))
        if action == .deliver {
            changes.append(
                OrderChange(action: .deliver, actor: actor, cashCollected: cashCollected, requiredAgent: agent))
        }
        return .reclaim(changes: changes, reason: reason)
    }

    /// What applying the ``DeviceActionPlan/apply(_:)`` change means for the action.
    package func outcome(of change: OrderChangeOutcome) -> DeviceActionOutcome {
        switch change {
        case .changed(let updated, let event): return .applied(updated, events: [event], withdrawn: [], late: false)
        case .illegal(let error):
            let message = error.description + " (current state: \(error.current.rawValue))"
            return .refused(.init(message: message, alert: nil, cashRecorded: nil))
        case .notFound: return .refused(.init(message: "no order \(order)", alert: nil, cashRecorded: nil))
        }
    }

    /// Why the agent's pending offer of another order is withdrawn when a reclaim gives it this order back: the offer
    /// was made while it seemed free, and may now exceed its capacity or cash limit (dispatch offers it again).
    package func otherOfferReason(_ reason: String) -> String { "\(agent) has order \(order) back (\(reason))" }

    /// What a refusal records: the reported cash posted to the agent's account (`cash_unapplied`, when the order and
    /// so its currency are known), the refusal with `cashRecorded` and the alert kind to raise, and the alert's
    /// message (nil: no alert — the refusal is only counted and logged).
    package func recording(_ refused: DeviceActionRefusal, order: OrderRecord?)
        -> (refusal: DeviceActionRefusal, posting: LedgerPosting?, alertMessage: String?)
    {
        var refusal = refused
        var posting: LedgerPosting?
        let cash = reportedCash
        let made = Timestamp.format(milliseconds: time)
        if cash > 0, let order {
            posting = LedgerPosting(
                kind: "cash_unapplied", orderID: order.id, currency: order.currency, actor: "agent:\(agent)",
                memo: "device event \(seq) (delivered at \(made)) not applied: \(refusal.message)",
                legs: [
                    LedgerLeg(.debit, LedgerAccount.agentCash(agent), cash),
                    LedgerLeg(.credit, LedgerAccount.platformCashUnapplied, cash),
                ])
            refusal.cashRecorded = cash
            refusal.alert = refusal.alert ?? DeviceActionRefusal.cashAlert
        } else if cash > 0 {
            // No such order: its currency is unknown, so the cash cannot be posted; operators are told.
            refusal.alert = refusal.alert ?? DeviceActionRefusal.cashAlert
        }
        guard refusal.alert != nil else { return (refusal, posting, nil) }
        var message =
            "agent \(agent) reported \(action == .pickup ? "picked_up" : "delivered") of order \(self.order) "
            + "(event \(seq), made at \(made)), not applied: \(refusal.message)"
        if let recorded = refusal.cashRecorded, let order {
            message += "; its cash \(recorded) \(order.currency) is posted to \(LedgerAccount.agentCash(agent))"
        } else if cash > 0 {
            message += "; it reported \(cash) in cash, not posted (no such order, currency unknown)"
        }
        return (refusal, posting, message)
    }
}

/// What a stored `picked_up` or `delivered` device event asks for (``DeviceAction/reading(_:)``).
package enum DeviceActionReading: Sendable, Equatable {
    /// Apply this action.
    case action(DeviceAction)
    /// Its `cashCollected` is outside `0...Money.maxAmount` (the REST path's bound; Int64.max would overflow the
    /// ledger inside the payment reactor's transaction): recorded, counted, never applied.
    case impossibleCash(Int64)
    /// Its payload no longer decodes (the hub checked it at ingest, so the stored row is damaged): recorded,
    /// counted, never applied — applying it without its cash would lose the cash silently.
    case undecodable(String)
    /// Not a pickup or delivery.
    case notAnAction
}

extension DeviceAction {
    /// Reads a stored device event as the dispatcher applies it: a `picked_up`/`delivered` event's action with its
    /// cash checked against `0...Money.maxAmount`, or why it cannot be applied.
    package static func reading(_ event: DeviceEvent) -> DeviceActionReading {
        let action: OrderAction
        switch AgentEvent.Kind(rawValue: event.type) {
        case .pickedUp: action = .pickup
        case .delivered: action = .deliver
        default: return .notAnAction
        }
        let decoded: AgentEvent
        do throws(PayloadError) {
            decoded = try PayloadCoding.decode(AgentEvent.self, from: event.payload)
        } catch {
            return .undecodable(error.message)
        }
        if let cash = decoded.cashCollected, !(0...Money.maxAmount).contains(cash) { return .impossibleCash(cash) }
        return .action(
            DeviceAction(
                agent: event.agent, seq: event.seq, order: event.order, action: action, time: event.time,
                cashCollected: decoded.cashCollected))
    }
}
