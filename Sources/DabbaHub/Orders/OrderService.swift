import DabbaCore
import DabbaProtocol
import HubModel
import Logging

/// The order lifecycle's rules: who may see an order, who may do what to it and from which states, and the
/// notifications after each committed change. Handlers and dispatch call this, never the repository directly.
public struct OrderService<Store: OrderRepository & RestaurantDirectory & AgentRepository & PaymentGate>: Sendable {
    public let store: Store
    public let notifier: OrderNotifier

    public init(store: Store, notifier: OrderNotifier) {
        self.store = store
        self.notifier = notifier
    }

    /// The order if `caller` may see it: its customer, its restaurant's manager, its assigned agent, operators.
    /// Anyone else gets nil, exactly as for an unknown id.
    public func visibleOrder(_ id: String, to caller: Identity) async throws(StoreError) -> OrderRecord? {
        guard let order = try await store.order(id: id) else { return nil }
        return try await Self.canSee(order, caller, store) ? order : nil
    }

    static func canSee(_ order: OrderRecord, _ caller: Identity, _ store: Store) async throws(StoreError) -> Bool {
        switch caller.role {
        case .operator: return true
        case .customer: return order.customerID == caller.userID
        case .agent: return caller.agentID != nil && order.agentID == caller.agentID
        case .restaurant: return try await store.restaurantSummary(id: order.restaurantID)?.ownerUserID == caller.userID
        }
    }

    /// The states from which `role` may apply `action`; nil when the role may not apply it at all (the state
    /// machine still has the last word).
    public static func allowedStates(_ action: OrderAction, for role: Role) -> Set<OrderStatus>? {
        let beforePickup: Set<OrderStatus> = [.placed, .confirmed, .preparing, .readyForPickup, .assigned]
        switch (role, action) {
        case (.customer, .cancel): return [.placed]
        case (.restaurant, .accept), (.restaurant, .reject), (.restaurant, .prepare), (.restaurant, .ready):
            return Set(OrderStatus.allCases)
        case (.restaurant, .cancel): return beforePickup
        case (.agent, .pickup), (.agent, .deliver): return Set(OrderStatus.allCases)
        case (.operator, .cancel): return beforePickup
        case (.operator, _): return Set(OrderStatus.allCases)
        default: return nil
        }
    }

    /// `role:ID` for the audit trail.
    public static func actor(_ caller: Identity) -> String {
        caller.role == .agent ? "agent:\(caller.agentID ?? "?")" : "\(caller.role.rawValue):\(caller.userID)"
    }

    /// Applies `action` for `caller`: 404 (`notFound`) when the caller may not see the order, `forbidden`-free:
    /// an action the role may never take is `illegalTransition` too only when visible. Notifies after the commit.
    public func perform(
        _ action: OrderAction, on id: String, by caller: Identity, reason: String? = nil, prepMinutes: Int? = nil,
        cashCollected: Int64? = nil
    ) async throws(OrderServiceError) -> OrderRecord {
        let order: OrderRecord?
        do { order = try await visibleOrder(id, to: caller) } catch { throw .store(error) }
        guard let order else { throw .notFound("no order \(id)") }
        guard let allowed = Self.allowedStates(action, for: caller.role) else {
            throw .forbidden("\(caller.role.rawValue)s cannot \(action.rawValue) orders")
        }
        if caller.role == .agent && order.agentID != caller.agentID { throw .notFound("no order \(id)") }
        // Who gets an order is dispatch's: its checks (shift, online, capacity, cash) run in the assigning
        // transaction (`Dispatcher.assign`, `Dispatcher.unassign`).
        if action == .assign || action == .unassign {
            throw .forbidden("\(action.rawValue) goes through dispatch (POST /v1/orders/{id}/\(action.rawValue))")
        }
        if action == .accept {
            let paid: Bool
            do { paid = try await store.paymentAllowsConfirmation(order: id) } catch { throw .store(error) }
            guard paid else { throw .illegal("the order's card payment is not authorized yet: it cannot be confirmed") }
        }
        return try await apply(
            OrderChange(
                action: action, actor: Self.actor(caller), reason: reason, prepMinutes: prepMinutes,
                allowedFrom: allowed, cashCollected: cashCollected,
                requiredAgent: caller.role == .agent ? caller.agentID : nil), to: id)
    }

    /// Applies a change decided by the hub itself (dispatch, timeouts) and notifies.
    public func apply(_ change: OrderChange, to id: String) async throws(OrderServiceError) -> OrderRecord {
        let (order, event): (OrderRecord, OrderEvent)
        do {
            (order, event) = try await store.applyOrderChange(change, to: id)
        } catch {
            if error.code == .illegalTransition { throw .illegal(error.message) }
            if error.code == .notFound { throw .notFound(error.message) }
            throw .store(error)
        }
        let pickup = try? await store.restaurantSummary(id: order.restaurantID)?.place
        notifier.committed(event, order: order, pickup: pickup)
        return order
    }
}

/// Why an order operation was refused; the controllers map each case to one HTTP status.
public enum OrderServiceError: Error, Sendable, Equatable {
    /// 404: unknown, or not the caller's.
    case notFound(String)
    /// 403: the role may never do this.
    case forbidden(String)
    /// 409: not in this state (the message names the current state).
    case illegal(String)
    /// 422: the request is well-formed but cannot be honoured.
    case invalid(String)
    /// 503: a service the request needs (the payment provider) did not answer; retry.
    case unavailable(String)
    case store(StoreError)
}
