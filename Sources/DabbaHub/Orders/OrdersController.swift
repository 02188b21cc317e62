import DabbaCore
import DabbaProtocol
import HubModel
import Hummingbird

/// Orders: read, list per role, lifecycle actions, timeline and share links. Creation lives in
/// `OrdersController+Place.swift`. Anyone who may not see an order gets 404, as for an unknown id.
struct OrdersController<Store: OrderStore & MarketRepository & IdempotencyRepository> {
    let orders: OrderService<Store>
    let configuration: HubConfiguration
    var store: Store { orders.store }

    func addRoutes(to router: some RouterMethods<HubRequestContext>) {
        let signedIn = router.group("v1/orders", access: .signedIn)
        signedIn.get(use: list)
        signedIn.get(":id", use: show)
        signedIn.get(":id/events", use: timeline)
        // assign and unassign are dispatch's routes (`DispatchController`): the checks run where it assigns.
        for action in OrderAction.allCases where action != .assign && action != .unassign {
            signedIn.post(":id/\(action.routeName)") { request, context in
                try await perform(action, request, context)
            }
        }
        signedIn.post(":id/share", use: share)
        signedIn.delete(":id/share", use: revokeShares)
        addPlaceRoute(to: signedIn)
    }

    @Sendable func show(_ request: Request, context: HubRequestContext) async throws -> OrderView {
        OrderView(try await visible(context))
    }

    @Sendable func timeline(_ request: Request, context: HubRequestContext) async throws -> OrderTimeline {
        let order = try await visible(context)
        return OrderTimeline(order: order.id, events: try await store.orderEvents(order: order.id))
    }

    @Sendable func list(_ request: Request, context: HubRequestContext) async throws -> OrderPage {
        let caller = try context.caller()
        let query = request.uri.queryParameters
        var filter = OrderFilter()
        // Read for every role, so a malformed one is 400 whoever sends it (only operators' filter by it).
        let customer = try OrderListQuery.customer(query.get("customer"))
        switch caller.role {
        case .customer: filter.customerID = caller.userID
        case .agent: filter.agentID = caller.agentID ?? "-"
        case .restaurant:
            filter.restaurantIDs = try await ownedRestaurants(caller, requested: query.get("restaurant"))
        case .operator:
            if let restaurant = query.get("restaurant") { filter.restaurantIDs = [restaurant] }
            if let agent = query.get("agent") { filter.agentID = agent }
            if let customer { filter.customerID = customer }
        }
        if let statuses = try OrderListQuery.statuses(query.get("status")) { filter.statuses = statuses }
        (filter.since, filter.until) = try QueryReader(query: query).timeRange()
        let request = try Self.page(query, decode: ListingCursor.order)
        let page = try await request.read { try await store.orders(filter, after: $0, limit: $1) }
        return OrderPage(
            orders: page.rows.map(OrderView.init), next: page.next { PageCursor.encode("\($0.createdAt)", $0.id) })
    }

    /// The restaurants a restaurant user's list covers: all they manage, or the one asked for if theirs.
    func ownedRestaurants(_ caller: Identity, requested: String?) async throws -> [String] {
        if let requested {
            guard try await store.restaurantSummary(id: requested)?.ownerUserID == caller.userID else {
                throw APIError.notFound("no restaurant \(requested)")
            }
            return [requested]
        }
        return try await store.restaurantIDs(ownedBy: caller.userID)
    }

    func perform(_ action: OrderAction, _ request: Request, _ context: HubRequestContext) async throws -> OrderView {
        let caller = try context.caller()
        let order = try await visible(context)  // someone else's order is 404 whatever the body says
        let id = order.id
        let body =
            try await request.decodeIfPresent(as: OrderActionRequest.self, context: context) ?? OrderActionRequest()
        try APIError.checkFreeText(body.reason, field: "reason")
        // Checked whenever it is given (the document bounds it for every action), required to accept.
        if let minutes = body.prepMinutes, !(1...240).contains(minutes) {
            throw APIError.invalid("prepMinutes: 1 to 240")
        }
        if action == .accept, body.prepMinutes == nil {
            throw APIError.invalid("prepMinutes: required to accept, 1 to 240")
        }
        if let cash = body.cashCollected {
            guard action == .deliver, order.paymentMethod == .cod else {
                throw APIError.invalid("cashCollected: only when delivering a cash-on-delivery order")
            }
            guard (0...Money.maxAmount).contains(cash) else {
                throw APIError.invalid("cashCollected: 0 or more minor units")
            }
        }
        if [.cancel, .reject, .fail].contains(action), (body.reason ?? "").isEmpty {
            throw APIError.invalid("reason: required to \(action.rawValue) an order")
        }
        do {
            return OrderView(
                try await orders.perform(
                    action, on: id, by: caller, reason: body.reason, prepMinutes: body.prepMinutes,
                    cashCollected: body.cashCollected))
        } catch {
            throw APIError(error)
        }
    }

    @Sendable func share(_ request: Request, context: HubRequestContext) async throws -> EditedResponse<ShareView> {
        let caller = try context.caller()
        let order = try await visible(context)
        guard caller.role == .customer || caller.role == .operator else {
            throw APIError.forbidden("only the customer or an operator can share an order")
        }
        guard !order.status.isTerminal else { throw APIError.conflict("the order is \(order.status.rawValue)") }
        let body = try await request.decodeIfPresent(as: ShareRequest.self, context: context) ?? ShareRequest()
        let ttl = body.ttlMinutes ?? configuration.shareTTLMinutes
        guard (1...(7 * 24 * 60)).contains(ttl) else { throw APIError.invalid("ttlMinutes: 1 to 10080") }
        let token = AuthRandom.token(bytes: 24)
        let expires = wallClockMilliseconds() + Int64(ttl) * 60_000
        do {
            try await orders.share(order, tokenHash: AuthRandom.sha256Hex(token), by: caller, expires: expires)
        } catch {
            throw APIError(error)
        }
        return EditedResponse(
            status: .created,
            response: ShareView(
                token: token, expiresAt: Timestamp.format(milliseconds: expires), url: "/track/\(token)",
                live: "/v1/track/\(token)/live"))
    }

    @Sendable func revokeShares(_ request: Request, context: HubRequestContext) async throws -> Response {
        let caller = try context.caller()
        let order = try await visible(context)
        guard caller.role == .customer || caller.role == .operator else {
            throw APIError.forbidden("only the customer or an operator can revoke share links")
        }
        do { try await orders.revokeShares(of: order) } catch { throw APIError(error) }
        return Response(status: .noContent)
    }

    func visible(_ context: HubRequestContext) async throws -> OrderRecord {
        let caller = try context.caller()
        let id = try context.parameters.require("id")
        guard let order = try await orders.visibleOrder(id, to: caller) else {
            throw APIError.notFound("no order \(id)")
        }
        return order
    }

    static func page<Key>(
        _ query: Parameters, cursorName: String = "cursor", decode: (String) -> Key?
    ) throws(APIError) -> PageRequest<Key> {
        try PageRequest(query, limit: 1...200, default: 50, cursorName: cursorName, decode: decode)
    }

}

extension OrderAction {
    /// The path segment: `POST /v1/orders/{id}/{routeName}`.
    var routeName: String { self == .pickup ? "pickup" : rawValue }
}

extension APIError {
    init(_ error: OrderServiceError) {
        switch error {
        case .notFound(let m): self = .notFound(m)
        case .forbidden(let m): self = .forbidden(m)
        case .illegal(let m): self = .conflict(m)
        case .invalid(let m): self = .invalid(m)
        case .unavailable(let m): self = .unavailable(m)
        case .store(let e):
            self = e.code == .conflict ? .conflict(e.message) : .unavailable("storage: \(e.code.rawValue)")
        }
    }
}
