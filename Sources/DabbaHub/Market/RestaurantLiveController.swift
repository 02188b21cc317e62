import Foundation
import HubModel
import Hummingbird
import HummingbirdWebSocket

/// `GET /v1/restaurants/{id}/live` (WebSocket): the restaurant's owner (restaurant users) and operators are told of
/// each of the restaurant's order events as it is committed — by any hub, since order events are relayed between
/// hubs — so the restaurant console shows a new order at once instead of at its next read. First a
/// `{"type":"snapshot","restaurant"}` frame (read the orders now), then `{"type":"order","order","status",
/// "previous","time"}` per event, in order. The frames only say what changed; the console reads the orders themselves
/// from `GET /v1/orders` (so a slow client, which may lose the oldest of 1,000 unsent frames, misses nothing that
/// matters).
///
/// Upgrade rules as `/v1/fleet/live`: a Bearer token or `?ticket=`, an allowed `Origin`; anonymous 401, other roles
/// 403, a restaurant that is not the caller's 404. Access is re-checked every `accessRecheck` and at the token's
/// expiry (signed out, revoked, disabled, or the restaurant no longer the caller's): then the feed is closed with
/// 1008 and the reason.
struct RestaurantLiveController<Repository: MarketRepository> {
    let repository: Repository
    let bus: OrderEventBus
    let auth: AuthService
    let allowedOrigins: [String]
    let metrics: HubMetrics
    var keepalive: Duration = WebSocketKeepalive.defaultPeriod
    var accessRecheck: Duration = .seconds(30)

    /// One frame of the feed.
    struct Frame: Encodable {
        var type: String
        var restaurant: String?
        var order: String?
        var status: OrderStatus?
        var previous: OrderStatus?
        var time: String?
    }

    func addRoutes(to router: Router<HubRequestContext>) {
        router.group("v1", access: .public).add(middleware: WebSocketTicketMiddleware(auth: auth)).keptAliveWS(
            "restaurants/:id/live", keepalive: keepalive, metrics: metrics, shouldUpgrade: shouldUpgrade,
            onUpgrade: serve)
    }

    @Sendable func shouldUpgrade(_ request: Request, context: HubRequestContext) async throws -> RouterShouldUpgrade {
        guard let identity = context.identity else {
            throw APIError.unauthorized(
                context.authFailure ?? "sign in: a Bearer token, or ?ticket= from POST /v1/ws-tickets")
        }
        guard identity.role == .restaurant || identity.role == .operator else { throw APIError.forbidden() }
        if let origin = request.headers[.origin],
            !FleetLiveController.originAllowed(origin, host: request.head.authority, allowed: allowedOrigins)
        {
            throw APIError.forbidden("origin \(origin) may not open this feed")
        }
        _ = try await repository.managedRestaurant(context.parameters.get("id") ?? "", by: identity)
        return .upgrade([:])
    }

    @Sendable func serve(
        inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter,
        context: WebSocketRouterContext<HubRequestContext>
    ) async throws {
        guard let restaurant = context.requestContext.parameters.get("id"),
            let identity = context.requestContext.identity
        else { return }
        let events = bus.subscribe(buffer: 1_000)
        let gauge = metrics.sockets("restaurant")
        gauge.increment()
        defer { gauge.decrement() }
        try await outbound.write(.text(Self.encode(Frame(type: "snapshot", restaurant: restaurant))))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                // The client's frames are ignored; its close ends the feed.
                for try await _ in inbound {}
            }
            group.addTask {
                for await event in events where event.restaurant == restaurant {
                    let frame = Frame(
                        type: "order", order: event.order, status: event.status, previous: event.previous,
                        time: event.time)
                    try await outbound.write(.text(Self.encode(frame)))
                }
            }
            group.addTask {
                let reason = try await auth.accessEnds(identity, recheck: accessRecheck) {
                    do {
                        _ = try await repository.managedRestaurant(restaurant, by: identity)
                        return nil
                    } catch let error as APIError where error.status == .notFound {
                        return "the restaurant is no longer yours"
                    } catch {
                        return nil  // the database did not answer: checked again at the next round
                    }
                }
                try await outbound.close(.policyViolation, reason: reason)
            }
            try await group.next()
            group.cancelAll()
        }
    }

    static func encode(_ frame: Frame) -> String {
        (try? String(decoding: JSONEncoder().encode(frame), as: UTF8.self)) ?? #"{"type":"error"}"#
    }
}
