import DabbaCore
import DabbaProtocol

/// A pickup or delivery an agent's device reported (`…/events`, `picked_up` or `delivered`), applied once by
/// ``DispatchRepository/applyDeviceAction(_:)``.
///
/// The rule for an event about an order that no longer names the agent (its order was taken back: the agent was
/// offline longer than `dispatch-offline-grace`, gave it back, or an operator unassigned it):
/// - made **before** the order was last taken from this agent (the event's own `time` against the time of that
///   unassignment): the agent had the food, so the pickup wins — a pending offer of the order to another agent is
///   withdrawn, another agent's assignment is undone (it is told: its task is cancelled), and the order is assigned
///   back to this agent and picked up (and delivered, for a `delivered` event), as long as nobody else has picked it
///   up and it has not ended;
/// - made **after** it, or the order has moved on: refused, with one operator alert (`late_event_refused`) per
///   agent and order.
///
/// Cash a device reports is never dropped: a `delivered` event that is refused (late, or not applicable for any
/// other reason) has its `cashCollected` posted to the agent's cash account (`agent:{id}:cash`) against
/// `platform:cash-unapplied` (a balanced ledger transaction of kind `cash_unapplied`, memo naming the event), so the
/// agent's cash balance, the hand-in check and the cash limit all count it, and an alert (`device_event_refused`,
/// or the `late_event_refused` one, its message extended) tells operators to sort it out.
package struct DeviceAction: Sendable, Equatable {
    package var agent: String
    package var seq: Int64
    package var order: String
    /// `.pickup` or `.deliver`.
    package var action: OrderAction
    /// When the device says it happened (Unix ms).
    package var time: Int64
    package var cashCollected: Int64?

    package init(agent: String, seq: Int64, order: String, action: OrderAction, time: Int64, cashCollected: Int64?) {
        self.agent = agent
        self.seq = seq
        self.order = order
        self.action = action
        self.time = time
        self.cashCollected = cashCollected
    }
}

/// What became of a ``DeviceAction``.
package enum DeviceActionOutcome: Sendable {
    /// Applied. `events` in the order they were committed; `withdrawn` the offers of the order to other agents that
    /// ended with it; `late`: a pickup made before the order was taken back, which won over the agent that had it.
    case applied(OrderRecord, events: [OrderEvent], withdrawn: [Offer], late: Bool)
    /// Already recorded (the same action over REST first, or a repeat): nothing changed.
    case repeated
    case refused(DeviceActionRefusal)
}

/// Why a device action was not applied, and what was recorded instead.
package struct DeviceActionRefusal: Sendable, Equatable {
    package var message: String
    /// The alert kind raised or extended (nil: none; an action that changes nothing and reports no cash is only
    /// counted and logged).
    package var alert: String?
    /// Cash posted to the agent's account instead of with the delivery, in the order's currency.
    package var cashRecorded: Int64?

    package init(message: String, alert: String?, cashRecorded: Int64?) {
        self.message = message
        self.alert = alert
        self.cashRecorded = cashRecorded
    }

    /// A late event refused (made after the order was taken from the agent).
    package static let lateAlert = "late_event_refused"
    /// Any other refused device event that reported cash.
    package static let cashAlert = "device_event_refused"
}

extension LedgerAccount {
    /// Cash agents reported with device events that were not applied (``DeviceAction``): credited when the cash is
    /// posted to the agent, until an operator sorts it out.
    package static let platformCashUnapplied = "platform:cash-unapplied"
}
