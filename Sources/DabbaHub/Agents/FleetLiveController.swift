import DabbaProtocol
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging

/// `GET /v1/fleet/live` (WebSocket, operators): a snapshot of every agent's newest position and state, then each
/// change as it happens, in order. Browsers cannot set headers on an upgrade, so besides `Authorization: Bearer`
/// it accepts `?ticket=` from `POST /v1/ws-tickets` (single use, short-lived). A browser's `Origin` must be one of
/// `allowed-origins` or the hub's own host.
///
/// A slow client is given the newest update per agent (coalesced by its `FleetSubscription`) and is closed once it
/// falls more than `maxPending` agents behind; ingest never waits for it.
///
/// The operator's access is re-checked every `accessRecheck` and when their token expires; once it has ended
/// (expired, revoked, signed out, disabled: ``AuthService/accessEnded(_:)``) the feed is closed with 1008.
struct FleetLiveController {
    let feed: FleetFeed
    let auth: AuthService
    let allowedOrigins: [String]
    let metrics: HubMetrics
    var maxPending = 10_000
    /// The WebSocket ping period (``WebSocketKeepalive``).
    var keepalive: Duration = WebSocketKeepalive.defaultPeriod
    /// How often an open feed re-checks the operator's access (besides at the token's expiry).
    var accessRecheck: Duration = .seconds(30)

    /// One frame of the feed.
    struct Frame: Encodable {
        var type: String
        var agent: String?
        var position: PositionView?
        var state: AgentState?
        var positions: [AgentPosition]?
        var states: [AgentState]?
    }

    struct AgentPosition: Encodable {
        var agent: String
        var position: PositionView
    }

    func addRoutes(to router: Router<HubRequestContext>) {
        router.group("v1", access: .public).add(middleware: WebSocketTicketMiddleware(auth: auth)).keptAliveWS(
            "fleet/live", keepalive: keepalive, metrics: metrics, shouldUpgrade: shouldUpgrade, onUpgrade: serve)
    }

    @Sendable func shouldUpgrade(_ request: Request, context: HubRequestContext) async throws -> RouterShouldUpgrade {
        guard let identity = context.identity else {
            throw APIError.unauthorized(
                context.authFailure ?? "sign in: a Bearer token, or ?ticket= from POST /v1/ws-tickets")
        }
        guard identity.role == .operator else { throw APIError.forbidden() }
        if let origin = request.headers[.origin],
            !Self.originAllowed(origin, host: request.head.authority, allowed: allowedOrigins)
        {
            throw APIError.forbidden("origin \(origin) may not open this feed")
        }
        return .upgrade([:])
    }

    /// Same host name as the hub (the port may differ: a page served through a proxy), or listed in
    /// `allowed-origins`.
    static func originAllowed(_ origin: String, host: String?, allowed: [String]) -> Bool {
        if allowed.contains(origin) { return true }
        guard let host, let originHost = URL(string: origin)?.host?.lowercased() else { return false }
        let hubHost = (URL(string: "http://\(host)")?.host ?? host).lowercased()
        return originHost == hubHost
    }

    @Sendable func serve(
        inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter,
        context: WebSocketRouterContext<HubRequestContext>
    ) async throws {
        let subscription = feed.subscribe(maxPending: maxPending)
        let gauge = metrics.sockets("fleet")
        gauge.increment()
        defer {
            subscription.cancel()
            gauge.decrement()
        }
        let snapshot = feed.snapshot()
        try await outbound.write(
            .text(
                Self.encode(
                    Frame(
                        type: "snapshot",
                        positions: snapshot.positions.sorted { $0.agent < $1.agent }.map {
                            AgentPosition(agent: $0.agent, position: PositionView($0))
                        },
                        states: snapshot.states.sorted { $0.agent < $1.agent }))))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                // The client's frames are ignored; its close ends the subscription.
                for try await _ in inbound {}
                subscription.cancel()
            }
            group.addTask {
                while let updates = await subscription.next() {
                    for update in updates { try await outbound.write(.text(Self.encode(Self.frame(update)))) }
                }
                if subscription.overflowed {
                    try await outbound.close(.policyViolation, reason: "client too slow")
                }
            }
            if let identity = context.requestContext.identity {
                group.addTask {
                    let reason = try await auth.accessEnds(identity, recheck: accessRecheck)
                    try await outbound.close(.policyViolation, reason: reason)
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    static func frame(_ update: FleetFeed.Update) -> Frame {
        switch update {
        case .position(let p): Frame(type: "position", agent: p.agent, position: PositionView(p))
        case .state(let s): Frame(type: "state", agent: s.agent, state: s)
        }
    }

    static func encode(_ frame: Frame) -> String {
        (try? String(decoding: JSONEncoder().encode(frame), as: UTF8.self)) ?? #"{"type":"error"}"#
    }
}
