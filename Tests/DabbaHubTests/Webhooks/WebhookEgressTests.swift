import DabbaCore
import DabbaTestSupport
import Foundation
@testable import HubModel
import HummingbirdTesting
import Synchronization
import Testing

@testable import DabbaHub

/// Where webhooks may go: special-purpose addresses refused unless allowed, resolved once per attempt and connected
/// to as checked; at most N endpoints per user; a restaurant's previous owner gets nothing more.
@Suite struct WebhookEgressTests {
    static func address(_ text: String) -> IPAddress { IPAddress(text)! }

    @Test func specialPurposeAddressesAreNamedAndGlobalOnesPass() {
        let refused: [(String, String)] = [
            ("127.0.0.1", "loopback"), ("127.255.0.9", "loopback"), ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"), ("10.1.2.3", "private"), ("172.16.0.1", "private"),
            ("172.31.255.255", "private"), ("192.168.1.1", "private"), ("fc00::1", "private"),
            ("fd12:3456::1", "private"),
            ("169.254.169.254", "link-local"), ("fe80::1", "link-local"), ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"), ("ff02::1", "multicast"), ("0.0.0.0", "unspecified"),
            ("::", "unspecified"),
            ("100.64.0.1", "shared (carrier-grade NAT)"), ("255.255.255.255", "broadcast"), ("240.0.0.1", "reserved"),
            ("64:ff9b::a9fe:a9fe", "link-local"), ("2002:a00:1::1", "private"),
        ]
        for (text, kind) in refused {
            #expect(WebhookEgress.restriction(Self.address(text)) == kind, "\(text)")
        }
        for text in ["93.184.216.34", "8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "2002:5db8:d822::1"] {
            #expect(WebhookEgress.restriction(Self.address(text)) == nil, "\(text)")
        }
        #expect(IPAddress("2130706433") == nil && IPAddress("127.1") == nil && IPAddress("localhost") == nil)
        #expect(IPNetwork("10.0.0.0/8")?.contains(Self.address("10.200.1.1")) == true)
        #expect(IPNetwork("10.0.0.0/8")?.contains(Self.address("11.0.0.1")) == false)
        #expect(IPNetwork("fc00::/7")?.contains(Self.address("fdff::1")) == true)
        #expect(IPNetwork("10.0.0.0/33") == nil)
        #expect(WebhookEgress.AllowList("127.0.0.1, Hooks.Internal ,10.0.0.0/8")?.hosts == ["hooks.internal"])
        #expect(WebhookEgress.AllowList("bad host!") == nil)
    }

    @Test func theDestinationIsResolvedOnceAndEveryAddressChecked() async throws {
        let calls = Mutex(0)
        func egress(_ allow: String, _ addresses: [String]) -> WebhookEgress {
            WebhookEgress(allow: WebhookEgress.AllowList(allow)!) { _ in
                calls.withLock { $0 += 1 }
                return addresses.map(Self.address)
            }
        }
        let public1 = egress("", ["93.184.216.34"])
        #expect(try await public1.destination(of: "https://hooks.example/x").address == Self.address("93.184.216.34"))
        #expect(calls.withLock { $0 } == 1)
        // One refused address refuses the name, even behind a public one.
        do {
            _ = try await egress("", ["93.184.216.34", "10.0.0.7"]).destination(of: "https://hooks.example/x")
            Issue.record("a name with a private address went through")
        } catch {
            #expect(error.code == .forbiddenDestination && error.message.contains("private"), "\(error)")
        }
        do {
            _ = try await egress("", ["169.254.169.254"]).destination(of: "http://metadata.example/latest")
            Issue.record("the metadata address went through")
        } catch {
            #expect(error.code == .forbiddenDestination && error.message.contains("link-local"), "\(error)")
        }
        // Literals are not resolved; the allow-list names a host, an address or a range.
        let before = calls.withLock { $0 }
        for url in ["http://127.0.0.1:9/h", "http://[::1]/h", "http://[::ffff:127.0.0.1]/h", "http://0.0.0.0/"] {
            await #expect(throws: WebhookError.self, "\(url)") { _ = try await egress("", []).destination(of: url) }
        }
        #expect(calls.withLock { $0 } == before)
        #expect(try await egress("127.0.0.1", []).destination(of: "http://127.0.0.1:9/h").host == "127.0.0.1")
        #expect(
            try await egress("hooks.test", ["127.0.0.1"]).destination(of: "http://hooks.test/h").host == "hooks.test")
        #expect(
            try await egress("10.0.0.0/8", ["10.9.9.9"]).destination(of: "http://inside.test/h").host == "inside.test")
        do {
            _ = try await WebhookEgress(allow: .init("")!) { _ in throw WebhookError(.unresolvable, "x") }
                .destination(of: "http://nowhere.invalid/")
            Issue.record("an unresolvable name went through")
        } catch {
            #expect(error.code == .unresolvable)
        }
    }

    @Test func registrationRefusesInternalDestinationsAndCountsEndpointsPerUser() async throws {
        let h = try HubHarness(["webhook-allow-hosts": "", "webhook-max-endpoints": "2"])
        defer { h.close() }
        let owner = try await h.addUser("one@example.com", role: .restaurant)
        _ = try await h.store.createRestaurant(
            Restaurant(
                id: "r-1", name: "Kitchen", address: "Road", location: GeoPoint(lat: 22, lon: 87),
                ownerUserID: owner.id,
                currency: "INR", hours: .always))
        try await h.run { client, _ in
            let token = try await client.login("one@example.com").0
            func register(_ url: String) async throws -> TestResponse {
                try await client.send(
                    .post, "/v1/webhooks", token: token, json: #"{"url":"\#(url)","restaurant":"r-1"}"#)
            }
            for (url, kind) in [
                ("http://127.0.0.1:9/hook", "loopback"), ("http://169.254.169.254/latest/meta-data", "link-local"),
                ("http://[::1]:8080/", "loopback"), ("http://10.1.2.3/", "private"),
                ("http://192.168.0.10/", "private"),
                ("http://[::ffff:127.0.0.1]/", "loopback"), ("http://0.0.0.0:8080/", "unspecified"),
                ("http://localhost:9/hook", "loopback"), ("http://[fd00::1]/", "private"),
                ("http://224.0.0.251/", "multicast"),
            ] {
                let refused = try await register(url)
                #expect(
                    refused.status == .unprocessableContent && refused.text.contains(kind), "\(url): \(refused.text)")
            }
            // A name that does not resolve yet is accepted (each attempt checks it again).
            #expect(try await register("https://hooks.invalid/a").status == .created)
            #expect(try await register("https://hooks.invalid/b").status == .created)
            let third = try await register("https://hooks.invalid/c")
            #expect(
                third.status == .conflict && third.errorCode == "conflict" && third.text.contains("2"), "\(third.text)")
        }
    }

    @Test func anAttemptToARefusedDestinationSendsNothingAndSaysWhy() async throws {
        let receiver = try await WebhookReceiver()
        defer { Task { await receiver.stop() } }
        let h = try HubHarness(
            WebhookTests.fast.merging(["webhook-allow-hosts": "", "webhook-max-attempts": "2"]) { $1 })
        defer { h.close() }
        let owner = try await h.addUser("op@example.com", role: .operator).id
        // Stored directly, as if registered before the allow-list changed.
        let endpoint = try await h.store.createWebhookEndpoint(WebhookTests.endpoint(receiver.url, owner: owner))
        h.store.close()
        let hub = try WebhookTests.Hub(h)
        _ = try await hub.store.appendOrderEvent(WebhookTests.event("o-1"))
        let given = await eventually {
            let rows = (try? await hub.store.webhookDeliveries(endpoint: endpoint.id, before: nil, limit: 10)) ?? []
            return rows.first?.state == .failed
        }
        #expect(given)
        let row = try #require(
            try await hub.store.webhookDeliveries(endpoint: endpoint.id, before: nil, limit: 10).first)
        #expect(row.attempts == 2 && row.lastStatus == nil, "\(row)")
        #expect(row.lastError?.contains("loopback") == true && row.lastError?.contains("127.0.0.1") == true, "\(row)")
        #expect(receiver.received.isEmpty)
        #expect(
            hub.metrics.render().contains(
                #"dabba_webhook_destinations_refused_total{reason="forbidden_destination"} 2"#))
        await hub.stop()
    }

    /// By name: the hub resolves `hooks.test` itself (the system cannot), once per attempt, and the request reaches
    /// the checked address with the URL's host in `Host`.
    @Test func eachAttemptConnectsToTheAddressItChecked() async throws {
        let receiver = try await WebhookReceiver(failures: 2)
        defer { Task { await receiver.stop() } }
        let h = try HubHarness(WebhookTests.fast)
        defer { h.close() }
        let owner = try await h.addUser("op@example.com", role: .operator).id
        let url = "http://hooks.test:\(receiver.port)/hook"
        let endpoint = try await h.store.createWebhookEndpoint(WebhookTests.endpoint(url, owner: owner))
        let lookups = Mutex(0)
        var settings = WebhookService.Settings(h.configuration)
        settings.egress = WebhookEgress(allow: WebhookEgress.AllowList("hooks.test")!) { name in
            #expect(name == "hooks.test")
            lookups.withLock { $0 += 1 }
            return [IPAddress("127.0.0.1")!]
        }
        let metrics = HubMetrics()
        let runner = ServiceRunner(
            [WebhookService(settings: settings, repository: h.store, bus: nil, metrics: metrics, logger: h.logger)],
            logger: h.logger)
        _ = try await h.store.appendOrderEvent(WebhookTests.event("o-1"))
        #expect(await eventually { receiver.succeeded.count == 1 })
        await runner.stop()
        #expect(receiver.received.count == 3)
        #expect(receiver.received.allSatisfy { $0.headers["host"] == "hooks.test:\(receiver.port)" })
        let rows = try await h.store.webhookDeliveries(endpoint: endpoint.id, before: nil, limit: 10)
        #expect(rows.first?.state == .delivered && rows.first?.attempts == 3)
        #expect(lookups.withLock { $0 } == 3, "one lookup per attempt")
    }

    /// When a restaurant changes hands, the previous owner's endpoint gets nothing more: no new deliveries, and the
    /// one still waiting for a retry is given up, saying why. A global endpoint goes on (and is the sentinel).
    @Test func thePreviousOwnerOfARestaurantStopsReceivingItsEvents() async throws {
        let receiver = try await WebhookReceiver()
        defer { Task { await receiver.stop() } }
        let h = try HubHarness(WebhookTests.fast.merging(["webhook-retry-base": "60"]) { $1 })
        defer { h.close() }
        let one = try await h.addUser("one@example.com", role: .restaurant).id
        let two = try await h.addUser("two@example.com", role: .restaurant).id
        let op = try await h.addUser("op@example.com", role: .operator).id
        let restaurant = try await h.store.createRestaurant(
            Restaurant(
                id: "r-1", name: "Kitchen", address: "Road", location: GeoPoint(lat: 22, lon: 87), ownerUserID: one,
                currency: "INR", hours: .always))
        let previous = try await h.store.createWebhookEndpoint(WebhookTests.endpoint(receiver.url, owner: one))
        // The sentinel: every restaurant's delivered orders (the events below are confirmations).
        _ = try await h.store.createWebhookEndpoint(
            WebhookTests.endpoint(receiver.url, restaurant: nil, statuses: [.delivered], owner: op))
        h.store.close()
        let hub = try WebhookTests.Hub(h)
        func requests(_ order: String) -> Int {
            receiver.received.filter { WebhookTests.orderOf($0.body) == order }.count
        }
        _ = try await hub.store.appendOrderEvent(WebhookTests.event("o-before"))
        #expect(await eventually { requests("o-before") == 1 })
        // A delivery to the owner waiting for its retry (a minute away) when the restaurant changes hands.
        receiver.failOrder("o-pending", next: 1)
        _ = try await hub.store.appendOrderEvent(WebhookTests.event("o-pending"))
        #expect(await eventually { requests("o-pending") == 1 })
        var moved = restaurant
        moved.ownerUserID = two
        _ = try await hub.store.updateRestaurant(moved)

        _ = try await hub.store.appendOrderEvent(WebhookTests.event("o-after"))
        _ = try await hub.store.appendOrderEvent(WebhookTests.event("o-sentinel", status: .delivered))
        #expect(await eventually { requests("o-sentinel") == 1 })
        #expect(requests("o-after") == 0 && requests("o-sentinel") == 1, "the previous owner got nothing more")
        let givenUp = await eventually {
            let rows = (try? await hub.store.webhookDeliveries(endpoint: previous.id, before: nil, limit: 10)) ?? []
            return rows.count == 2 && rows[0].state == .failed
        }
        let rows = try await hub.store.webhookDeliveries(endpoint: previous.id, before: nil, limit: 10)
        #expect(givenUp, "\(rows)")
        #expect(rows.first?.lastError?.contains("no longer manages") == true, "\(rows)")
        #expect(rows.last?.state == .delivered)
        await hub.stop()
    }
}
