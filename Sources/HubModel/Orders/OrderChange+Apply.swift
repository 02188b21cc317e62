import DabbaCore
import DabbaProtocol

/// The result of one ``OrderChange`` against an order: decided by ``OrderChange/apply(to:id:now:)``, written by a
/// backend inside its transaction.
package enum OrderChangeOutcome: Sendable {
    /// The order as it is after the change, and its trail entry (written: with the id the store gave it).
    case changed(OrderRecord, OrderEvent)
    case illegal(OrderTransitionError)
    case notFound

    /// The changed order and entry, or the store error a caller sees (`illegal_transition`, `not_found`).
    package func get(_ id: String) throws(StoreError) -> (OrderRecord, OrderEvent) {
        switch self {
        case .changed(let order, let event): return (order, event)
        case .illegal(let e):
            throw StoreError(.illegalTransition, e.description + " (current state: \(e.current.rawValue))")
        case .notFound: throw StoreError(.notFound, "no order \(id)")
        }
    }
}

extension OrderChange {
    /// Decides this change against order `id` as the transaction read it (`order`; nil: no such order) at `now`
    /// (Unix ms): the order as it will be and its trail entry (id 0, for the store to number), or why it does not
    /// apply. Pure: the backend writes the order's row, inserts the entry, and for a delivery stamps the agent's
    /// `last_delivery_at` (dispatch fairness) — both backends decide here, so they cannot disagree.
    package func apply(to order: OrderRecord?, id: String, now: Int64) -> OrderChangeOutcome {
        guard var order else { return .notFound }
        if let requiredAgent, order.agentID != requiredAgent { return .notFound }
        let previous = order.status
        let previousAgent = order.agentID
        if let allowedFrom, !allowedFrom.contains(previous) {
            return .illegal(OrderTransitionError(current: previous, action: action))
        }
        switch Result(catching: { () throws(OrderTransitionError) in
            try OrderStatus.transition(from: previous, action: action, kitchenReady: order.readyAt != nil)
        }) {
        case .success(let next): order.status = next
        case .failure(let error): return .illegal(error)
        }
        switch action {
        case .accept: order.prepMinutes = prepMinutes
        case .ready: order.readyAt = order.readyAt ?? now
        case .assign: order.agentID = agent
        case .unassign: order.agentID = nil
        default: break
        }
        order.updatedAt = now
        let entry = OrderEvent(
            id: 0, order: id, restaurant: order.restaurantID, customer: order.customerID,
            agent: order.agentID ?? (action == .unassign ? previousAgent : nil), status: order.status,
            previous: previous, action: action, time: Timestamp.format(milliseconds: now), actor: actor,
            reason: reason, cashCollected: action == .deliver ? cashCollected : nil)
        return .changed(order, entry)
    }
}
