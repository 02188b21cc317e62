import DabbaCore
import DabbaProtocol

/// What every path that gives an agent an order checks, inside the transaction that writes it: an offer
/// (``DispatchRepository/createOffer(_:limits:)``), its acceptance (``DispatchRepository/acceptOffer(order:agent:actor:limits:now:)``),
/// an operator's assignment (``DispatchRepository/assignOrder(order:agent:actor:reason:limits:)``). A batch round
/// that stacks two orders on one agent makes two offers, each checked against the other.
///
/// The agent must be on shift and online (its retained state), and after this order it may carry and hold on
/// offer at most `capacity` orders; a cash-on-delivery order must keep the agent's **cash exposure** in the order's
/// currency within `codCashLimit`. The exposure is everything the agent holds or will hold:
/// - its ledger balance (`agent:{id}:cash`: cash posted by the payment reactor, minus hand-ins, plus cash recorded
///   from refused device events),
/// - cash of its delivered orders the reactor has not posted yet (`cod_unposted`),
/// - the totals of the cash orders it carries (assigned or picked up),
/// - the totals of the cash orders offered to it and still pending (other than this one).
package struct AssignmentLimits: Sendable, Equatable {
    package var capacity: Int
    package var codCashLimit: Int64
    /// Whether the agent's stored state must say online. False only for an accept the device itself sent: the
    /// device is plainly connected, while its stored state may still be the broker's will from before a restart
    /// (the queued event can reach the hub before the new `online` state).
    package var requireOnline: Bool

    package init(capacity: Int, codCashLimit: Int64, requireOnline: Bool = true) {
        self.capacity = capacity
        self.codCashLimit = codCashLimit
        self.requireOnline = requireOnline
    }
}

/// Why an order could not be offered to, accepted by or assigned to an agent; the message is what the API answers
/// (409) and what the dispatch trail records (outcome `refused`).
package enum AssignmentRefusal: Error, Sendable, Equatable, CustomStringConvertible {
    case unknownOrder(String)
    case unknownAgent(String)
    /// The order does not wait for an agent (its state, or it has one).
    case notWaiting(order: String, status: OrderStatus, agent: String?)
    /// The order already has a pending offer (to `agent`).
    case alreadyOffered(order: String, agent: String)
    /// The state machine refuses the change (message names the current state, as every illegal action does).
    case illegal(OrderTransitionError)
    case offShift(agent: String)
    case offline(agent: String)
    case atCapacity(agent: String, carried: Int, offered: Int, capacity: Int)
    /// Offers stack only orders of one restaurant.
    case otherRestaurant(agent: String, carrying: String)
    case cashLimit(agent: String, exposure: Int64, amount: Int64, limit: Int64, currency: String)
    /// The agent rejected the order, gave it back or let a delivered offer of it lapse.
    case excluded(agent: String, order: String)
    case noPendingOffer(order: String, agent: String)
    /// Accepted at or after the offer's deadline (dispatcher clock).
    case lapsed(order: String, agent: String, deadline: Int64)

    package var description: String {
        switch self {
        case .unknownOrder(let order): "no order \(order)"
        case .unknownAgent(let agent): "no agent \(agent)"
        case .notWaiting(let order, let status, let agent):
            "order \(order) is \(status.rawValue)\(agent.map { " with agent \($0)" } ?? ""): it does not wait for an agent"
        case .alreadyOffered(let order, let agent): "order \(order) is already offered to \(agent)"
        case .illegal(let error): error.description + " (current state: \(error.current.rawValue))"
        case .offShift(let agent): "agent \(agent) is not on shift"
        case .offline(let agent): "agent \(agent) is offline"
        case .atCapacity(let agent, let carried, let offered, let capacity):
            "agent \(agent) is at capacity: carries \(carried) and holds \(offered) other pending offers "
                + "(agent-capacity \(capacity))"
        case .otherRestaurant(let agent, let carrying):
            "agent \(agent) carries orders from restaurant \(carrying): offers stack one restaurant's orders"
        case .cashLimit(let agent, let exposure, let amount, let limit, let currency):
            "agent \(agent) would exceed the cash limit: holds or is due \(exposure) \(currency), the order is "
                + "\(amount), cod-cash-limit \(limit)"
        case .excluded(let agent, let order): "agent \(agent) rejected or let lapse order \(order)"
        case .noPendingOffer(let order, let agent):
            "no pending offer of order \(order) for \(agent) (it lapsed or was withdrawn)"
        case .lapsed(let order, let agent, let deadline):
            "the offer of order \(order) to \(agent) lapsed at \(Timestamp.format(milliseconds: deadline)); "
                + "it can no longer be accepted"
        }
    }

    /// A short code for metrics and logs.
    package var code: String {
        switch self {
        case .unknownOrder, .unknownAgent: "unknown"
        case .notWaiting, .alreadyOffered, .illegal: "state"
        case .offShift: "off_shift"
        case .offline: "offline"
        case .atCapacity: "capacity"
        case .otherRestaurant: "other_restaurant"
        case .cashLimit: "cash_limit"
        case .excluded: "excluded"
        case .noPendingOffer: "no_offer"
        case .lapsed: "lapsed"
        }
    }
}

/// What became of an offer the dispatcher tried to make.
package enum OfferOutcome: Sendable, Equatable {
    case offered(Offer)
    case refused(AssignmentRefusal)
}

/// What became of an accept or an operator's assignment: the order assigned with its event, and the pending offers
/// of the order to other agents that were withdrawn with it; or why not.
package enum AssignmentOutcome: Sendable {
    case assigned(OrderRecord, OrderEvent, withdrawn: [Offer])
    case refused(AssignmentRefusal)
}
