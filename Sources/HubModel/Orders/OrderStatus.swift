/// Where an order is in its life. The kitchen side (`placed` → `confirmed` → `preparing` → `readyForPickup`) and
/// the delivery side (`assigned` → `pickedUp` → `delivered`) are one machine: an agent can be assigned while the
/// kitchen is still at `confirmed` or `preparing`, and the kitchen's readiness is then kept in
/// ``OrderRecord/readyAt`` (see ``OrderStatus/transition(from:action:kitchenReady:)``).
package enum OrderStatus: String, Sendable, Codable, CaseIterable {
    case placed, confirmed, rejected, preparing
    case readyForPickup = "ready_for_pickup"
    case assigned
    case pickedUp = "picked_up"
    case delivered, cancelled, failed

    /// No transition leaves a terminal state.
    package var isTerminal: Bool { [.rejected, .delivered, .cancelled, .failed].contains(self) }

    /// True from assignment until delivery: the window in which the customer may see the agent's position.
    package var showsAgent: Bool { [.assigned, .pickedUp].contains(self) }
}

/// Something done to an order.
package enum OrderAction: String, Sendable, Codable, CaseIterable {
    /// The restaurant accepts (with a preparation time).
    case accept
    case reject
    /// The restaurant starts cooking.
    case prepare
    /// The food is ready for pickup.
    case ready
    /// An agent is assigned (operator by hand, or dispatch).
    case assign
    /// The assigned agent gives the order back (offer rejected after assignment, agent lost before pickup).
    case unassign
    case pickup
    case deliver
    case cancel
    case fail
}

/// An illegal transition: the action does not apply in the current state (answered with 409 and the state).
package struct OrderTransitionError: Error, Sendable, Equatable, CustomStringConvertible {
    package var current: OrderStatus
    package var action: OrderAction
    package var description: String { "cannot \(action.rawValue) an order that is \(current.rawValue)" }

    package init(current: OrderStatus, action: OrderAction) {
        self.current = current
        self.action = action
    }
}

extension OrderStatus {
    /// The state after `action`, or ``OrderTransitionError``. `kitchenReady` says whether the restaurant has
    /// already marked the food ready (so `unassign` returns to `readyForPickup` rather than `confirmed`).
    ///
    /// placed → confirmed (accept) | rejected (reject); confirmed → preparing → ready_for_pickup; assigned from
    /// confirmed, preparing or ready_for_pickup; assigned → picked_up → delivered; `ready`/`prepare` on an assigned
    /// order only record the kitchen's progress (the status stays `assigned`); cancel from any non-terminal state
    /// before pickup (who may cancel when is the caller's policy); fail from any non-terminal state after
    /// confirmation.
    package static func transition(from current: OrderStatus, action: OrderAction, kitchenReady: Bool = false)
        throws(OrderTransitionError) -> OrderStatus
    {
        let next: OrderStatus? =
            switch (current, action) {
            case (.placed, .accept): .confirmed
            case (.placed, .reject): .rejected
            case (.confirmed, .prepare): .preparing
            case (.confirmed, .ready), (.preparing, .ready): .readyForPickup
            case (.confirmed, .assign), (.preparing, .assign), (.readyForPickup, .assign): .assigned
            case (.assigned, .prepare), (.assigned, .ready): .assigned
            case (.assigned, .unassign): kitchenReady ? .readyForPickup : .confirmed
            case (.assigned, .pickup): .pickedUp
            case (.pickedUp, .deliver): .delivered
            case (.placed, .cancel), (.confirmed, .cancel), (.preparing, .cancel), (.readyForPickup, .cancel),
                (.assigned, .cancel):
                .cancelled
            case (.confirmed, .fail), (.preparing, .fail), (.readyForPickup, .fail), (.assigned, .fail),
                (.pickedUp, .fail):
                .failed
            default: nil
            }
        guard let next else { throw OrderTransitionError(current: current, action: action) }
        return next
    }
}
