import DabbaCore
import DabbaTestSupport
import Foundation
@testable import HubModel
@testable import HubSQLite
import HummingbirdTesting
import Logging
import Testing

@testable import DabbaHub

/// The gauges that say how far behind the hub's background work is (`HubMetrics+Backlogs.swift`), read from the
/// hub's own `/metrics` text, each with the work really behind and then caught up.
@Suite struct BacklogMetricsTests {
    @Test func theDispatchQueueGaugesCountOrdersWaitingForAnAgentAndEmptyOnceOffered() async throws {
        let h = try HubHarness([:])
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        try await h.run { client, hub in
            let id = try await DispatchTests.confirmedOrder(client, f)
            // a-1 on shift but without a fix: no agent is available, so the round leaves the order queued.
            try await DispatchTests.round(client, f)
            var text = hub.metrics.render()
            #expect(metricValue(text, "dabba_dispatch_queue_orders") == 1, "\(text)")
            let placedAt = try #require(try await h.store.order(id: id)).createdAt
            let oldest = try #require(metricValue(text, "dabba_dispatch_queue_oldest_seconds"))
            // Measured from the order's placing to the round: at least 0, and no more than now − placedAt.
            #expect(oldest >= 0 && oldest <= Double(wallClockMilliseconds() - placedAt) / 1000 + 0.001, "\(oldest)")
            // Available near the restaurant: the next round offers it, and the queue reads empty.
            try await DispatchTests.makeAvailable(h.store, "a-1", lat: 12.9751, lon: 77.6051)
            try await DispatchTests.round(client, f)
            #expect(try await h.store.offers(order: id).count == 1)
            text = hub.metrics.render()
            #expect(metricValue(text, "dabba_dispatch_queue_orders") == 0, "\(text)")
            #expect(metricValue(text, "dabba_dispatch_queue_oldest_seconds") == 0, "\(text)")
        }
    }

    @Test func theWebhookBacklogGaugesCountPendingDeliveriesUntilTheyAreGone() async throws {
        // Every attempt fails and the first retry is ten minutes away: both deliveries stay pending.
        let receiver = try await WebhookReceiver(failures: 1_000)
        let h = try HubHarness(
            WebhookTests.fast.merging(["webhook-retry-base": "600", "webhook-retry-max": "600"]) { $1 })
        defer { h.close() }
        let owner = try await h.addUser("op@example.com", role: .operator).id
        let endpoint = try await h.store.createWebhookEndpoint(WebhookTests.endpoint(receiver.url, owner: owner))
        let created = wallClockMilliseconds()
        _ = try await h.store.appendOrderEvent(WebhookTests.event("o-1"))
        _ = try await h.store.appendOrderEvent(WebhookTests.event("o-2"))
        let hub = try WebhookTests.Hub(h, store: h.store)
        #expect(await eventually { receiver.received.count == 2 })
        #expect(
            await eventually { metricValue(hub.metrics.render(), "dabba_webhook_backlog") == 2 },
            "\(hub.metrics.render())")
        let oldest = try #require(metricValue(hub.metrics.render(), "dabba_webhook_backlog_oldest_seconds"))
        #expect(oldest >= 0 && oldest <= Double(wallClockMilliseconds() - created) / 1000 + 0.001, "\(oldest)")
        // The endpoint removed (its deliveries with it): the gauges read an empty backlog at the next look.
        #expect(try await h.store.deleteWebhookEndpoint(id: endpoint.id))
        #expect(
            await eventually {
                let text = hub.metrics.render()
                return metricValue(text, "dabba_webhook_backlog") == 0
                    && metricValue(text, "dabba_webhook_backlog_oldest_seconds") == 0
            }, "\(hub.metrics.render())")
        await hub.runner.stop()
        await receiver.stop()
    }

    @Test func thePaymentReactorReportsHowFarBehindItsPassBeganAndWhenItLastPassed() async throws {
        let directory = try TestDirectory("backlog-payments")
        defer { directory.remove() }
        var logger = Logger(label: "backlog-payments")
        logger.logLevel = .critical
        let store = try SQLiteHubStore(path: directory.path("hub.db"), logger: logger)
        defer { store.close() }
        let customers = try await seedPaymentWorld(store)
        let metrics = HubMetrics()
        // The reactor's clock runs two minutes ahead of the events' (wall) times: it starts two minutes behind.
        let clock = ManualClock.wall()
        clock.advance(120_000)
        let w = PaymentWorld(store: store, metrics: metrics, clock: clock.now)
        _ = try await w.order("o-1", customer: customers[0], method: .cod)
        try await w.move("o-1", [.accept])
        #expect(try await w.reactor.drain() == 2)
        var text = metrics.render()
        let lag = try #require(metricValue(text, "dabba_payment_reactor_lag_seconds"))
        #expect(lag >= 119.9 && lag < 120 + 600, "\(lag)")
        #expect(metricValue(text, "dabba_payment_reactor_last_pass_timestamp_seconds") == Double(clock.now()) / 1000)
        // Read up: the next pass begins on time.
        clock.advance(5_000)
        #expect(try await w.reactor.drain() == 0)
        text = metrics.render()
        #expect(metricValue(text, "dabba_payment_reactor_lag_seconds") == 0, "\(text)")
        #expect(metricValue(text, "dabba_payment_reactor_last_pass_timestamp_seconds") == Double(clock.now()) / 1000)
    }
}
