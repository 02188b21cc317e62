import DabbaTestSupport
import Foundation
import HTTPTypes
@testable import HubModel
@testable import HubSQLite
import HummingbirdTesting
import HummingbirdWSTesting
import HummingbirdWebSocket
import Synchronization
import Testing

@testable import DabbaHub

/// The WebSocket routes in the matrix, over a real socket: the exact status (and JSON error) of every refused
/// upgrade, and feeds that end — closed with 1008 and the reason — once their viewer's access ends.
extension HTTPAccessMatrixTests {
    enum Viewer: CaseIterable {
        case anonymous, customer, otherCustomer, restaurant, otherRestaurant, agent, otherAgent, `operator`
    }

    /// Path (`{order}`: the customer's order, assigned to agent a-1) and the status per viewer, in `Viewer` order;
    /// 101 is an upgrade (checked by reading the snapshot).
    static let webSocketRows: [(path: String, expected: [Int])] = [
        ("/v1/orders/{order}/live", [401, 101, 404, 101, 404, 101, 404, 101]),
        ("/v1/orders/o-none/live", [401, 404, 404, 404, 404, 404, 404, 404]),
        ("/v1/fleet/live", [401, 403, 403, 403, 403, 403, 403, 101]),
        ("/v1/restaurants/r-dosa/live", [401, 403, 403, 101, 404, 403, 403, 101]),
        ("/v1/restaurants/r-none/live", [401, 403, 403, 404, 404, 403, 403, 404]),
        ("/v1/track/not-a-token/live", [404, 404, 404, 404, 404, 404, 404, 404]),
    ]

    @Test func webSocketRoutesAnswerEveryViewerWithTheExactStatus() async throws {
        let h = try HubHarness()
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        try await h.run(.live) { client, hub in
            let tokens = try await Self.signIn(client, f)
            let order = try await Self.assignedOrder(client, tokens, h.store)
            let port = try #require(client.port)
            for row in Self.webSocketRows {
                let path = row.path.replacingOccurrences(of: "{order}", with: order)
                for (index, viewer) in Viewer.allCases.enumerated() {
                    let cell = "GET \(path) (upgrade) as \(viewer)"
                    try await Self.expect(row.expected[index], client, port, path, bearer: tokens[viewer], cell)
                }
            }

            // Other credentials on the customer's own order.
            let own = "/v1/orders/\(order)/live"
            let customer = try #require(tokens[.customer])
            let ticket = try Self.ticket(client, customer)
            try await Self.expect(101, client, port, own + "?ticket=" + (try await ticket()), bearer: nil, "ticket")
            let used = try await ticket()
            try await Self.expect(101, client, port, own + "?ticket=" + used, bearer: nil, "ticket")
            try await Self.expect(401, client, port, own + "?ticket=" + used, bearer: nil, "used ticket")
            try await Self.expect(401, client, port, own + "?ticket=made-up", bearer: nil, "unknown ticket")
            let foreignTicket = try await Self.ticket(client, try #require(tokens[.otherCustomer]))()
            try await Self.expect(404, client, port, own + "?ticket=" + foreignTicket, bearer: nil, "foreign ticket")
            let expired = try await hub.auth.signer.sign(
                Identity(userID: f.customerA.id, role: .customer), session: nil, epoch: 0,
                now: Date().addingTimeInterval(-3600))
            try await Self.expect(401, client, port, own, bearer: expired, "expired token", message: "expired")
            try await Self.expect(
                403, client, port, own, bearer: customer, "foreign origin", origin: "https://evil.test")
            // Revoked: every token of the customer, by an operator.
            let revoke = try await client.send(
                .post, "/v1/users/\(f.customerA.id)/revoke-tokens", token: try #require(tokens[.operator]))
            #expect(revoke.status == .noContent, "\(revoke.text)")
            try await Self.expect(401, client, port, own, bearer: customer, "revoked token", message: "revoked")
        }
    }

    /// Checks by status change and by the token's expiry alone: the periodic re-check is an hour away.
    @Test func anOpenFeedEndsAtTheStatusChangeOrExpiryThatEndsItsAccess() async throws {
        let h = try HubHarness()
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        try await h.run(.live, configure: { $0.liveAccessRecheck = .seconds(3600) }) { client, hub in
            let tokens = try await Self.signIn(client, f)
            let order = try await Self.assignedOrder(client, tokens, h.store)
            let own = "/v1/orders/\(order)/live"
            let orders = OrderService(store: h.store, notifier: hub.notifier)

            // Reassigned: the agent's feed closes at the unassignment, before any frame of it.
            let (reassigned, agentFrames) = try await Self.follow(client, own, bearer: tokens[.agent]) {
                _ = try await orders.apply(OrderChange(action: .unassign, actor: "system"), to: order)
            }
            #expect(reassigned?.closeCode == .policyViolation)
            #expect(reassigned?.reason == "this order is no longer yours to follow")
            #expect(agentFrames.count == 1 && agentFrames[0].contains(#""type":"snapshot""#), "\(agentFrames)")
            try await DispatchTests.onShiftAndOnline(h.store, "a-2")
            let assign = try await client.act("assign", order, try #require(tokens[.operator]), #"{"agent":"a-2"}"#)
            #expect(assign.status == .ok, "\(assign.text)")

            // Revoked while open: the next status change closes the feed instead of showing it.
            let customer = try #require(tokens[.customer])
            let (revoked, customerFrames) = try await Self.follow(client, own, bearer: customer) {
                let revoke = try await client.send(
                    .post, "/v1/users/\(f.customerA.id)/revoke-tokens", token: try #require(tokens[.operator]))
                #expect(revoke.status == .noContent)
                _ = try await orders.apply(OrderChange(action: .prepare, actor: "system"), to: order)
            }
            #expect(revoked?.closeCode == .policyViolation && revoked?.reason == "access token revoked")
            #expect(customerFrames.count == 1, "\(customerFrames)")

            // A token that expires while the feed is open: closed just after, by the expiry's own timer.
            let epoch = try #require(try await h.store.user(id: f.customerA.id)).tokenEpoch
            let ttl = Double(hub.auth.signer.ttl)
            let shortLived = try await hub.auth.signer.sign(
                Identity(userID: f.customerA.id, role: .customer), session: nil, epoch: epoch,
                now: Date().addingTimeInterval(3 - ttl))
            let (expired, _) = try await Self.follow(client, own, bearer: shortLived) {}
            #expect(expired?.closeCode == .policyViolation && expired?.reason == "access token expired")
        }
    }

    /// The periodic re-check (shortened here): sign-out, revocation and a disabled account end open feeds, the
    /// operators' fleet feed included.
    @Test func openFeedsEndWhenTheSignInEndsTheTokensAreRevokedOrTheAccountIsDisabled() async throws {
        let h = try HubHarness()
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        let second = try await h.addUser("op2@example.com", role: .operator)
        try await h.run(.live, configure: { $0.liveAccessRecheck = .milliseconds(200) }) { client, _ in
            let tokens = try await Self.signIn(client, f)
            let op = try #require(tokens[.operator])
            let order = try await Self.assignedOrder(client, tokens, h.store)
            let own = "/v1/orders/\(order)/live"

            let (access, refresh) = try await client.login(f.customerA.email)
            let (loggedOut, _) = try await Self.follow(client, own, bearer: access) {
                let logout = try await client.send(
                    .post, "/v1/auth/logout", json: #"{"refreshToken":"\#(refresh)"}"#)
                #expect(logout.status == .noContent)
            }
            #expect(loggedOut?.closeCode == .policyViolation)
            #expect(loggedOut?.reason == "this sign-in has ended (signed out or revoked)")

            let (revoked, _) = try await Self.follow(client, own, bearer: try await client.login(f.customerA.email).0) {
                let revoke = try await client.send(.post, "/v1/users/\(f.customerA.id)/revoke-tokens", token: op)
                #expect(revoke.status == .noContent)
            }
            #expect(revoked?.closeCode == .policyViolation && revoked?.reason == "access token revoked")

            let (disabled, _) = try await Self.follow(client, own, bearer: try #require(tokens[.restaurant])) {
                let disable = try await client.send(.post, "/v1/users/\(f.owner.id)/disable", token: op)
                #expect(disable.status == .ok && disable.json?["disabled"] as? Bool == true, "\(disable.text)")
            }
            #expect(disabled?.closeCode == .policyViolation && disabled?.reason == "this account is disabled")

            // The fleet feed, opened with a ticket: the operator's tokens are revoked by another operator.
            let (secondAccess, _) = try await client.login(second.email)
            let fleet = "/v1/fleet/live?ticket=" + (try await Self.ticket(client, secondAccess)())
            let (fleetClosed, fleetFrames) = try await Self.follow(client, fleet, bearer: nil) {
                let revoke = try await client.send(.post, "/v1/users/\(second.id)/revoke-tokens", token: op)
                #expect(revoke.status == .noContent)
            }
            #expect(fleetClosed?.closeCode == .policyViolation && fleetClosed?.reason == "access token revoked")
            #expect(fleetFrames.first?.contains(#""type":"snapshot""#) == true)
        }
    }

    // MARK: - Helpers

    /// Every signed-in viewer's access token.
    static func signIn(_ client: some TestClientProtocol, _ f: OrderFixture) async throws -> [Viewer: String] {
        var tokens: [Viewer: String] = [:]
        for (viewer, user) in [
            (Viewer.customer, f.customerA), (.otherCustomer, f.customerB), (.restaurant, f.owner),
            (.otherRestaurant, f.otherOwner), (.agent, f.agentUser), (.otherAgent, f.otherAgentUser),
            (.operator, f.operatorUser),
        ] {
            tokens[viewer] = try await client.login(user.email).0
        }
        return tokens
    }

    /// The customer's order, accepted and assigned to agent a-1 (put on shift and online: operators assign only to
    /// such agents).
    static func assignedOrder(_ client: some TestClientProtocol, _ tokens: [Viewer: String], _ store: SQLiteHubStore)
        async throws -> String
    {
        let order = try await client.placeOrder(try #require(tokens[.customer]))
        #expect(
            try await client.act("accept", order, try #require(tokens[.restaurant]), #"{"prepMinutes":5}"#).status
                == .ok)
        try await DispatchTests.onShiftAndOnline(store, "a-1")
        #expect(
            try await client.act("assign", order, try #require(tokens[.operator]), #"{"agent":"a-1"}"#).status == .ok)
        return order
    }

    /// Issues WebSocket tickets to the holder of `token` (`POST /v1/ws-tickets`).
    static func ticket(_ client: some TestClientProtocol, _ token: String) throws -> @Sendable () async throws -> String
    {
        { [client] in
            let response = try await client.send(.post, "/v1/ws-tickets", token: token)
            guard let ticket = response.json?["ticket"] as? String else {
                throw TestSupportError("ws-tickets: \(response.status) \(response.text)")
            }
            return ticket
        }
    }

    /// One cell: 101 opens the feed and reads its snapshot; any other status is a refused upgrade answered with
    /// that status and the JSON error (whose message contains `message` when given).
    static func expect(
        _ status: Int, _ client: some TestClientProtocol, _ port: Int, _ path: String, bearer: String?, _ cell: String,
        origin: String? = nil, message: String? = nil
    ) async throws {
        if status == 101 {
            let (_, frames) = try await follow(client, path, bearer: bearer, closeAfterSnapshot: true) {}
            #expect(frames.first?.contains(#""type":"snapshot""#) == true, "\(cell): \(frames)")
            return
        }
        let (answered, body) = try await upgrade(port: port, path, bearer: bearer, origin: origin)
        #expect(answered == status, "\(cell): \(answered) \(body)")
        let error = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]
        let detail = error?["error"] as? [String: Any]
        #expect(detail?["code"] as? String == APIError.code(for: .init(code: status)), "\(cell): \(body)")
        if let message { #expect((detail?["message"] as? String)?.contains(message) == true, "\(cell): \(body)") }
    }

    /// A WebSocket upgrade request over a plain socket (the test client's HTTP requests say `keep-alive`, which is
    /// no upgrade): the status and body of a refusal.
    static func upgrade(port: Int, _ path: String, bearer: String?, origin: String? = nil) async throws -> (Int, String)
    {
        var headers = [
            "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version: 13",
        ]
        if let bearer { headers.append("Authorization: Bearer \(bearer)") }
        if let origin { headers.append("Origin: \(origin)") }
        let request = headers
        let (status, body) = try await offPool {
            try LoopbackHTTP.exchange(
                port: port, method: "GET", path: path, body: Data(), headers: request, timeout: 10)
        }
        return (status, String(decoding: body, as: UTF8.self))
    }

    /// Opens `path`, runs `action` once the snapshot came, and reads until the hub closes the feed (or, with
    /// `closeAfterSnapshot`, closes it after the snapshot). Returns the close frame and every text frame. A watchdog
    /// closes with 1001 when the hub does not end the feed within the generous deadline.
    static func follow(
        _ client: some TestClientProtocol, _ path: String, bearer: String?, closeAfterSnapshot: Bool = false,
        action: @escaping @Sendable () async throws -> Void
    ) async throws -> (WebSocketCloseFrame?, [String]) {
        var fields = HTTPFields()
        if let bearer { fields[.authorization] = "Bearer \(bearer)" }
        let headers = fields
        let frames = FrameLog()
        let closed = try await client.ws(path, configuration: .init(additionalHeaders: headers)) {
            inbound, outbound, _ in
            let watchdog = Task {
                guard (try? await Task.sleep(for: TestDeadline.generous)) != nil else { return }
                try? await outbound.close(.goingAway, reason: "test timeout")
            }
            defer { watchdog.cancel() }
            var acted = false
            for try await message in inbound.messages(maxSize: 1 << 20) {
                guard case .text(let text) = message else { continue }
                frames.append(text)
                if closeAfterSnapshot {
                    try await outbound.close(.normalClosure, reason: nil)
                    return
                }
                if !acted {
                    acted = true
                    try await action()
                }
            }
        }
        return (closed, frames.withLock { $0 })
    }
}
