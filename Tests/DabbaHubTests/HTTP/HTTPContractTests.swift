import DabbaTestSupport
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@testable import DabbaHub

/// Regressions for what the contract fuzzing (`make api-fuzz`, schemathesis against hub/openapi.yaml) found: each
/// test sends the request it found through a running hub over real HTTP and checks the documented answer.
@Suite(.serialized) struct HTTPContractTests {
    /// A GET of a WebSocket route without `Upgrade: websocket` by someone allowed to follow the feed answered an
    /// empty 200, which the document did not list and which tells the client nothing: now 426 `upgrade_required`
    /// in the error shape. Callers without access still get the refusal (401/403/404), as before.
    @Test func plainGetsOfWebSocketRoutesAnswer426ToThoseWithAccess() async throws {
        let h = try HubHarness()
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        try await h.run(.live) { client, _ in
            let (customer, _) = try await client.login(f.customerA.email)
            let (operatorToken, _) = try await client.login(f.operatorUser.email)
            let (other, _) = try await client.login(f.customerB.email)
            let order = try await client.placeOrder(customer)
            let share = try await client.send(.post, "/v1/orders/\(order)/share", token: customer, json: "{}")
            let token = try #require(share.json?["token"] as? String, "\(share.text)")

            for (path, bearer) in [
                ("/v1/orders/\(order)/live", customer), ("/v1/fleet/live", operatorToken),
                ("/v1/track/\(token)/live", nil),
            ] {
                let plain = try await client.send(.get, path, token: bearer)
                #expect(plain.status == .upgradeRequired, "GET \(path): \(plain.status) \(plain.text)")
                #expect(plain.errorCode == "upgrade_required", "GET \(path): \(plain.text)")
                #expect(plain.headers[.contentType]?.hasPrefix("application/json") == true)
            }
            let anonymous = try await client.send(.get, "/v1/orders/\(order)/live")
            #expect(anonymous.status == .unauthorized, "\(anonymous.text)")
            let foreign = try await client.send(.get, "/v1/orders/\(order)/live", token: other)
            #expect(foreign.status == .notFound, "\(foreign.text)")
            let notOperator = try await client.send(.get, "/v1/fleet/live", token: customer)
            #expect(notOperator.status == .forbidden, "\(notOperator.text)")
            let unknownLink = try await client.send(.get, "/v1/track/not-a-token/live")
            #expect(unknownLink.status == .notFound, "\(unknownLink.text)")
        }
    }

    /// The delivery log of an endpoint with no (more) deliveries answered `{"deliveries":[]}` without `next`, which
    /// the document requires on every page (null on the last): now `"next":null`, like the other paged lists.
    @Test func anEmptyDeliveryLogStillCarriesNext() async throws {
        let h = try HubHarness()
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        try await h.run(.live) { client, _ in
            let (owner, _) = try await client.login(f.owner.email)
            let created = try await client.send(
                .post, "/v1/webhooks", token: owner,
                json: #"{"url":"http://127.0.0.1:9/hook","restaurant":"\#(f.restaurant.id)"}"#)
            let id = try #require(created.json?["id"] as? String, "\(created.text)")
            let log = try await client.send(.get, "/v1/webhooks/\(id)/deliveries", token: owner)
            #expect(log.status == .ok, "\(log.text)")
            #expect(log.text.contains(#""next":null"#), "\(log.text)")
            #expect((log.json?["deliveries"] as? [Any])?.isEmpty == true, "\(log.text)")
        }
    }

    /// `GET /v1/orders?customer=null` by anyone but an operator answered 200 (the filter was read for operators
    /// only), though the document types `customer` as an integer: now 400 for everyone; a well-formed one is still
    /// ignored for the other roles, who see only their own orders.
    @Test func aMalformedCustomerFilterIs400ForEveryRole() async throws {
        let h = try HubHarness()
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        try await h.run(.live) { client, _ in
            let (customer, _) = try await client.login(f.customerA.email)
            let (agent, _) = try await client.login(f.agentUser.email)
            let (operatorToken, _) = try await client.login(f.operatorUser.email)
            let order = try await client.placeOrder(customer)
            for token in [customer, agent, operatorToken] {
                let malformed = try await client.send(.get, "/v1/orders?customer=null", token: token)
                #expect(malformed.status == .badRequest && malformed.errorCode == "bad_request", "\(malformed.text)")
            }
            let ignored = try await client.send(.get, "/v1/orders?customer=\(f.customerB.id)", token: customer)
            #expect(ignored.status == .ok, "\(ignored.text)")
            let ids = (ignored.json?["orders"] as? [JSONObject])?.compactMap { $0["id"] as? String }
            #expect(ids == [order], "\(ignored.text)")
        }
    }

    /// `GET /v1/orders?status=,,,` (only commas) was read as no filter at all — every order — though it names no
    /// status (the `query` fuzz target's reproducer `Tests/Fuzz/crashes/query/crash-e32b7aa…`): now 400 for every
    /// role; a list with an empty element between names still filters by the names.
    @Test func aStatusFilterOfOnlyCommasIs400ForEveryRole() async throws {
        let h = try HubHarness()
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        try await h.run(.live) { client, _ in
            let (customer, _) = try await client.login(f.customerA.email)
            let (owner, _) = try await client.login(f.owner.email)
            let (operatorToken, _) = try await client.login(f.operatorUser.email)
            let order = try await client.placeOrder(customer)
            for token in [customer, owner, operatorToken] {
                let commas = try await client.send(.get, "/v1/orders?status=,,,", token: token)
                #expect(commas.status == .badRequest && commas.errorCode == "bad_request", "\(commas.text)")
            }
            let listed = try await client.send(.get, "/v1/orders?status=placed,,confirmed", token: customer)
            let ids = (listed.json?["orders"] as? [JSONObject])?.compactMap { $0["id"] as? String }
            #expect(listed.status == .ok && ids == [order], "\(listed.text)")
        }
    }
}
