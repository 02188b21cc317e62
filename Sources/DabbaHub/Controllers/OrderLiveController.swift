import DabbaCore
import DabbaProtocol
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging

/// Customers' live tracking over WebSocket:
/// - `GET /v1/orders/{id}/live`: the order's customer (and anyone else who may see the order), signed in by
///   `Authorization: Bearer` or `?ticket=` from `POST /v1/ws-tickets`; others get 404 as for an unknown order.
/// - `GET /v1/track/{token}/live`: the same feed for a share link's holder, without signing in, until the link
///   expires, is revoked, or the order ended more than the grace period ago.
///
/// First a snapshot, then one frame per status change and per fix of the assigned agent (see ``OrderLiveView``).
/// A slow client gets the newest fix only (older ones are skipped), and is closed when it falls far behind; the
/// hub never waits for it. A reconnect starts again from a snapshot.
struct OrderLiveController<Store: HubStore> {
    let store: Store
    let orders: OrderService<Store>
    let feed: FleetFeed
    let bus: OrderEventBus
    let auth: AuthService
    let allowedOrigins: [String]
    let metrics: HubMetrics
    let estimator: ETAEstimator
    /// After the order ended, share links keep working this long.
    let shareGrace: Duration
    /// How often an open share-link feed re-checks its link (revocation, expiry).
    var shareRecheck: Duration = .seconds(5)

    /// Who opened the feed.
    enum Viewer: Sendable {
        case user(Identity)
        case share(tokenHash: String)
    }

    func addRoutes(to router: Router<HubRequestContext>) {
        let open = router.group("v1", access: .public)
        open.ws("orders/:id/live", shouldUpgrade: shouldUpgradeOrder, onUpgrade: serve)
        open.ws("track/:token/live", shouldUpgrade: shouldUpgradeShare, onUpgrade: serve)
    }

    @Sendable func shouldUpgradeOrder(_ request: Request, context: HubRequestContext) async throws -> RouterShouldUpgrade {
        var identity = context.identity
        if identity == nil, let ticket = request.uri.queryParameters["ticket"] {
            identity = auth.redeemTicket(String(ticket))
        }
        guard let identity else {
            throw APIError.unauthorized("sign in: a Bearer token, or ?ticket= from POST /v1/ws-tickets")
        }
        try checkOrigin(request)
        let id = try context.parameters.require("id")
        guard try await orders.visibleOrder(id, to: identity) != nil else { throw APIError.notFound("no order \(id)") }
        return .upgrade([:])
    }

    @Sendable func shouldUpgradeShare(_ request: Request, context: HubRequestContext) async throws -> RouterShouldUpgrade {
        try checkOrigin(request)
        let token = try context.parameters.require("token")
        guard try await validShare(tokenHash: AuthRandom.sha256Hex(token)) != nil else {
            throw APIError.notFound("this tracking link is unknown, expired or revoked")
        }
        return .upgrade([:])
    }

    func checkOrigin(_ request: Request) throws {
        if let origin = request.headers[.origin],
            !FleetLiveController.originAllowed(origin, host: request.head.authority, allowed: allowedOrigins)
        {
            throw APIError.forbidden("origin \(origin) may not open this feed")
        }
    }

    /// The order a share link shows, while the link is valid.
    func validShare(tokenHash: String) async throws -> OrderRecord? {
        guard let share = try await store.share(tokenHash: tokenHash), !share.revoked else { return nil }
        let now = wallClockMilliseconds()
        guard share.expires > now, let order = try await store.order(id: share.orderID) else { return nil }
        if order.status.isTerminal && order.updatedAt + shareGrace.dabbaMilliseconds < now { return nil }
        return order
    }

    @Sendable func serve(
        inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter, context: WebSocketRouterContext<HubRequestContext>
    ) async throws {
        let viewer: Viewer
        let orderID: String
        if let token = context.requestContext.parameters.get("token") {
            let hash = AuthRandom.sha256Hex(token)
            guard let order = try await validShare(tokenHash: hash) else { return }
            viewer = .share(tokenHash: hash)
            orderID = order.id
        } else {
            guard let id = context.requestContext.parameters.get("id") else { return }
            viewer = .user(context.requestContext.identity ?? Identity(userID: 0, role: .customer))
            orderID = id
        }
        let gauge = metrics.sockets("order")
        gauge.increment()
        defer { gauge.decrement() }

        // Subscribe before reading the snapshot, so nothing committed in between is missed (the view drops what
        // the snapshot already holds).
        let events = bus.subscribe(order: orderID, buffer: 1_000)
        guard var view = try await makeView(orderID) else { return }
        try await outbound.write(.text(Self.encode(view.snapshot)))

        let (inputs, input) = AsyncStream.makeStream(of: Input.self, bufferingPolicy: .bufferingNewest(1_000))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for try await _ in inbound {}  // the client's frames are ignored; its close ends the feed
                input.finish()
            }
            group.addTask {
                for await event in events { input.yield(.event(event)) }
            }
            if case .share(let hash) = viewer {
                group.addTask {
                    while !Task.isCancelled {
                        try await Task.sleep(for: shareRecheck)
                        if try await validShare(tokenHash: hash) == nil {
                            input.yield(.close("this tracking link expired or was revoked"))
                            return
                        }
                    }
                }
            }
            var watching: (agent: String, subscription: FleetSubscription)?
            defer { watching?.subscription.cancel() }
            func watch(_ agent: String?) {
                guard watching?.agent != agent else { return }
                watching?.subscription.cancel()
                watching = nil
                guard let agent else { return }
                let subscription = feed.subscribe(agent: agent)
                watching = (agent, subscription)
                group.addTask {
                    while let updates = await subscription.next() {
                        for case .position(let p) in updates { input.yield(.position(p)) }
                    }
                }
            }
            watch(view.watchedAgent)
            loop: for await item in inputs {
                switch item {
                case .event(let event):
                    var card: OrderLiveView.AgentCard?
                    if event.action == .assign, let agent = event.agent, let record = try? await store.agent(id: agent) {
                        card = OrderLiveView.card(record)
                    }
                    if let frame = view.apply(event, card: card) {
                        try await outbound.write(.text(Self.encode(frame)))
                    }
                    watch(view.watchedAgent)
                case .position(let fix):
                    if let frame = view.apply(fix) { try await outbound.write(.text(Self.encode(frame))) }
                case .close(let reason):
                    try await outbound.close(.policyViolation, reason: reason)
                    break loop
                }
            }
            group.cancelAll()
        }
    }

    enum Input: Sendable {
        case event(OrderEvent)
        case position(StoredPosition)
        case close(String)
    }

    /// The view from the store: order, restaurant, timeline, agent card and newest fix.
    func makeView(_ id: String) async throws -> OrderLiveView? {
        guard let order = try await store.order(id: id) else { return nil }
        let restaurant = try await store.restaurantSummary(id: order.restaurantID)
        let events = try await store.orderEvents(order: id)
        var card: OrderLiveView.AgentCard?
        var position: StoredPosition?
        if let agentID = order.agentID, let agent = try await store.agent(id: agentID) {
            card = OrderLiveView.card(agent)
            position = feed.latestPosition(agent: agentID) ?? agent.last
        }
        return OrderLiveView(
            order: order, restaurant: restaurant, events: events, agent: card, position: position, estimator: estimator)
    }

    static func encode(_ frame: OrderLiveView.Frame) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? String(decoding: encoder.encode(frame), as: UTF8.self)) ?? #"{"type":"error"}"#
    }
}
