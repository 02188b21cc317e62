import Crypto
import DabbaCore
import DabbaProtocol
import DabbaSQLite
import DabbaTestSupport
import Foundation
@testable import HubModel
@testable import HubSQLite
import HummingbirdTesting
import Logging
import Testing

@testable import DabbaHub

/// Outgoing webhooks against real HTTP receivers on loopback: signature, retries, restarts, access, the cursor.
@Suite struct WebhookTests {
    /// A webhook service over its own store on `directory`'s database (reopened for every "hub start").
    struct Hub {
        let store: SQLiteHubStore
        let metrics = HubMetrics()
        let runner: ServiceRunner

        init(_ h: HubHarness, store: SQLiteHubStore? = nil) throws {
            let store = try store ?? SQLiteHubStore(path: h.configuration.sqlitePath!, logger: h.logger)
            self.store = store
            runner = ServiceRunner(
                [
                    WebhookService(
                        settings: .init(h.configuration), repository: store, bus: nil, metrics: metrics,
                        logger: h.logger)
                ], logger: h.logger)
        }

        func stop() async {
            await runner.stop()
            store.close()
        }
    }

    static let fast = ["webhook-retry-base": "0.02", "webhook-poll-interval": "0.05"]

    static func event(_ order: String, restaurant: String = "r-1", status: OrderStatus = .confirmed) -> OrderEvent {
        OrderEvent(
            id: 0, order: order, restaurant: restaurant, customer: 1, status: status, previous: .placed,
            action: .accept,
            time: "2026-11-25T10:00:00.000Z", actor: "restaurant:5")
    }

    static func endpoint(_ url: String, restaurant: String? = "r-1", statuses: Set<OrderStatus> = [], owner: Int64)
        -> WebhookEndpoint
    {
        WebhookEndpoint(
            id: "wh_" + AuthRandom.token(bytes: 6), url: url, secret: "s3cret", restaurant: restaurant,
            statuses: statuses,
            ownerID: owner, createdAt: wallClockMilliseconds())
    }

    /// Splits `t=…,v1=…`.
    static func signatureParts(_ header: String?) -> (t: String, v1: String)? {
        var t: String?
        var v1: String?
        for part in (header ?? "").split(separator: ",") {
            if part.hasPrefix("t=") { t = String(part.dropFirst(2)) }
            if part.hasPrefix("v1=") { v1 = String(part.dropFirst(3)) }
        }
        guard let t, let v1 else { return nil }
        return (t, v1)
    }

    static func hmacHex(secret: String, _ message: [UInt8]) -> String {
        HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Array(secret.utf8)))
            .map { String(format: "%02x", $0) }.joined()
    }

    @Test func registeredEndpointReceivesSignedEventsThroughTheApplication() async throws {
        let receiver = try await WebhookReceiver()
        let h = try HubHarness(Self.fast.merging(["webhook-poll-interval": "60"]) { $1 })
        defer {
            h.close()
        }
        try await h.addUser("op@example.com", role: .operator)
        try await h.run { client, hub in
            let token = try await client.login("op@example.com").0
            let created = try await client.send(
                .post, "/v1/webhooks", token: token,
                json: #"{"url":"\#(receiver.url)","restaurant":"r-1","statuses":["confirmed","delivered"]}"#)
            #expect(created.status == .created, "\(created.text)")
            let id = try #require(created.json?["id"] as? String)
            let secret = try #require(created.json?["secret"] as? String)
            let listed = try await client.send(.get, "/v1/webhooks", token: token)
            let views = try #require(listed.json?["webhooks"] as? [JSONObject])
            #expect(views.count == 1 && views[0]["id"] as? String == id && views[0]["secret"] == nil)

            // Another restaurant's event and an unwanted status are not sent; the bus wakes the service (the poll
            // is a minute).
            for event in [
                Self.event("o-9", restaurant: "r-2"), Self.event("o-1", status: .preparing), Self.event("o-1"),
            ] {
                hub.notifier.bus.publish(try await h.store.appendOrderEvent(event))
            }
            #expect(await eventually { receiver.received.count == 1 })
            let request = try #require(receiver.received.first)
            #expect(request.headers["content-type"] == "application/json")
            #expect(request.headers["dabba-event-id"] == "3")
            let body = try #require(try JSONSerialization.jsonObject(with: Data(request.body)) as? JSONObject)
            #expect(body["endpoint"] as? String == id)
            let event = try #require(body["event"] as? JSONObject)
            #expect(event["order"] as? String == "o-1" && event["status"] as? String == "confirmed")

            // The signature, recomputed here from the secret: it holds for the body as sent, not for a tampered one.
            let parts = try #require(Self.signatureParts(request.headers["dabba-signature"]))
            let t = try #require(Int64(parts.t))
            #expect(abs(t - wallClockMilliseconds() / 1000) < 60)
            #expect(parts.v1 == Self.hmacHex(secret: secret, Array("\(parts.t).".utf8) + request.body))
            var tampered = request.body
            tampered[tampered.count - 2] ^= 0x01
            #expect(parts.v1 != Self.hmacHex(secret: secret, Array("\(parts.t).".utf8) + tampered))
            #expect(parts.v1 != Self.hmacHex(secret: secret + "x", Array("\(parts.t).".utf8) + request.body))
            // The helper receivers may use agrees.
            let header = try #require(request.headers["dabba-signature"])
            try WebhookSignature.verify(header: header, body: request.body, secret: secret, now: t)
            #expect(throws: WebhookError.self) {
                try WebhookSignature.verify(header: header, body: tampered, secret: secret, now: t)
            }
            #expect(throws: WebhookError.self) {
                try WebhookSignature.verify(header: header, body: request.body, secret: secret, now: t + 301)
            }

            // The hub records the outcome once it has the receiver's answer, a moment after the request arrived.
            var deliveries: [JSONObject] = []
            #expect(
                try await eventually {
                    let log = try await client.send(.get, "/v1/webhooks/\(id)/deliveries", token: token)
                    deliveries = log.json?["deliveries"] as? [JSONObject] ?? []
                    return deliveries.first?["state"] as? String == "delivered"
                })
            #expect(deliveries.count == 1)
            #expect(deliveries.first?["state"] as? String == "delivered" && deliveries.first?["attempts"] as? Int == 1)
            #expect(deliveries.first?["event"] as? Int == 3 && deliveries.first?["lastStatus"] as? Int == 200)
        }
        await receiver.stop()
    }

    @Test func failingReceiverIsRetriedWithBackoffUntilItAccepts() async throws {
        let receiver = try await WebhookReceiver(failures: 2)
        // Retries 0.4 s × 2^n apart, jittered into [½, 1]: long enough that an unscheduled retry would show.
        let base = Duration.milliseconds(400)
        let h = try HubHarness(Self.fast.merging(["webhook-retry-base": "0.4", "webhook-retry-max": "600"]) { $1 })
        defer { h.close() }
        let owner = try await h.addUser("op@example.com", role: .operator).id
        let endpoint = try await h.store.createWebhookEndpoint(Self.endpoint(receiver.url, owner: owner))
        let hub = try Hub(h, store: h.store)
        _ = try await h.store.appendOrderEvent(Self.event("o-1"))
        #expect(
            try await eventually {
                try await h.store.webhookDeliveries(endpoint: endpoint.id, before: nil, limit: 10).first?.state
                    == .delivered
            })
        let deliveries = try await h.store.webhookDeliveries(endpoint: endpoint.id, before: nil, limit: 10)
        #expect(deliveries.count == 1)
        #expect(
            deliveries.first?.attempts == 3 && deliveries.first?.lastStatus == 200 && deliveries.first?.lastError == nil
        )
        #expect(deliveries.first?.deliveredAt != nil)
        #expect(receiver.received.map(\.status) == [500, 500, 200])
        #expect(Set(receiver.received.map { $0.headers["dabba-event-id"] }).count == 1)
        #expect(receiver.received.map { $0.headers["dabba-attempt"] } == ["1", "2", "3"])
        // Each retry waited at least the shortest delay the schedule allows after n failures (base × 2^(n-1) × ½).
        // Only a lower bound: a loaded machine only makes the gaps longer. (The hub computes the retry time after
        // the answer, later than the receiver's stamp; a few ms of slack cover the two clocks' rounding.)
        let arrivals = receiver.received.map(\.at)
        for n in 1..<arrivals.count {
            let shortest = base * (1 << (n - 1)) / 2 - .milliseconds(5)
            #expect(arrivals[n] - arrivals[n - 1] >= shortest, "retry \(n) after \(arrivals[n] - arrivals[n - 1])")
        }
        let metrics = hub.metrics.render()
        #expect(metrics.contains("dabba_webhook_deliveries_attempted_total 3"), "\(metrics)")
        #expect(metrics.contains("dabba_webhook_deliveries_succeeded_total 1"))
        #expect(metrics.contains(#"dabba_webhook_deliveries_failed_total{outcome="retry"} 2"#))
        await hub.runner.stop()
        await receiver.stop()
    }

    @Test func givesUpAfterMaxAttempts() async throws {
        let receiver = try await WebhookReceiver(failures: 100)
        let h = try HubHarness(Self.fast.merging(["webhook-max-attempts": "2"]) { $1 })
        defer { h.close() }
        let owner = try await h.addUser("op@example.com", role: .operator).id
        let endpoint = try await h.store.createWebhookEndpoint(Self.endpoint(receiver.url, owner: owner))
        let hub = try Hub(h, store: h.store)
        _ = try await h.store.appendOrderEvent(Self.event("o-1"))
        #expect(
            try await eventually {
                try await h.store.webhookDeliveries(endpoint: endpoint.id, before: nil, limit: 10).first?.state
                    == .failed
            })
        let delivery = try #require(
            try await h.store.webhookDeliveries(endpoint: endpoint.id, before: nil, limit: 10).first)
        #expect(delivery.attempts == 2 && delivery.lastStatus == 500 && delivery.lastError == "HTTP 500")
        // Nothing is sent for it again. A sentinel: a later event's delivery is claimed by later passes of the same
        // loop (and given up too); a given-up delivery that were still claimable would have been sent by then.
        _ = try await h.store.appendOrderEvent(Self.event("o-2"))
        #expect(
            try await eventually {
                try await h.store.webhookDeliveries(endpoint: endpoint.id, before: nil, limit: 10).map(\.state)
                    == [.failed, .failed]
            })
        let perEvent = Dictionary(grouping: receiver.received) { $0.headers["dabba-event-id"] ?? "" }.mapValues(\.count)
        #expect(perEvent == ["1": 2, "2": 2], "\(perEvent)")
        await hub.runner.stop()
        await receiver.stop()
    }

    @Test func restartMidRetryDeliversExactlyOnce() async throws {
        let receiver = try await WebhookReceiver(failures: 1)
        // The first retry is 30–60 s away: the hub stops long before it is due, however loaded the machine. The
        // wait is then skipped by moving the stored retry time (the hub's only clock for it) while no hub runs.
        let base: Int64 = 60_000
        let h = try HubHarness(Self.fast.merging(["webhook-retry-base": "60", "webhook-retry-max": "600"]) { $1 })
        defer { h.close() }
        let owner = try await h.addUser("op@example.com", role: .operator).id
        let endpoint = try await h.store.createWebhookEndpoint(Self.endpoint(receiver.url, owner: owner))
        h.store.close()

        let first = try Hub(h)
        _ = try await first.store.appendOrderEvent(Self.event("o-1"))
        #expect(
            try await eventually {
                try await first.store.webhookDeliveries(endpoint: endpoint.id, before: nil, limit: 10).first?.lastStatus
                    == 500
            })
        let stopping = wallClockMilliseconds()
        await first.stop()
        let check = try SQLiteHubStore(path: h.configuration.sqlitePath!, logger: h.logger)
        let pending = try #require(
            try await check.webhookDeliveries(endpoint: endpoint.id, before: nil, limit: 10).first)
        check.close()
        #expect(pending.state == .pending && pending.attempts == 1)
        // The hub was told to stop before the retry was due (its stop may take a while on a loaded machine).
        #expect(pending.nextAttempt > stopping, "the retry is still in the future when the hub stops")
        // Scheduled from the configured base: at least base/2 after the failed attempt (an upper bound only a stall
        // longer than the generous deadline could break: the hub computes it after reading the answer).
        let failedAt = try #require(receiver.received.first).wallMilliseconds
        #expect(pending.nextAttempt >= failedAt + base / 2, "\(pending.nextAttempt - failedAt) ms")
        #expect(pending.nextAttempt <= failedAt + base + Int64(TestDeadline.generous.components.seconds) * 1000)
        #expect(receiver.received.count == 1)

        // Time passes while no hub runs: the retry falls due one second from now.
        let due = wallClockMilliseconds() + 1000
        do {
            let db = try SQLiteConnection(path: h.configuration.sqlitePath!)
            try db.execute("UPDATE webhook_deliveries SET next_attempt = \(due)")
        }

        let second = try Hub(h)
        #expect(
            try await eventually {
                try await second.store.webhookDeliveries(endpoint: endpoint.id, before: nil, limit: 10).first?.state
                    == .delivered
            })
        // The restarted hub kept to the stored schedule (not before it was due).
        let retriedAt = try #require(receiver.received.last).wallMilliseconds
        #expect(retriedAt >= due, "retried \(due - retriedAt) ms early")
        // Nothing is sent again. A sentinel: a later event's delivery, sent by a later pass of the same loop.
        _ = try await second.store.appendOrderEvent(Self.event("o-2"))
        #expect(await eventually { receiver.received.contains { $0.headers["dabba-event-id"] == "2" } })
        let delivered = try #require(
            try await second.store.webhookDeliveries(endpoint: endpoint.id, before: nil, limit: 10).last)
        #expect(delivered.eventID == 1 && delivered.attempts == 2)
        #expect(
            receiver.received.map { "\($0.headers["dabba-event-id"] ?? "-"):\($0.status)" } == [
                "1:500", "1:200", "2:200",
            ])
        await second.stop()
        await receiver.stop()
    }

    @Test func eventsWrittenBeforeTheServiceStartsAreDeliveredAndNeverTwice() async throws {
        let receiver = try await WebhookReceiver()
        let h = try HubHarness(Self.fast)
        defer { h.close() }
        let owner = try await h.addUser("op@example.com", role: .operator).id
        let restaurant = try await h.store.createWebhookEndpoint(Self.endpoint(receiver.url, owner: owner))
        let global = try await h.store.createWebhookEndpoint(
            Self.endpoint(receiver.url, restaurant: nil, statuses: [.delivered], owner: owner))
        for event in [Self.event("o-1"), Self.event("o-2", restaurant: "r-2"), Self.event("o-1", status: .delivered)] {
            _ = try await h.store.appendOrderEvent(event)
        }
        h.store.close()

        // r-1's endpoint wants events 1 and 3, the global one (delivered only) event 3.
        let first = try Hub(h)
        #expect(await eventually { receiver.received.count == 3 })
        await first.stop()

        let second = try Hub(h)
        _ = try await second.store.appendOrderEvent(Self.event("o-3"))
        #expect(await eventually { receiver.received.contains { $0.headers["dabba-event-id"] == "4" } })
        // A sentinel: event 5 is read from the log after event 4, so whatever the restarted hub would send again
        // from before (events 1 and 3) has been sent by the time event 5 arrives.
        _ = try await second.store.appendOrderEvent(Self.event("o-5"))
        #expect(await eventually { receiver.received.contains { $0.headers["dabba-event-id"] == "5" } })
        let sent = receiver.received.map { ($0.headers["dabba-event-id"] ?? "") + "@" + Self.endpointOf($0.body) }
        #expect(
            sent.sorted()
                == [
                    "1@\(restaurant.id)", "3@\(global.id)", "3@\(restaurant.id)", "4@\(restaurant.id)",
                    "5@\(restaurant.id)",
                ].sorted())
        // The outcome is recorded once the receiver answered, a moment after the request arrived.
        var rows: [WebhookDelivery] = []
        #expect(
            try await eventually {
                rows = try await second.store.webhookDeliveries(endpoint: restaurant.id, before: nil, limit: 10)
                return rows.allSatisfy { $0.state == .delivered }
            })
        #expect(rows.map(\.eventID) == [5, 4, 3, 1] && rows.allSatisfy { $0.attempts == 1 }, "\(rows)")
        await second.stop()
        await receiver.stop()
    }

    static func endpointOf(_ body: [UInt8]) -> String {
        ((try? JSONSerialization.jsonObject(with: Data(body))) as? JSONObject)?["endpoint"] as? String ?? ""
    }

    static func orderOf(_ body: [UInt8]) -> String {
        let event = ((try? JSONSerialization.jsonObject(with: Data(body))) as? JSONObject)?["event"] as? JSONObject
        return event?["order"] as? String ?? ""
    }
}
