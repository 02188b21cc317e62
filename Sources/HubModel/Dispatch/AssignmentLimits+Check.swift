import DabbaCore
import DabbaProtocol

/// An order an agent carries (assigned, picked up) or holds a pending offer of, as ``AssignmentLimits`` counts it.
package struct HeldOrder: Sendable, Equatable {
    package var restaurant: String
    /// Cash on delivery.
    package var cash: Bool
    package var currency: String
    package var total: Int64
    /// Held on offer (pending), not carried.
    package var offered: Bool

    package init(restaurant: String, cash: Bool, currency: String, total: Int64, offered: Bool) {
        self.restaurant = restaurant
        self.cash = cash
        self.currency = currency
        self.total = total
        self.offered = offered
    }
}

extension OrderStatus {
    /// The states in which an order waits for an agent (offers and assignments need one of them and no agent).
    package static let waitingForAgent: Set<OrderStatus> = [.confirmed, .preparing, .readyForPickup]
}

extension AssignmentLimits {
    /// The checks for giving `order` to `agent`, from what the backend read inside the transaction that writes the
    /// assignment or offer: whether the agent is on shift, whether its stored state says online (false when it has
    /// none or it does not decode), what it `held`, and — for a cash order only, so the backend reads it only then —
    /// its cash exposure (``exposure(ledger:unposted:held:currency:)``). Nil when it may have the order.
    /// `sameRestaurant` (offers): what the agent carries or is offered must come from the order's restaurant.
    package func refusal(
        agent: String, for order: OrderRecord, onShift: Bool, online: Bool, held: [HeldOrder], sameRestaurant: Bool,
        exposure: Int64?
    ) -> AssignmentRefusal? {
        guard onShift else { return .offShift(agent: agent) }
        guard !requireOnline || online else { return .offline(agent: agent) }
        let offered = held.filter(\.offered).count
        guard held.count + 1 <= capacity else {
            return .atCapacity(agent: agent, carried: held.count - offered, offered: offered, capacity: capacity)
        }
        if sameRestaurant, let other = held.first(where: { $0.restaurant != order.restaurantID }) {
            return .otherRestaurant(agent: agent, carrying: other.restaurant)
        }
        if order.paymentMethod == .cod {
            // Checked: an exposure or a sum past Int64 is over any limit.
            let exposure = exposure ?? Int64.max
            if (Checked.add(exposure, order.total) ?? Int64.max) > codCashLimit {
                return .cashLimit(
                    agent: agent, exposure: exposure, amount: order.total, limit: codCashLimit,
                    currency: order.currency)
            }
        }
        return nil
    }

    /// The agent's cash exposure in `currency`: its ledger balance, its delivered cash not posted yet, and the
    /// cash orders it holds in that currency — checked, saturating at `Int64.max` (over any limit).
    package static func exposure(ledger: Int64, unposted: Int64, held: [HeldOrder], currency: String) -> Int64 {
        let due = held.filter { $0.cash && $0.currency == currency }.map(\.total)
        return Checked.sum([ledger, unposted] + due) ?? Int64.max
    }
}
