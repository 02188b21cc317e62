import DabbaCore
import DabbaTestSupport
import HTTPTypes
@testable import HubModel
@testable import HubSQLite
import HummingbirdTesting
import Logging
import Synchronization
import Testing

@testable import DabbaHub

/// Who may register, see and delete which webhooks; and two hubs on one database sending each delivery once.
@Suite struct WebhookAccessTests {
    @Test func restaurantUsersManageOnlyTheirRestaurantsEndpoints() async throws {
        let h = try HubHarness()
        defer { h.close() }
        try await h.addUser("op@example.com", role: .operator)
        let one = try await h.addUser("one@example.com", role: .restaurant).id
        let two = try await h.addUser("two@example.com", role: .restaurant).id
        try await h.addUser("customer@example.com", role: .customer)
        for (id, owner) in [("r-1", one), ("r-2", two)] {
            _ = try await h.store.createRestaurant(
                Restaurant(
                    id: id, name: "Kitchen", address: "Road", location: GeoPoint(lat: 22, lon: 87), ownerUserID: owner,
                    currency: "INR", hours: .always))
        }
        let hub = try await HubComponents.make(
            configuration: h.configuration, store: h.store, logger: h.logger, bcryptCost: 4)
        let app = buildApplication(hub: hub, logger: h.logger)
        try await app.test(.router) { client in
            let op = try await client.login("op@example.com").0
            let r1 = try await client.login("one@example.com").0
            let r2 = try await client.login("two@example.com").0
            let customer = try await client.login("customer@example.com").0
            let url = "http://127.0.0.1:9/hook"

            let mine = try await client.send(
                .post, "/v1/webhooks", token: r1, json: #"{"url":"\#(url)","restaurant":"r-1"}"#)
            #expect(mine.status == .created, "\(mine.text)")
            let id = try #require(mine.json?["id"] as? String)
            #expect((mine.json?["secret"] as? String)?.hasPrefix("whsec_") == true)
            // Someone else's restaurant, a global endpoint, bad URLs and statuses.
            for (body, status) in [
                (#"{"url":"\#(url)","restaurant":"r-2"}"#, 404), (#"{"url":"\#(url)"}"#, 422),
                (#"{"url":"ftp://127.0.0.1/x","restaurant":"r-1"}"#, 422),
                (#"{"url":"/relative","restaurant":"r-1"}"#, 422),
                (#"{"url":"\#(url)","restaurant":"r-1","statuses":["eaten"]}"#, 422), (#"{"restaurant":"r-1"}"#, 400),
            ] {
                let response = try await client.send(.post, "/v1/webhooks", token: r1, json: body)
                #expect(response.status.code == status, "\(body): \(response.text)")
                #expect(response.errorCode == APIError.code(for: response.status))
            }
            let global = try await client.send(
                .post, "/v1/webhooks", token: op, json: #"{"url":"https://example.com/h"}"#)
            #expect(global.status == .created)
            let globalID = try #require(global.json?["id"] as? String)
            #expect(
                try await client.send(.post, "/v1/webhooks", token: customer, json: #"{"url":"\#(url)"}"#).status
                    == .forbidden)

            func ids(_ token: String) async throws -> [String] {
                let list = try await client.send(.get, "/v1/webhooks", token: token)
                return (list.json?["webhooks"] as? [JSONObject] ?? []).compactMap { $0["id"] as? String }
            }
            #expect(try await ids(r1) == [id])
            #expect(try await ids(r2) == [])
            #expect(try await ids(op) == [id, globalID])
            #expect(try await client.send(.get, "/v1/webhooks", token: customer).status == .forbidden)

            // Another restaurant's endpoint, a global one and an unknown id all look the same: 404.
            for target in [id, globalID, "wh_nope"] {
                for (method, path) in [
                    (HTTPRequest.Method.delete, "/v1/webhooks/\(target)"), (.get, "/v1/webhooks/\(target)/deliveries"),
                ] {
                    let token = target == id ? r2 : r1
                    let response = try await client.send(method, path, token: token)
                    #expect(response.status == .notFound, "\(method) \(path): \(response.text)")
                    #expect(response.errorCode == "not_found")
                }
            }
            #expect(try await client.send(.get, "/v1/webhooks/\(id)/deliveries", token: r1).status == .ok)
            #expect(
                try await client.send(.get, "/v1/webhooks/\(id)/deliveries?limit=0", token: r1).status == .badRequest)
            #expect(try await client.send(.delete, "/v1/webhooks/\(id)", token: r1).status == .noContent)
            #expect(try await client.send(.delete, "/v1/webhooks/\(id)", token: r1).status == .notFound)
            #expect(try await client.send(.delete, "/v1/webhooks/\(globalID)", token: op).status == .noContent)
            #expect(try await ids(op) == [])
        }
    }

    @Test func twoHubsOnOneDatabaseSendEachDeliveryOnce() async throws {
        let receiver = try await WebhookReceiver()
        let h = try HubHarness(WebhookTests.fast)
        defer { h.close() }
        let owner = try await h.addUser("op@example.com", role: .operator).id
        let endpoint = try await h.store.createWebhookEndpoint(WebhookTests.endpoint(receiver.url, owner: owner))
        h.store.close()
        // Two hubs: two connections to one database file, each with its own webhook service.
        let stores = try (0..<2).map { _ in try SQLiteHubStore(path: h.configuration.sqlitePath!, logger: h.logger) }
        let hubs = try stores.map { try WebhookTests.Hub(h, store: $0) }
        for n in 0..<30 { _ = try await hubs[n % 2].store.appendOrderEvent(WebhookTests.event("o-\(n)")) }
        let endpointID = endpoint.id
        @Sendable func rows() async throws -> [WebhookDelivery] {
            try await hubs[0].store.webhookDeliveries(endpoint: endpointID, before: nil, limit: 100)
        }
        #expect(try await eventually { try await rows().filter { $0.state == .delivered }.count == 30 })
        // Sentinels instead of a sleep: later events (one written through each hub), read from the log and sent in
        // later passes than any claim of the first 30; a second send of one of those (a delivery claimed by both
        // hubs) was under way at that claim and has arrived by the time the sentinels did.
        for (n, hub) in hubs.enumerated() {
            let order = "o-sentinel-\(n)"
            _ = try await hub.store.appendOrderEvent(WebhookTests.event(order))
            #expect(await eventually { receiver.received.contains { WebhookTests.orderOf($0.body) == order } })
        }
        let ids = receiver.received.compactMap { $0.headers["dabba-event-id"] }
        #expect(ids.count == 32 && Set(ids).count == 32, "\(ids.sorted())")
        // The outcome is recorded once the receiver answered, a moment after the request arrived.
        #expect(try await eventually { try await rows().filter { $0.state == .delivered }.count == 32 })
        let all = try await rows()
        #expect(all.count == 32 && all.allSatisfy { $0.state == .delivered && $0.attempts == 1 }, "\(all)")
        for hub in hubs { await hub.stop() }
        await receiver.stop()
    }
}
