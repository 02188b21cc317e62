import DabbaCore
import DabbaProtocol
import HubModel
import Logging

/// What the order lifecycle reads and writes: orders and their trail, tracking links, the restaurants orders name,
/// agents (who may see an order), and whether its payment allows a step.
package typealias OrderStore = OrderRepository & OrderShareRepository & RestaurantDirectory & AgentRepository
    & PaymentGate

/// The order lifecycle's rules: who may see an order, who may do what to it and from which states, and the
/// notifications after each committed change. Handlers and dispatch call this, never the repository directly.
package struct OrderService<Store: OrderStore>: Sendable {
    package let store: Store
    package let notifier: OrderNotifier

    package init(store: Store, notifier: OrderNotifier) {
        self.store = store
        self.notifier = notifier
    }

    /// The order if `caller` may see it: its customer, its restaurant's manager, its assigned agent, operators.
    /// Anyone else gets nil, exactly as for an unknown id.
    package func visibleOrder(_ id: String, to caller: Identity) async throws(StoreError) -> OrderRecord? {
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
    package static func allowedStates(_ action: OrderAction, for role: Role) -> Set<OrderStatus>? {
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

    /// Applies `action` for `caller`: 404 (`notFound`) when the caller may not see the order, `forbidden`-free:
    /// an action the role may never take is `illegalTransition` too only when visible. Notifies after the commit.
    package func perform(
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
                action: action, actor: caller.actor, reason: reason, prepMinutes: prepMinutes,
                allowedFrom: allowed, cashCollected: cashCollected,
                requiredAgent: caller.role == .agent ? caller.agentID : nil), to: id)
    }

    /// Stores a priced order placed by `caller` (once per `idempotencyKey`: the same key and `requestHash` answer
    /// the order stored first, `created` false; another hash is `invalid`) and notifies when it was created.
    package func place(
        _ order: OrderRecord, by caller: Identity, idempotencyKey: String?, requestHash: String?
    ) async throws(OrderServiceError) -> (order: OrderRecord, created: Bool) {
        let result: (order: OrderRecord, event: OrderEvent?, created: Bool)
        do {
            // The order keeps its key too: after a crash between this commit and the key's answer being stored, a
            // retry (once the key's claim has expired) finds this order instead of placing another.
            result = try await store.createOrder(
                order, idempotencyKey: idempotencyKey, requestHash: requestHash, actor: caller.actor)
        } catch  where error.code == .conflict && idempotencyKey != nil {
            throw .invalid("Idempotency-Key \(idempotencyKey ?? "") was used with a different request")
        } catch {
            throw .store(error)
        }
        if let event = result.event { notifier.committed(event, order: result.order) }
        return (result.order, result.created)
    }

    /// Stores a tracking link of `order` (only its hash: the token itself is the caller's to hand out).
    package func share(_ order: OrderRecord, tokenHash: String, by caller: Identity, expires: Int64)
        async throws(OrderServiceError)
    {
        do {
            try await store.createShare(
                tokenHash: tokenHash, share: OrderShare(orderID: order.id, createdBy: caller.userID, expires: expires))
        } catch {
            throw .store(error)
        }
    }

    /// Revokes every tracking link of `order`; how many were live.
    @discardableResult
    package func revokeShares(of order: OrderRecord) async throws(OrderServiceError) -> Int {
        do { return try await store.revokeShares(order: order.id) } catch { throw .store(error) }
    }

    /// Applies a change decided by the hub itself (dispatch, timeouts) and notifies.
    package func apply(_ change: OrderChange, to id: String) async throws(OrderServiceError) -> OrderRecord {
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
package enum OrderServiceError: Error, Sendable, Equatable {
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

extension Identity {
    /// Who did something, as the order trail and the ledger record it: `agent:<id>`, else `<role>:<user id>`.
    package var actor: String {
        role == .agent ? "agent:\(agentID ?? "?")" : "\(role.rawValue):\(userID)"
    }
}
