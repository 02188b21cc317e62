import HTTPTypes
import HummingbirdTesting
import Testing

@testable import DabbaHub

/// Every route × every kind of caller, with the exact status per cell. Foreign or unknown ids answer 404.
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
        Row(method: .get, path: "/v1/agents", expected: [401, 403, 403, 403, 200]),
        Row(method: .get, path: "/v1/agents/a-1", expected: [401, 200, 403, 403, 200]),
        Row(method: .get, path: "/v1/agents/a-2", expected: [401, 404, 403, 403, 200]),
        Row(method: .get, path: "/v1/agents/no-such", expected: [401, 404, 403, 403, 404]),
        Row(method: .get, path: "/v1/agents/a-1/positions", expected: [401, 403, 403, 403, 200]),
        Row(method: .get, path: "/v1/agents/no-such/positions", expected: [401, 403, 403, 403, 404]),
        Row(method: .get, path: "/v1/agents/a-2/track", expected: [401, 403, 403, 403, 200]),
        Row(method: .get, path: "/v1/agents/no-such/track", expected: [401, 403, 403, 403, 404]),
        Row(method: .get, path: "/v1/fleet", expected: [401, 403, 403, 403, 200]),
        Row(method: .post, path: "/v1/ws-tickets", expected: [401, 200, 200, 200, 200]),
        Row(method: .get, path: "/v1/webhooks", expected: [401, 403, 403, 200, 200]),
        Row(method: .delete, path: "/v1/webhooks/no-such", expected: [401, 403, 403, 404, 404]),
        Row(method: .get, path: "/v1/webhooks/no-such/deliveries", expected: [401, 403, 403, 404, 404]),
        Row(method: .post, path: "/v1/auth/register", body: "register", expected: [201, 201, 201, 201, 201]),
        Row(
            method: .post, path: "/v1/auth/login", body: #"{"email":"op@example.com","password":"wrong-one"}"#,
            expected: [401, 401, 401, 401, 401]),
        Row(method: .post, path: "/v1/auth/refresh", body: #"{"refreshToken":"x"}"#, expected: [401, 401, 401, 401, 401]),
        Row(method: .post, path: "/v1/auth/logout", body: #"{"refreshToken":"x"}"#, expected: [204, 204, 204, 204, 204]),
        Row(method: .get, path: "/v1/no-such-route", expected: [404, 404, 404, 404, 404]),
    ]

    @Test func everyRouteAnswersEveryCallerWithTheExactStatus() async throws {
        let h = try HubHarness()
        defer { h.close() }
        _ = try await h.store.createAgent(id: "a-1", name: "One")
        _ = try await h.store.createAgent(id: "a-2", name: "Two")
        try await h.addUser("agent@example.com", role: .agent, agentID: "a-1")
        try await h.addUser("customer@example.com", role: .customer)
        try await h.addUser("restaurant@example.com", role: .restaurant)
        try await h.addUser("op@example.com", role: .operator)
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
