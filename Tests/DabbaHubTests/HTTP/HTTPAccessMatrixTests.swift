import HTTPTypes
@testable import HubModel
import HummingbirdTesting
import Testing

@testable import DabbaHub

/// Every route × every kind of caller, with the exact status per cell. Foreign or unknown ids answer 404. The
/// WebSocket routes are in `HTTPAccessMatrixTests+WebSocket.swift` (over a real socket).
@Suite(.serialized) struct HTTPAccessMatrixTests {
    enum Caller: CaseIterable { case anonymous, agent, customer, restaurant, `operator` }

    struct Row {
        var method: HTTPRequest.Method
        var path: String
        var body: String?
        /// Expected status for anonymous, agent (a-1), customer, restaurant, operator.
        var expected: [Int]
    }

    static let rows: [Row] = [
        Row(method: .get, path: "/health", expected: [200, 200, 200, 200, 200]),
        Row(method: .get, path: "/metrics", expected: [200, 200, 200, 200, 200]),
        Row(method: .get, path: "/openapi.yaml", expected: [200, 200, 200, 200, 200]),
        Row(method: .get, path: "/v1/web-config", expected: [200, 200, 200, 200, 200]),
        Row(method: .get, path: "/app", expected: [200, 200, 200, 200, 200]),
        Row(method: .get, path: "/restaurant", expected: [200, 200, 200, 200, 200]),
        Row(method: .get, path: "/v1/agents", expected: [401, 403, 403, 403, 200]),
        Row(method: .get, path: "/v1/agents/a-1", expected: [401, 200, 403, 403, 200]),
        Row(method: .get, path: "/v1/agents/a-2", expected: [401, 404, 403, 403, 200]),
        Row(method: .get, path: "/v1/agents/no-such", expected: [401, 404, 403, 403, 404]),
        Row(method: .get, path: "/v1/agents/a-1/positions", expected: [401, 403, 403, 403, 200]),
        Row(method: .get, path: "/v1/agents/no-such/positions", expected: [401, 403, 403, 403, 404]),
        Row(method: .get, path: "/v1/agents/a-2/track", expected: [401, 403, 403, 403, 200]),
        Row(method: .get, path: "/v1/agents/no-such/track", expected: [401, 403, 403, 403, 404]),
        Row(method: .get, path: "/v1/agents/a-1/seq-conflicts", expected: [401, 403, 403, 403, 200]),
        Row(method: .get, path: "/v1/agents/no-such/seq-conflicts", expected: [401, 403, 403, 403, 404]),
        Row(method: .get, path: "/v1/fleet", expected: [401, 403, 403, 403, 200]),
        Row(method: .post, path: "/v1/ws-tickets", expected: [401, 200, 200, 200, 200]),
        Row(method: .get, path: "/v1/webhooks", expected: [401, 403, 403, 200, 200]),
        Row(method: .delete, path: "/v1/webhooks/no-such", expected: [401, 403, 403, 404, 404]),
        Row(method: .get, path: "/v1/webhooks/no-such/deliveries", expected: [401, 403, 403, 404, 404]),
        Row(method: .post, path: "/v1/auth/register", body: "register", expected: [201, 201, 201, 201, 201]),
        Row(
            method: .post, path: "/v1/auth/login", body: #"{"email":"op@example.com","password":"wrong-one"}"#,
            expected: [401, 401, 401, 401, 401]),
        Row(
            method: .post, path: "/v1/auth/refresh", body: #"{"refreshToken":"x"}"#,
            expected: [401, 401, 401, 401, 401]),
        Row(
            method: .post, path: "/v1/auth/logout", body: #"{"refreshToken":"x"}"#, expected: [204, 204, 204, 204, 204]),
        Row(
            method: .post, path: "/v1/auth/password",
            body: #"{"currentPassword":"wrong-one","newPassword":"new-one-1"}"#,
            expected: [401, 403, 403, 403, 403]),
        Row(method: .post, path: "/v1/users/999999/disable", expected: [401, 403, 403, 403, 404]),
        Row(method: .post, path: "/v1/users/999999/enable", expected: [401, 403, 403, 403, 404]),
        Row(method: .post, path: "/v1/users/999999/revoke-tokens", expected: [401, 403, 403, 403, 404]),
        Row(method: .post, path: "/v1/users/someone/revoke-tokens", expected: [401, 403, 403, 403, 400]),
        Row(method: .get, path: "/v1/restaurants", expected: [200, 200, 200, 200, 200]),
        Row(method: .get, path: "/v1/restaurants/r-own", expected: [200, 200, 200, 200, 200]),
        Row(method: .get, path: "/v1/restaurants/r-none", expected: [404, 404, 404, 404, 404]),
        Row(method: .get, path: "/v1/restaurants/r-own/menu", expected: [200, 200, 200, 200, 200]),
        Row(method: .get, path: "/v1/restaurants/r-none/menu", expected: [404, 404, 404, 404, 404]),
        Row(method: .post, path: "/v1/restaurants", body: "{}", expected: [401, 403, 403, 400, 400]),
        Row(method: .patch, path: "/v1/restaurants/r-own", body: "{}", expected: [401, 403, 403, 200, 200]),
        Row(method: .patch, path: "/v1/restaurants/r-other", body: "{}", expected: [401, 403, 403, 404, 200]),
        Row(method: .patch, path: "/v1/restaurants/r-none", body: "{}", expected: [401, 403, 403, 404, 404]),
        Row(method: .post, path: "/v1/restaurants/r-own/pause", expected: [401, 403, 403, 200, 200]),
        Row(method: .post, path: "/v1/restaurants/r-other/unpause", expected: [401, 403, 403, 404, 200]),
        Row(
            method: .post, path: "/v1/restaurants/r-other/menu/sections", body: "{}",
            expected: [401, 403, 403, 404, 422]),
        Row(method: .post, path: "/v1/restaurants/r-own/menu/items", body: "{}", expected: [401, 403, 403, 422, 422]),
        Row(
            method: .patch, path: "/v1/restaurants/r-own/menu/items/i-none", body: "{}",
            expected: [401, 403, 403, 404, 404]),
        Row(
            method: .delete, path: "/v1/restaurants/r-other/menu/sections/s-none", expected: [401, 403, 403, 404, 404]),
        Row(method: .get, path: "/v1/zones", expected: [401, 403, 403, 403, 200]),
        Row(method: .post, path: "/v1/zones", body: "{}", expected: [401, 403, 403, 403, 422]),
        Row(method: .get, path: "/v1/zones/z-none", expected: [401, 403, 403, 403, 404]),
        Row(method: .patch, path: "/v1/zones/z-none", body: "{}", expected: [401, 403, 403, 403, 404]),
        Row(method: .get, path: "/v1/zones/lookup", expected: [400, 400, 400, 400, 400]),
        Row(method: .get, path: "/v1/orders", expected: [401, 200, 200, 200, 200]),
        Row(method: .post, path: "/v1/orders", body: "{}", expected: [401, 403, 400, 403, 403]),
        Row(method: .get, path: "/v1/orders/o-1", expected: [401, 404, 200, 200, 200]),
        Row(method: .get, path: "/v1/orders/o-rival", expected: [401, 404, 404, 404, 200]),
        Row(method: .get, path: "/v1/orders/o-none", expected: [401, 404, 404, 404, 404]),
        Row(method: .get, path: "/v1/orders/o-1/events", expected: [401, 404, 200, 200, 200]),
        Row(method: .post, path: "/v1/orders/o-1/prepare", expected: [401, 404, 403, 409, 409]),
        Row(
            method: .post, path: "/v1/orders/o-rival/accept", body: #"{"prepMinutes":5}"#,
            expected: [401, 404, 404, 404, 200]),
        Row(
            method: .post, path: "/v1/orders/o-1/assign", body: #"{"agent":"a-1"}"#,
            expected: [401, 404, 403, 403, 409]),
        Row(method: .post, path: "/v1/orders/o-1/unassign", expected: [401, 404, 403, 403, 409]),
        Row(method: .post, path: "/v1/orders/o-1/pickup", expected: [401, 404, 403, 403, 409]),
        Row(method: .post, path: "/v1/orders/o-1/cancel", expected: [401, 404, 422, 422, 422]),
        Row(method: .post, path: "/v1/orders/o-1/share", expected: [401, 404, 201, 403, 201]),
        Row(method: .delete, path: "/v1/orders/o-none/share", expected: [401, 404, 404, 404, 404]),
        Row(method: .post, path: "/delivery", body: "{}", expected: [401, 403, 403, 403, 400]),
        Row(method: .get, path: "/delivery/a-1", expected: [401, 404, 403, 403, 404]),
        Row(method: .get, path: "/delivery/a-2", expected: [401, 404, 403, 403, 404]),
        Row(method: .put, path: "/delivery/a-1", expected: [401, 409, 403, 403, 409]),
        Row(method: .put, path: "/delivery/no-such", expected: [401, 404, 403, 403, 404]),
        Row(method: .post, path: "/newdelivery", body: #"{"order":"o-1"}"#, expected: [401, 403, 403, 409, 409]),
        Row(method: .post, path: "/newdelivery", body: #"{"order":"o-rival"}"#, expected: [401, 403, 403, 404, 202]),
        Row(
            method: .post, path: "/v1/agents/a-1/shift", body: #"{"action":"start"}"#,
            expected: [401, 200, 403, 403, 200]),
        Row(
            method: .post, path: "/v1/agents/a-2/shift", body: #"{"action":"end"}"#,
            expected: [401, 404, 403, 403, 200]),
        Row(
            method: .post, path: "/v1/orders/o-1/offer", body: #"{"decision":"accept"}"#,
            expected: [401, 404, 403, 403, 403]),
        Row(method: .get, path: "/v1/orders/o-1/dispatch", expected: [401, 403, 403, 403, 200]),
        Row(method: .get, path: "/v1/alerts", expected: [401, 403, 403, 403, 200]),
        // Payments: customers see their own (others' ids 404); capture, refunds and the ledger are operators'.
        // Money POSTs without an Idempotency-Key are 400 once the role passes.
        Row(
            method: .post, path: "/v1/orders/o-card/payments", body: #"{"card":"4242424242424242"}"#,
            expected: [401, 403, 400, 403, 403]),
        Row(method: .get, path: "/v1/orders/o-card/payments", expected: [401, 403, 200, 403, 200]),
        Row(method: .get, path: "/v1/orders/o-rival/payments", expected: [401, 403, 404, 403, 200]),
        Row(method: .get, path: "/v1/payments/pay-own", expected: [401, 403, 200, 403, 200]),
        Row(method: .get, path: "/v1/payments/pay-rival", expected: [401, 403, 404, 403, 200]),
        Row(method: .get, path: "/v1/payments/pay-none", expected: [401, 403, 404, 403, 404]),
        Row(method: .post, path: "/v1/payments/pay-own/capture", expected: [401, 403, 403, 403, 400]),
        Row(
            method: .post, path: "/v1/payments/pay-own/refunds", body: #"{"amount":1}"#,
            expected: [401, 403, 403, 403, 400]),
        Row(method: .post, path: "/v1/payments/webhooks/test", body: "{}", expected: [400, 400, 400, 400, 400]),
        Row(method: .get, path: "/v1/payments/dead-letters", expected: [401, 403, 403, 403, 200]),
        Row(
            method: .post, path: "/v1/payments/dead-letters/capture-pay-none/retry",
            expected: [401, 403, 403, 403, 404]),
        Row(method: .get, path: "/v1/ledger/balances", expected: [401, 403, 403, 403, 200]),
        Row(method: .get, path: "/v1/ledger/statement", expected: [401, 403, 403, 403, 400]),
        Row(
            method: .get, path: "/v1/ledger/statement?account=platform:cash&currency=INR",
            expected: [401, 403, 403, 403, 200]),
        Row(method: .get, path: "/v1/ledger/reconciliation", expected: [401, 403, 403, 403, 200]),
        Row(method: .post, path: "/v1/ledger/cash-handins", body: "{}", expected: [401, 403, 403, 403, 400]),
        Row(method: .get, path: "/v1/ledger/agents/a-1/cash?currency=INR", expected: [401, 403, 403, 403, 200]),
        Row(method: .get, path: "/v1/ledger/agents/no-such/cash?currency=INR", expected: [401, 403, 403, 403, 404]),
        Row(method: .get, path: "/v1/no-such-route", expected: [404, 404, 404, 404, 404]),
    ]

    @Test func everyRouteAnswersEveryCallerWithTheExactStatus() async throws {
        let h = try HubHarness()
        defer { h.close() }
        _ = try await h.store.createAgent(id: "a-1", name: "One")
        _ = try await h.store.createAgent(id: "a-2", name: "Two")
        try await h.addUser("agent@example.com", role: .agent, agentID: "a-1")
        try await h.addUser("customer@example.com", role: .customer)
        let owner = try await h.addUser("restaurant@example.com", role: .restaurant)
        let rival = try await h.addUser("rival@example.com", role: .restaurant)
        try await h.addUser("op@example.com", role: .operator)
        for (id, user) in [("r-own", owner), ("r-other", rival)] {
            _ = try await h.store.createRestaurant(
                Restaurant(
                    id: id, name: "Kitchen", address: "Road", location: GeoPoint(lat: 22, lon: 87),
                    ownerUserID: user.id,
                    currency: "INR", hours: .always))
        }
        // Order o-1: the customer's, at r-own; o-rival: someone else's, at r-other. Both placed, unassigned.
        let customer = try await h.store.user(email: "customer@example.com")
        let other = try await h.addUser("other-customer@example.com", role: .customer)
        for (id, restaurant, buyer) in [("o-1", "r-own", customer?.id ?? 0), ("o-rival", "r-other", other.id)] {
            _ = try await h.store.createOrder(
                OrderRecord(
                    id: id, customerID: buyer, restaurantID: restaurant, paymentMethod: .cod, currency: "INR",
                    subtotal: 100, deliveryFee: 10, tax: 6, total: 116, address: "Road", dropLat: 22, dropLon: 87,
                    zoneID: nil, createdAt: 1, updatedAt: 1, lines: []),
                idempotencyKey: nil, requestHash: nil, actor: "customer:\(buyer)")
        }
        // Card orders with payments: pay-own the customer's, pay-rival someone else's.
        for (id, order, buyer) in [("pay-own", "o-card", customer?.id ?? 0), ("pay-rival", "o-rival-card", other.id)] {
            _ = try await h.store.createOrder(
                OrderRecord(
                    id: order, customerID: buyer, restaurantID: "r-own", paymentMethod: .card, currency: "INR",
                    subtotal: 100, deliveryFee: 10, tax: 6, total: 116, address: "Road", dropLat: 22, dropLon: 87,
                    zoneID: nil, createdAt: 1, updatedAt: 1, lines: []),
                idempotencyKey: nil, requestHash: nil, actor: "customer:\(buyer)")
            var authorization = PaymentOperation(
                key: PaymentOperation.authorizeKey(payment: id), paymentID: id, kind: .authorize, amount: 116, now: 1)
            authorization.state = .succeeded
            _ = try await h.store.createPayment(
                PaymentRecord(
                    id: id, orderID: order, customerID: buyer, method: .card, provider: "test", currency: "INR",
                    amount: 116, createdAt: 1), authorization: authorization)
        }
        try await h.run { client, _ in
            var tokens: [Caller: String] = [:]
            for (caller, email) in [
                (Caller.agent, "agent"), (.customer, "customer"), (.restaurant, "restaurant"), (.operator, "op"),
            ] {
                tokens[caller] = try await client.login("\(email)@example.com").0
            }
            var registrations = 0
            for row in Self.rows {
                for (index, caller) in Caller.allCases.enumerated() {
                    var body = row.body
                    if body == "register" {
                        registrations += 1
                        body = #"{"email":"new\#(registrations)@example.com","password":"password-1","name":"N"}"#
                    }
                    let response = try await client.send(row.method, row.path, token: tokens[caller], json: body)
                    let cell = "\(row.method) \(row.path) as \(caller)"
                    #expect(response.status.code == row.expected[index], "\(cell): \(response.text)")
                    if response.status.code >= 400 {
                        #expect(response.errorCode == APIError.code(for: response.status), "\(cell): \(response.text)")
                    }
                }
            }
        }
    }
}
