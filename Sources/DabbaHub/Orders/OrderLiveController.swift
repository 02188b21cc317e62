import DabbaCore
import DabbaProtocol
import Foundation
import HubModel
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore

/// Customers' live tracking over WebSocket:
/// - `GET /v1/orders/{id}/live`: the order's customer (and anyone else who may see the order), signed in by
///   `Authorization: Bearer` or `?ticket=` from `POST /v1/ws-tickets`; others get 404 as for an unknown order.
/// - `GET /v1/track/{token}/live`: the same feed for a share link's holder, without signing in, until the link
///   expires, is revoked, or the order ended more than the grace period ago.
///
/// First a snapshot, then one frame per status change and per fix of the assigned agent (see ``OrderLiveView``).
/// A slow client gets the newest fix only (older ones are skipped), and is closed when it falls far behind; the
/// hub never waits for it. A reconnect starts again from a snapshot.
///
/// Access is checked at the upgrade and again while the feed is open: before every status change is written, every
/// `accessRecheck` (30 s) and when the access token expires — the token still valid and not revoked (logout,
/// revocation, a disabled account: ``AuthService/accessEnded(_:)``) and the order still visible to the viewer
/// (an agent whose order went to another agent loses it); a share link's feed re-checks its link every
/// `shareRecheck`. When access ends the feed is closed with 1008 (policy violation) and the reason. One hub-wide
/// timer (``OrderFeedRechecks``) drives every feed's re-checks, not a task or timers per feed.
struct OrderLiveController<Store: OrderStore> {
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
    /// How often a signed-in viewer's feed re-checks their access, besides every status change and the token's
    /// expiry.
    var accessRecheck: Duration = .seconds(30)
    /// The WebSocket ping period (``WebSocketKeepalive``).
    var keepalive: Duration = WebSocketKeepalive.defaultPeriod
    /// The one timer of every open feed's re-checks, ticking at a tenth of the shorter period (at most 1 s).
    let rechecks: OrderFeedRechecks

    func addRoutes(to router: Router<HubRequestContext>) {
        let open = router.group("v1", access: .public).add(middleware: WebSocketTicketMiddleware(auth: auth))
        open.keptAliveWS(
            "orders/:id/live", keepalive: keepalive, metrics: metrics, pushOnly: true,
            shouldUpgrade: shouldUpgradeOrder, onUpgrade: serve)
        open.keptAliveWS(
            "track/:token/live", keepalive: keepalive, metrics: metrics, pushOnly: true,
            shouldUpgrade: shouldUpgradeShare, onUpgrade: serve)
    }

    @Sendable func shouldUpgradeOrder(_ request: Request, context: HubRequestContext) async throws
        -> RouterShouldUpgrade
    {
        guard let identity = context.identity else {
            throw APIError.unauthorized(
                context.authFailure ?? "sign in: a Bearer token, or ?ticket= from POST /v1/ws-tickets")
        }
        try checkOrigin(request)
        let id = try context.parameters.require("id")
        let visible = try await inTaskOfItsOwn { [orders] in try await orders.visibleOrder(id, to: identity) }
        guard visible != nil else { throw APIError.notFound("no order \(id)") }
        return .upgrade([:])
    }

    @Sendable func shouldUpgradeShare(_ request: Request, context: HubRequestContext) async throws
        -> RouterShouldUpgrade
    {
        try checkOrigin(request)
        let token = try context.parameters.require("token")
        let hash = AuthRandom.sha256Hex(token)
        guard try await inTaskOfItsOwn({ [self] in try await validShare(tokenHash: hash) }) != nil else {
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

    /// One feed. The connection's task waits for the feed's end (``PushOnlyFeedEnd``: the connection closed, or the
    /// hub ended the feed); the client's frames are answered or dropped on the event loop (``WebSocketPushOnly``;
    /// the feed reads nothing from its client). Frames are written by short-lived writer tasks that the session's
    /// inbox starts when there is something to write, one at a time (``OrderFeedInbox``).
    ///
    /// With 10,000 feeds open, task memory (async frames, kept in slabs for as long as a task runs) is most of the
    /// hub's (heaptrack, BENCHMARKS.md). So no feed keeps a task for writing (the WebSocket write path has the
    /// deepest frames), and the frames of the long-lived task hold little: the view lives in an
    /// ``OrderFeedSession``, the set-up and the writing are separate `@inline(never)` functions, and the store
    /// reads of the upgrade check and the set-up run in tasks of their own (``inTaskOfItsOwn(_:)``), so their
    /// frames do not size the slabs the connection's task keeps; nor does reading the client's frames.
    @Sendable func serve(
        inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter,
        context: WebSocketRouterContext<HubRequestContext>
    ) async throws {
        let requestContext = context.requestContext
        let channel = requestContext.channel
        let ended = PushOnlyFeedEnd(channel: channel)
        let opened = try await inTaskOfItsOwn { [self] in try await open(requestContext) }
        guard let session = opened else { return }
        let gauge = metrics.sockets("order")
        gauge.increment()
        defer {
            gauge.decrement()
            session.end()
        }
        session.watchAgent()
        session.inbox.start { [self] in
            Task { await self.writeFrames(session, outbound, ended) }
        }
        let stopTimers = scheduleRechecks(session, on: channel.eventLoop)
        defer { stopTimers() }
        await ended.wait()
    }

    /// Registers the feed with the hub-wide re-check timer (``OrderFeedRechecks``): `.recheck` every
    /// `recheckEvery` (`shareRecheck` for a share link, `accessRecheck` when signed in), and once just after the
    /// access token expires. Returns what unregisters it.
    func scheduleRechecks(_ session: OrderFeedSession, on loop: any EventLoop) -> @Sendable () -> Void {
        rechecks.register(
            session.inbox, every: session.recheckEvery,
            expiresIn: session.credential.map { $0.millisecondsLeft() }, on: loop)
    }

    /// One writer task: the snapshot when it was not written yet, then everything the inbox holds, until it is
    /// empty. A write that fails (the client went) or the end of the viewer's access ends the feed: the inbox takes
    /// nothing more and the connection's task stops waiting (hummingbird-websocket then closes the connection, after
    /// the close handshake when the hub's close frame went out).
    @inline(never) func writeFrames(
        _ session: OrderFeedSession, _ outbound: WebSocketOutboundWriter, _ ended: PushOnlyFeedEnd
    )
        async
    {
        do {
            if let snapshot = session.takeSnapshot() { try await outbound.write(.text(snapshot)) }
            while let items = session.inbox.take() {
                try await write(items, session, outbound)
            }
            return  // the inbox is empty (or finished: the feed already ended)
        } catch {}
        session.end()
        ended.end()
    }

    /// The session of the feed `context` asks for; nil when the order or share link is gone. It subscribes to the
    /// order's events before reading the snapshot, so nothing committed in between is missed (the view drops what
    /// the snapshot already holds).
    @inline(never) func open(_ context: HubRequestContext) async throws -> OrderFeedSession? {
        let orderID: String
        let accessEnded: @Sendable () async -> String?
        let recheckEvery: Duration
        var credential: Identity.Credential?
        if let token = context.parameters.get("token") {
            let hash = AuthRandom.sha256Hex(token)
            let shared = try await validShare(tokenHash: hash)
            guard let order = shared else { return nil }
            orderID = order.id
            recheckEvery = shareRecheck
            accessEnded = { [self] in
                let valid = try? await validShare(tokenHash: hash)
                return valid == nil ? "this tracking link expired or was revoked" : nil
            }
        } else {
            guard let id = context.parameters.get("id"), let identity = context.identity else { return nil }
            orderID = id
            recheckEvery = accessRecheck
            credential = identity.credential
            accessEnded = { [self] in await viewerAccessEnded(identity, order: id) }
        }
        let inbox = OrderFeedInbox()
        let events = bus.subscribe(order: orderID) { inbox.post(.event($0)) }
        let made: OrderLiveView?
        do {
            made = try await makeView(orderID)
        } catch {
            events.cancel()
            throw error
        }
        guard let view = made else {
            events.cancel()
            return nil
        }
        return OrderFeedSession(
            view: view, inbox: inbox, events: events, feed: feed, recheckEvery: recheckEvery, credential: credential,
            accessEnded: accessEnded)
    }

    /// Why a signed-in viewer may no longer follow `order` (token expired or revoked, sign-in ended, account
    /// disabled, the order no longer theirs to see), or nil.
    func viewerAccessEnded(_ identity: Identity, order: String) async -> String? {
        if let reason = await auth.accessEnded(identity) { return reason }
        do {
            guard try await orders.visibleOrder(order, to: identity) != nil else {
                return "this order is no longer yours to follow"
            }
            return nil
        } catch {
            return "access could not be confirmed; reconnect"
        }
    }

    /// The hub ended the feed (after writing the close frame).
    struct FeedClosed: Error {}

    /// Writes the frames `items` make; closes the feed (throwing ``FeedClosed``) once a status change or a re-check
    /// finds the viewer's access ended.
    @inline(never) func write(
        _ items: [OrderFeedInbox.Item], _ session: OrderFeedSession, _ outbound: WebSocketOutboundWriter
    )
        async throws
    {
        for item in items {
            switch item {
            case .event(let event):
                // Every status change re-checks access first: nothing of it reaches a viewer who lost the order.
                if let reason = await session.accessEnded() { try await close(outbound, reason) }
                let card = await assignedCard(event)
                if let text = session.apply(event, card: card) { try await outbound.write(.text(text)) }
            case .position(let fix):
                if let text = session.apply(fix) { try await outbound.write(.text(text)) }
            case .recheck:
                if let reason = await session.accessEnded() { try await close(outbound, reason) }
            }
        }
    }

    /// Closes the feed with 1008 (policy violation) and `reason`; throws ``FeedClosed``.
    func close(_ outbound: WebSocketOutboundWriter, _ reason: String) async throws -> Never {
        try await outbound.close(.policyViolation, reason: reason)
        throw FeedClosed()
    }

    /// The card of the agent an `assign` event names (nil for other events, or when the agent is unknown).
    @inline(never) func assignedCard(_ event: OrderEvent) async -> OrderLiveView.AgentCard? {
        guard event.action == .assign, let agent = event.agent else { return nil }
        let record = try? await store.agent(id: agent)
        return record.map(OrderLiveView.card)
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
}
