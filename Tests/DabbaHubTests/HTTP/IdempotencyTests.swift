import DabbaCore
import DabbaTestSupport
import Foundation
import HTTPTypes
@testable import HubModel
@testable import HubSQLite
import HummingbirdTesting
import Testing

@testable import DabbaHub

/// The one `Idempotency-Key` rule (``IdempotentRequest``) on order placement and on payments: the key is looked up
/// before any work, bodies compare in ``CanonicalJSON`` form, another body is 422, a key in progress is 409.
@Suite(.serialized) struct IdempotencyTests {
    static func key(_ value: String) -> HTTPFields { [HTTPField.Name("Idempotency-Key")!: value] }
    static let replayed = HTTPField.Name("Idempotency-Replayed")!

    /// `OrderFixture.orderJSON()` with the members in another order, other spacing, an escaped character and a
    /// number spelled differently.
    static let reorderedOrder = """
        {
          "paymentMethod" : "cod", "lon": 77.60, "lat": 12.980,
          "items": [ { "options": [ "o-ghee" ], "quantity": 2, "item": "i-masala" } ],
          "address": "\\u0031 MG Road, flat 4",   "restaurant": "r-dosa"
        }
        """

    static func canonical(_ text: String) throws -> String {
        String(decoding: try CanonicalJSON.canonical(Array(text.utf8)), as: UTF8.self)
    }

    @Test func theCanonicalFormSortsMembersDropsSpacingAndReadsNumbersAndEscapes() throws {
        #expect(
            try Self.canonical(#" { "b" : [ 2, 1 ], "a" : { "d" : null, "c" : true } } "#)
                == #"{"a":{"c":true,"d":null},"b":[2,1]}"#)
        #expect(
            try Self.canonical(#"[1, 1.0, 1e0, 10E-1, -0, 0.5, 12.980, 1e20, -9007199254740993]"#)
                == "[1,1,1,1,0,0.5,12.98,1e+20,-9007199254740993]")
        #expect(try Self.canonical(#""\u0041\/\u00e9\ud83d\ude00\n\u0001""#) == "\"A/é😀\\n\\u0001\"")
        #expect(try Self.canonical(Self.reorderedOrder) == Self.canonical(OrderFixture.orderJSON()))
        #expect(try Self.canonical(" \n ").isEmpty)
        #expect(try Self.canonical(OrderFixture.orderJSON(options: [])) != Self.canonical(OrderFixture.orderJSON()))
        let refused = [
            #"{"a":1,"a":2}"#, "{", "[1,]", "01", "1.", "1e", "1e999", #""\ud800""#, "tru", "[1] 2", "\"a\u{01}\"",
            String(repeating: "[", count: 65) + String(repeating: "]", count: 65),
        ]
        for text in refused {
            #expect(throws: CanonicalJSON.Invalid.self, "\(text)") { try Self.canonical(text) }
        }
        #expect(throws: CanonicalJSON.Invalid.self) { try CanonicalJSON.canonical([0x22, 0xFF, 0x22]) }
    }

    @Test func aRetryAfterTheRestaurantClosedReplaysThe201WithTheSameOrder() async throws {
        let h = try HubHarness()
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        try await h.run { client, _ in
            let (token, _) = try await client.login(f.customerA.email)
            let first = try await client.send(
                .post, "/v1/orders", token: token, json: OrderFixture.orderJSON(), headers: Self.key("k-close"))
            #expect(first.status == .created, "\(first.text)")
            var closed = f.restaurant
            closed.paused = true
            _ = try await h.store.updateRestaurant(closed)
            let fresh = try await client.send(.post, "/v1/orders", token: token, json: OrderFixture.orderJSON())
            #expect(fresh.errorCode == "restaurant_closed", "the restaurant is really closed: \(fresh.text)")
            let retry = try await client.send(
                .post, "/v1/orders", token: token, json: OrderFixture.orderJSON(), headers: Self.key("k-close"))
            #expect(retry.status == .created && retry.headers[Self.replayed] == "true", "\(retry.text)")
            #expect(retry.json?["id"] as? String == first.json?["id"] as? String && retry.text == first.text)
            #expect(try await h.store.orders(OrderFilter(), after: nil, limit: 10).count == 1)
        }
    }

    @Test func theSameBodyWithOtherSpacingAndMemberOrderReplaysOnBothRoutes() async throws {
        let h = try HubHarness()
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        try await h.run { client, _ in
            let (token, _) = try await client.login(f.customerA.email)
            let first = try await client.send(
                .post, "/v1/orders", token: token, json: OrderFixture.orderJSON(method: "card"),
                headers: Self.key("k-order"))
            let order = try #require(first.json?["id"] as? String)
            let again = try await client.send(
                .post, "/v1/orders", token: token,
                json: Self.reorderedOrder.replacingOccurrences(of: #""cod""#, with: #""card""#),
                headers: Self.key("k-order"))
            #expect(again.status == .created && again.headers[Self.replayed] == "true", "\(again.text)")
            #expect(again.text == first.text)

            let path = "/v1/orders/\(order)/payments"
            let paid = try await client.send(
                .post, path, token: token, json: #"{"card":"4242424242424242"}"#, headers: Self.key("k-pay"))
            #expect(paid.status == .created, "\(paid.text)")
            let repaid = try await client.send(
                .post, path, token: token, json: "{ \"card\" :\n \"\\u0034242424242424242\" }",
                headers: Self.key("k-pay"))
            #expect(repaid.status == .created && repaid.headers[Self.replayed] == "true" && repaid.text == paid.text)
            #expect(try await h.store.payments(order: order).count == 1)
        }
    }

    @Test func aDifferentBodyUnderTheSameKeyIs422OnBothRoutes() async throws {
        let h = try HubHarness()
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        try await h.run { client, _ in
            let (token, _) = try await client.login(f.customerA.email)
            let first = try await client.send(
                .post, "/v1/orders", token: token, json: OrderFixture.orderJSON(method: "card"),
                headers: Self.key("k-1"))
            let order = try #require(first.json?["id"] as? String)
            let other = try await client.send(
                .post, "/v1/orders", token: token, json: OrderFixture.orderJSON(options: [], method: "card"),
                headers: Self.key("k-1"))
            #expect(other.status == .unprocessableContent && other.errorCode == "invalid", "\(other.text)")
            #expect(try await h.store.orders(OrderFilter(), after: nil, limit: 10).count == 1)

            let path = "/v1/orders/\(order)/payments"
            let paid = try await client.send(
                .post, path, token: token, json: #"{"card":"4242424242424242"}"#, headers: Self.key("k-2"))
            #expect(paid.status == .created, "\(paid.text)")
            let otherCard = try await client.send(
                .post, path, token: token, json: #"{"card":"4000000000000002"}"#, headers: Self.key("k-2"))
            #expect(otherCard.status == .unprocessableContent && otherCard.errorCode == "invalid")
            // One rule for both: the order's key used on the payment route is another request too.
            let crossed = try await client.send(
                .post, path, token: token, json: #"{"card":"4242424242424242"}"#, headers: Self.key("k-1"))
            #expect(crossed.status == .unprocessableContent && crossed.errorCode == "invalid")
        }
    }

    @Test func aKeyWhoseFirstRequestIsInProgressIs409OnBothRoutes() async throws {
        let h = try HubHarness()
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        try await h.run { client, _ in
            let (token, _) = try await client.login(f.customerA.email)
            let scope = "user:\(f.customerA.id)"
            // The first request's claim, held open: exactly the row a running request with this body has written.
            func holdOpen(_ key: String, path: String, body: String) async throws {
                let hash = try IdempotentRequest<SQLiteHubStore>.requestHash(
                    method: .post, path: path, body: Array(body.utf8))
                let claim = try await h.store.claimIdempotencyKey(
                    scope: scope, key: key, requestHash: hash, now: wallClockMilliseconds(), ttl: 86_400_000)
                #expect(claim == .claimed)
            }
            try await holdOpen("k-busy", path: "/v1/orders", body: OrderFixture.orderJSON(method: "card"))
            let busy = try await client.send(
                .post, "/v1/orders", token: token,
                json: Self.reorderedOrder.replacingOccurrences(
                    of: #""cod""#, with: #""card""#), headers: Self.key("k-busy"))
            #expect(busy.status == .conflict && busy.errorCode == "conflict", "\(busy.text)")
            #expect(try await h.store.orders(OrderFilter(), after: nil, limit: 10).isEmpty, "nothing was placed")
            try await h.store.releaseIdempotencyKey(scope: scope, key: "k-busy")
            let placed = try await client.send(
                .post, "/v1/orders", token: token, json: OrderFixture.orderJSON(method: "card"),
                headers: Self.key("k-busy"))
            #expect(placed.status == .created, "\(placed.text)")
            let order = try #require(placed.json?["id"] as? String)

            let path = "/v1/orders/\(order)/payments"
            let card = #"{"card":"4242424242424242"}"#
            try await holdOpen("k-pay-busy", path: path, body: card)
            let payBusy = try await client.send(.post, path, token: token, json: card, headers: Self.key("k-pay-busy"))
            #expect(payBusy.status == .conflict && payBusy.errorCode == "conflict", "\(payBusy.text)")
            #expect(try await h.store.payments(order: order).isEmpty, "nothing was authorized")
        }
    }
}
