import DabbaTestSupport
import Foundation
import HTTPTypes
@testable import HubModel
import HummingbirdTesting
import Testing

@testable import DabbaHub

/// Orders over HTTP: server-side pricing, idempotent create, the lifecycle with 409s, cancel paths, and
/// object-level access.
@Suite(.serialized) struct HTTPOrdersTests {
    @Test func ordersArePricedOnTheServerAndIgnoreClientPrices() async throws {
        let h = try HubHarness(["tax-rate-bps": "500"])
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        try await h.run { client, _ in
            let (token, _) = try await client.login(f.customerA.email)
            // The client claims the dosa costs 1 and the total is 1: both ignored.
            let tampered = OrderFixture.orderJSON(extra: #","price":1,"unitPrice":1,"total":1"#)
            let response = try await client.send(.post, "/v1/orders", token: token, json: tampered)
            #expect(response.status == .created, "\(response.text)")
            let order = try #require(response.json)
            // 2 × (250.00 + 30.00 ghee) = 560.00; fee 40.00; tax 5% of 600.00 = 30.00; total 630.00.
            #expect(order["subtotal"] as? Int == 56_000 && order["deliveryFee"] as? Int == 4_000)
            #expect(order["tax"] as? Int == 3_000 && order["total"] as? Int == 63_000)
            #expect(order["currency"] as? String == "INR" && order["status"] as? String == "placed")
            #expect(order["zone"] as? String == "z-central")
            let items = try #require(order["items"] as? [[String: Any]])
            #expect(
                items.count == 1 && items[0]["unitPrice"] as? Int == 28_000 && items[0]["lineTotal"] as? Int == 56_000)
        }
    }

    @Test func idempotencyKeyReturnsTheSameOrderAndRefusesADifferentBody() async throws {
        let h = try HubHarness()
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        try await h.run { client, _ in
            let (token, _) = try await client.login(f.customerA.email)
            var headers = HTTPFields()
            headers[HTTPField.Name("Idempotency-Key")!] = "k-123"
            let first = try await client.send(
                .post, "/v1/orders", token: token, json: OrderFixture.orderJSON(), headers: headers)
            let again = try await client.send(
                .post, "/v1/orders", token: token, json: OrderFixture.orderJSON(), headers: headers)
            #expect(first.status == .created && again.status == .created, "\(again.text)")
            #expect(first.json?["id"] as? String == again.json?["id"] as? String)
            #expect(again.headers[HTTPField.Name("Idempotency-Replayed")!] == "true")
            let different = try await client.send(
                .post, "/v1/orders", token: token, json: OrderFixture.orderJSON(options: []), headers: headers)
            #expect(different.status == .unprocessableContent && different.errorCode == "invalid", "\(different.text)")
            let list = try await client.send(.get, "/v1/orders", token: token)
            #expect((list.json?["orders"] as? [Any])?.count == 1)
        }
    }

    @Test func unservedAddressesClosedRestaurantsAndBadItemsAreClear422s() async throws {
        let h = try HubHarness()
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        var paused = f.otherRestaurant
        paused.paused = true
        _ = try await h.store.updateRestaurant(paused)
        try await h.run { client, _ in
            let (token, _) = try await client.login(f.customerA.email)
            let cases: [(String, HTTPResponse.Status, String)] = [
                (OrderFixture.orderJSON(at: OrderFixture.faraway), .unprocessableContent, "not_served"),
                (
                    OrderFixture.orderJSON(restaurant: "r-other", options: []), .unprocessableContent,
                    "restaurant_closed"
                ),
                (OrderFixture.orderJSON(item: "i-gone", options: []), .unprocessableContent, "unavailable"),
                (OrderFixture.orderJSON(item: "i-nope"), .unprocessableContent, "invalid"),
                (OrderFixture.orderJSON(options: ["o-ghee", "o-cheese", "o-ghee"]), .unprocessableContent, "invalid"),
                (OrderFixture.orderJSON(options: ["o-unknown"]), .unprocessableContent, "invalid"),
                (OrderFixture.orderJSON(restaurant: "r-missing"), .notFound, "not_found"),
                (#"{"restaurant":"r-dosa","items":"many"}"#, .badRequest, "bad_request"),
            ]
            for (json, status, code) in cases {
                let response = try await client.send(.post, "/v1/orders", token: token, json: json)
                #expect(
                    response.status == status && response.errorCode == code,
                    "\(json) → \(response.status) \(response.text)")
            }
            // Only customers place orders.
            let (op, _) = try await client.login(f.operatorUser.email)
            #expect(
                try await client.send(.post, "/v1/orders", token: op, json: OrderFixture.orderJSON()).status
                    == .forbidden)
            #expect(try await h.store.orders(OrderFilter(), after: nil, limit: 10).isEmpty)
        }
    }

    @Test func theLifecycleRefusesIllegalTransitionsWith409AndTheCurrentState() async throws {
        let h = try HubHarness()
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        try await h.run { client, _ in
            let (customer, _) = try await client.login(f.customerA.email)
            let (owner, _) = try await client.login(f.owner.email)
            let (op, _) = try await client.login(f.operatorUser.email)
            let (agent, _) = try await client.login(f.agentUser.email)
            let id = try await client.placeOrder(customer)

            func expectConflict(_ action: String, _ token: String, _ json: String? = nil, state: String) async throws {
                let r = try await client.act(action, id, token, json)
                #expect(r.status == .conflict && r.errorCode == "conflict", "\(action) → \(r.status) \(r.text)")
                #expect(r.text.contains("current state: \(state)"), "\(r.text)")
            }
            try await expectConflict("ready", owner, state: "placed")
            try await expectConflict("assign", op, #"{"agent":"a-1"}"#, state: "placed")
            try await expectConflict("pickup", op, state: "placed")
            // An agent cannot even see an order that is not assigned to it.
            #expect(try await client.act("pickup", id, agent).status == .notFound)
            #expect(try await client.act("accept", id, owner).status == .unprocessableContent)  // no prep time
            #expect(
                try await client.act("accept", id, owner, #"{"prepMinutes":15}"#).json?["status"] as? String
                    == "confirmed")
            try await expectConflict("accept", owner, #"{"prepMinutes":15}"#, state: "confirmed")
            try await expectConflict("deliver", op, state: "confirmed")
            #expect(try await client.act("prepare", id, owner).json?["status"] as? String == "preparing")
            // A body outside the document is refused whatever the action uses of it, before the state is looked at
            // (api-fuzz found `ready` with such a body accepted): prepMinutes out of 1–240, a reason over 500
            // characters as JSON Schema counts them (code points: 300 flags are 300 characters to Swift, 600 here).
            let flags = String(repeating: "🇮🇳", count: 300)
            for body in [#"{"prepMinutes":0}"#, #"{"prepMinutes":241}"#, #"{"reason":"\#(flags)"}"#] {
                let r = try await client.act("ready", id, owner, body)
                #expect(r.status == .unprocessableContent && r.errorCode == "invalid", "\(body.prefix(40)): \(r.text)")
            }
            #expect(try await h.store.order(id: id)?.status == .preparing)
            #expect(try await client.act("assign", id, op, #"{"agent":"a-9"}"#).status == .unprocessableContent)
            // Only to an agent on shift and online (DispatchLimitsTests has the rest).
            try await DispatchTests.onShiftAndOnline(h.store, "a-1")
            #expect(
                try await client.act("assign", id, op, #"{"agent":"a-1"}"#).json?["status"] as? String == "assigned")
            // The kitchen still reports readiness on an assigned order.
            let ready = try await client.act("ready", id, owner)
            #expect(ready.json?["status"] as? String == "assigned" && ready.json?["readyAt"] != nil)
            try await expectConflict("deliver", agent, state: "assigned")
            #expect(try await client.act("pickup", id, agent).json?["status"] as? String == "picked_up")
            try await expectConflict("cancel", op, #"{"reason":"late"}"#, state: "picked_up")
            #expect(try await client.act("deliver", id, agent).json?["status"] as? String == "delivered")
            try await expectConflict("fail", op, #"{"reason":"x"}"#, state: "delivered")

            let timeline = try await client.send(.get, "/v1/orders/\(id)/events", token: customer)
            let statuses = (timeline.json?["events"] as? [[String: Any]])?.compactMap { $0["status"] as? String }
            #expect(statuses == ["placed", "confirmed", "preparing", "assigned", "assigned", "picked_up", "delivered"])
            let actors = (timeline.json?["events"] as? [[String: Any]])?.compactMap { $0["actor"] as? String }
            #expect(actors?.first == "customer:\(f.customerA.id)" && actors?.last == "agent:a-1")
        }
    }

    @Test func everyCancelPath() async throws {
        let h = try HubHarness()
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        try await h.run { client, _ in
            let (customer, _) = try await client.login(f.customerA.email)
            let (owner, _) = try await client.login(f.owner.email)
            let (op, _) = try await client.login(f.operatorUser.email)
            let reason = #"{"reason":"changed my mind"}"#
            // Customer: only before confirmation, and a reason is required.
            let early = try await client.placeOrder(customer)
            #expect(try await client.act("cancel", early, customer).status == .unprocessableContent)
            #expect(try await client.act("cancel", early, customer, reason).json?["status"] as? String == "cancelled")
            let confirmed = try await client.placeOrder(customer)
            _ = try await client.act("accept", confirmed, owner, #"{"prepMinutes":10}"#)
            #expect(try await client.act("cancel", confirmed, customer, reason).status == .conflict)
            // Restaurant: while preparing.
            _ = try await client.act("prepare", confirmed, owner)
            #expect(
                try await client.act("cancel", confirmed, owner, #"{"reason":"out of batter"}"#).json?["status"]
                    as? String == "cancelled")
            // Restaurant rejects a new order.
            let rejected = try await client.placeOrder(customer)
            #expect(
                try await client.act("reject", rejected, owner, #"{"reason":"closing"}"#).json?["status"] as? String
                    == "rejected")
            // Operator: after assignment (to an agent on shift and online).
            try await DispatchTests.onShiftAndOnline(h.store, "a-1")
            let assigned = try await client.placeOrder(customer)
            _ = try await client.act("accept", assigned, owner, #"{"prepMinutes":10}"#)
            _ = try await client.act("assign", assigned, op, #"{"agent":"a-1"}"#)
            let byOperator = try await client.act("cancel", assigned, op, #"{"reason":"customer unreachable"}"#)
            #expect(byOperator.json?["status"] as? String == "cancelled")
            let events = try await h.store.orderEvents(order: assigned)
            #expect(
                events.last?.reason == "customer unreachable" && events.last?.actor == "operator:\(f.operatorUser.id)")
            // Operator marks a picked-up order failed.
            let failed = try await client.placeOrder(customer)
            _ = try await client.act("accept", failed, owner, #"{"prepMinutes":10}"#)
            _ = try await client.act("assign", failed, op, #"{"agent":"a-1"}"#)
            let (agent, _) = try await client.login(f.agentUser.email)
            _ = try await client.act("pickup", failed, agent)
            #expect(
                try await client.act("fail", failed, op, #"{"reason":"accident"}"#).json?["status"] as? String
                    == "failed")
        }
    }

    @Test func othersCannotReadCancelOrListSomeoneElsesOrder() async throws {
        let h = try HubHarness()
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        try await h.run { client, _ in
            let (a, _) = try await client.login(f.customerA.email)
            let (b, _) = try await client.login(f.customerB.email)
            let (otherOwner, _) = try await client.login(f.otherOwner.email)
            let (owner, _) = try await client.login(f.owner.email)
            let (otherAgent, _) = try await client.login(f.otherAgentUser.email)
            let id = try await client.placeOrder(a)
            for token in [b, otherOwner, otherAgent] {
                #expect(try await client.send(.get, "/v1/orders/\(id)", token: token).status == .notFound)
                #expect(try await client.send(.get, "/v1/orders/\(id)/events", token: token).status == .notFound)
                #expect(try await client.act("cancel", id, token, #"{"reason":"x"}"#).status == .notFound)
                #expect(try await client.send(.post, "/v1/orders/\(id)/share", token: token).status == .notFound)
            }
            #expect(try await client.send(.get, "/v1/orders/no-such", token: a).status == .notFound)
            #expect(try await client.send(.get, "/v1/orders/\(id)", token: owner).status == .ok)
            #expect(((try await client.send(.get, "/v1/orders", token: b)).json?["orders"] as? [Any])?.isEmpty == true)
            #expect(
                ((try await client.send(.get, "/v1/orders", token: otherOwner)).json?["orders"] as? [Any])?.isEmpty
                    == true)
            #expect(((try await client.send(.get, "/v1/orders", token: owner)).json?["orders"] as? [Any])?.count == 1)
            #expect(try await client.send(.get, "/v1/orders/\(id)").status == .unauthorized)
            // A customer's ticket for their own order works; for someone else's, the upgrade is refused (404).
            #expect(try await client.act("cancel", id, a, #"{"reason":"mine"}"#).status == .ok)
        }
    }

    @Test func listsPageThroughEveryOrderOnce() async throws {
        let h = try HubHarness()
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        try await h.run { client, _ in
            let (a, _) = try await client.login(f.customerA.email)
            var placed = Set<String>()
            for _ in 0..<7 { placed.insert(try await client.placeOrder(a)) }
            var seen: [String] = []
            var cursor: String?
            for _ in 0..<10 {
                let page = try await client.send(
                    .get, "/v1/orders?limit=3" + (cursor.map { "&cursor=\($0)" } ?? ""), token: a)
                seen += (page.json?["orders"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
                cursor = page.json?["next"] as? String
                if cursor == nil { break }
            }
            #expect(seen.count == 7 && Set(seen) == placed)
            let filtered = try await client.send(.get, "/v1/orders?status=delivered", token: a)
            #expect((filtered.json?["orders"] as? [Any])?.isEmpty == true)
            #expect(try await client.send(.get, "/v1/orders?status=bogus", token: a).status == .badRequest)
        }
    }
}
