import DabbaCore
import DabbaTestSupport
import Foundation
@testable import HubModel
import Testing

@testable import DabbaHub

/// Webhook deliveries of one order reach an endpoint in order: a later event waits while an earlier one is pending
/// (in flight or waiting for a retry) and goes once it is delivered or given up; other orders and endpoints do not
/// wait. Against the real receiver on loopback, and against the repository directly.
@Suite struct WebhookOrderingTests {
    /// Retries at most 0.1 s apart, and enough of them that a failing event is not given up during a test.
    static let patient = WebhookTests.fast.merging(["webhook-retry-max": "0.1", "webhook-max-attempts": "100"]) {
        $1
    }

    /// `event-id:status` of every request for `order`'s events, in arrival order.
    static func arrivals(_ receiver: WebhookReceiver, order: String) -> [String] {
        receiver.received.filter { WebhookTests.orderOf($0.body) == order }.map {
            "\($0.headers["dabba-event-id"] ?? "-"):\($0.status)"
        }
    }

    @Test func aLaterEventWaitsForTheEarlierOneAndOtherOrdersDoNot() async throws {
        let receiver = try await WebhookReceiver(failingOrders: ["o-1": 1_000])
        let h = try HubHarness(Self.patient)
        defer { h.close() }
        let owner = try await h.addUser("op@example.com", role: .operator).id
        let endpoint = try await h.store.createWebhookEndpoint(WebhookTests.endpoint(receiver.url, owner: owner))
        // Events 1 and 2 for o-1, 3 and 4 for o-2, all waiting when the service starts (one pass sees them all).
        for (order, status) in [
            ("o-1", OrderStatus.confirmed), ("o-1", .preparing), ("o-2", .confirmed), ("o-2", .preparing),
        ] {
            _ = try await h.store.appendOrderEvent(WebhookTests.event(order, status: status))
        }
        let hub = try WebhookTests.Hub(h, store: h.store)

        // o-2's events are both delivered while o-1's first keeps failing, and o-1's first has been retried.
        #expect(
            await eventually {
                Self.arrivals(receiver, order: "o-2") == ["3:200", "4:200"]
                    && Self.arrivals(receiver, order: "o-1").count >= 2
            }, "\(receiver.received.map { $0.headers["dabba-event-id"] ?? "-" })")
        // o-1's second event has not even been attempted: it waits behind the first.
        let held = try #require(
            try await h.store.webhookDeliveries(endpoint: endpoint.id, before: nil, limit: 10).first { $0.eventID == 2 }
        )
        #expect(held.state == .pending && held.attempts == 0, "\(held)")
        #expect(Self.arrivals(receiver, order: "o-1").allSatisfy { $0 == "1:500" })

        // The receiver recovers: the first event is delivered, then (only then) the second.
        receiver.failOrder("o-1", next: 0)
        #expect(
            try await eventually {
                try await h.store.webhookDeliveries(endpoint: endpoint.id, before: nil, limit: 10).allSatisfy {
                    $0.state == .delivered
                }
            })
        let o1 = Self.arrivals(receiver, order: "o-1")
        #expect(o1.suffix(2) == ["1:200", "2:200"] && o1.dropLast(2).allSatisfy { $0 == "1:500" }, "\(o1)")
        #expect(Self.arrivals(receiver, order: "o-2") == ["3:200", "4:200"])
        await hub.runner.stop()
        await receiver.stop()
    }

    @Test func aGivenUpEventReleasesTheNextOne() async throws {
        let receiver = try await WebhookReceiver(failingOrders: ["o-1": 1_000])
        let h = try HubHarness(WebhookTests.fast.merging(["webhook-max-attempts": "2"]) { $1 })
        defer { h.close() }
        let owner = try await h.addUser("op@example.com", role: .operator).id
        let endpoint = try await h.store.createWebhookEndpoint(WebhookTests.endpoint(receiver.url, owner: owner))
        _ = try await h.store.appendOrderEvent(WebhookTests.event("o-1"))
        _ = try await h.store.appendOrderEvent(WebhookTests.event("o-1", status: .preparing))
        let hub = try WebhookTests.Hub(h, store: h.store)
        // Four deliveries one after another: each step gets its own deadline (a loaded, parallel suite can make the
        // four together take longer than one generous wait).
        func states() async throws -> [WebhookDeliveryState] {
            try await h.store.webhookDeliveries(endpoint: endpoint.id, before: nil, limit: 10).map(\.state)
        }
        #expect(try await eventually { try await states().contains(.failed) }, "the first event given up")
        #expect(try await eventually { try await states() == [.failed, .failed] }, "then the second")
        // Both attempts of the first event come before any of the second's.
        #expect(Self.arrivals(receiver, order: "o-1") == ["1:500", "1:500", "2:500", "2:500"])
        await hub.runner.stop()
        await receiver.stop()
    }

    @Test func aHeldBackDeliveryIsNeitherClaimedNorDueButOtherEndpointsAreNot() async throws {
        let h = try HubHarness()
        defer { h.close() }
        let owner = try await h.addUser("op@example.com", role: .operator).id
        let url = "http://127.0.0.1:9/hook"
        let a = try await h.store.createWebhookEndpoint(WebhookTests.endpoint(url, owner: owner))
        // B wants only `preparing` events: o-1's second event is its first for that order.
        _ = try await h.store.createWebhookEndpoint(
            WebhookTests.endpoint(url, restaurant: nil, statuses: [.preparing], owner: owner))
        _ = try await h.store.appendOrderEvent(WebhookTests.event("o-1"))  // 1 → A
        _ = try await h.store.appendOrderEvent(WebhookTests.event("o-1", status: .preparing))  // 2 → A, B
        _ = try await h.store.appendOrderEvent(WebhookTests.event("o-2"))  // 3 → A
        let now = wallClockMilliseconds()
        #expect(try await h.store.enqueueWebhookDeliveries(limit: 100, now: now).deliveries == 4)

        func claim(at time: Int64) async throws -> [String] {
            try await h.store.claimWebhookDeliveries(limit: 10, owner: "t", now: time, leaseUntil: time + 1_000)
                .map { "\($0.eventID)@\($0.endpointID == a.id ? "A" : "B")" }.sorted()
        }
        let first = try await h.store.claimWebhookDeliveries(limit: 10, owner: "t", now: now, leaseUntil: now + 1_000)
        #expect(first.map { "\($0.eventID)@\($0.endpointID == a.id ? "A" : "B")" }.sorted() == ["1@A", "2@B", "3@A"])
        // Event 1 to A fails with a retry in 5 s: event 2 to A stays held back, and is not what falls due next.
        for attempt in first {
            let outcome: WebhookAttemptOutcome =
                attempt.eventID == 1
                ? .failed(status: 500, error: "HTTP 500", retryAt: now + 5_000) : .delivered(status: 200)
            try await h.store.finishWebhookAttempt(attempt, owner: "t", outcome: outcome, now: now)
        }
        #expect(try await h.store.nextWebhookDue() == now + 5_000)
        #expect(try await claim(at: now + 1_000).isEmpty)
        let retry = try await h.store.claimWebhookDeliveries(
            limit: 10, owner: "t", now: now + 5_000, leaseUntil: now + 6_000)
        #expect(retry.map(\.eventID) == [1])
        // While event 1 is in flight (leased), event 2 still waits; once delivered, event 2 goes.
        #expect(try await claim(at: now + 5_000).isEmpty)
        try await h.store.finishWebhookAttempt(retry[0], owner: "t", outcome: .delivered(status: 200), now: now + 5_000)
        #expect(try await h.store.nextWebhookDue() == now)
        #expect(try await claim(at: now + 5_000) == ["2@A"])
    }
}
