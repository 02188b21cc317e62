import DabbaCore
import DabbaMQTT
import DabbaProtocol
import DabbaTestSupport
import Foundation
@testable import HubModel
import HummingbirdTesting
import Testing

@testable import DabbaHub

/// Offers are delivered at least once, against real mosquitto: an offer recorded just before the hub is killed
/// reaches the device after the restart; one recorded while the broker is down reaches it after the hub
/// reconnects; a lapse the device never had does not exclude the agent; an order waiting too long raises one alert.
/// The device is a plain MQTT client on the agent's `tasks` topic that never asks for a sync, so only the hub's own
/// re-sends can bring it the offer.
@Suite(.serialized) struct OfferDeliveryTests {
    @Test func anOfferRecordedWhenTheHubIsKilledReachesTheDeviceAfterTheRestart() async throws {
        let directory = try TestDirectory("offer-restart")
        let broker = try await MosquittoBroker.started(directory: directory)
        defer { broker.stop() }
        let h = try HubHarness([:], directory: directory)
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        let world = PaymentWorld(store: h.store)
        _ = try await world.order("o-1", customer: f.customerA.id, method: .cod, restaurant: "r-dosa")
        try await world.move("o-1", [.accept])
        try await DispatchTests.makeAvailable(h.store, "a-1", lat: 12.9751, lon: 77.6051)
        let httpPort = FreePort.next()
        func startHub() throws -> ManagedProcess {
            try ManagedProcess(
                name: "hub", executable: try BuiltProducts.path(of: "dabba-hub"),
                arguments: [
                    "serve", "--config", "/dev/null", "--database", "sqlite:\(directory.path("hub.db"))",
                    "--mqtt-port", "\(broker.port)", "--http-port", "\(httpPort)", "--dispatch-policy", "nearest",
                    "--dispatch-interval", "0.2", "--offer-timeout", "600", "--commit-interval-ms", "20",
                    "--log-level", "info", "--payment-provider", "test",
                ], logDirectory: directory.url)
        }
        var hub = try startHub()
        defer { hub.stop() }
        @Sendable func pending() async -> Offer? { try? await h.store.pendingOffers().first { $0.order == "o-1" } }
        // The offer is recorded and published while the device is not connected: the broker drops it.
        #expect(await eventually { await pending()?.sent != nil }, "\(hub.output().suffix(3000))")
        hub.kill9()
        let offer = try #require(await pending())
        #expect(offer.agent == "a-1")

        let device = try await TestSubscriber.start(port: broker.port, filter: Topics.tasks(agent: "a-1"))
        hub = try startHub()
        let arrived = await device.waitFor(count: 1)
        let task = try #require(arrived.first, "no task after the restart\n\(hub.output().suffix(3000))")
        let message = try PayloadCoding.decode(TaskMessage.self, from: task.payload)
        #expect(message.type == .offer && message.order == "o-1", "\(message)")
        #expect(message.expiresAt == Timestamp.format(milliseconds: offer.deadline))

        // The device accepts (an event, as `dabba-agent accept` sends it): the order is assigned to a-1.
        let accepted = AgentEvent(
            agent: "a-1", seq: 2, time: Timestamp.format(milliseconds: wallClockMilliseconds()), order: "o-1",
            type: .accepted)
        _ = try device.client.publish(
            topic: Topics.events(agent: "a-1"), payload: PayloadCoding.encode(accepted), qos: .atLeastOnce)
        #expect(
            await eventually { (try? await h.store.order(id: "o-1"))??.agentID == "a-1" },
            "\(hub.output().suffix(3000))")
        #expect(try await h.store.offers(order: "o-1").map(\.state) == [.accepted])
        let assigned = await device.waitFor(count: 2)
        #expect(
            assigned.contains { (try? PayloadCoding.decode(TaskMessage.self, from: $0.payload))?.type == .assigned },
            "\(assigned.count) messages")
        await device.stop()
    }

    @Test func anOfferRecordedWhileTheBrokerIsDownArrivesAfterTheHubReconnects() async throws {
        let directory = try TestDirectory("offer-broker-down")
        let broker = try await MosquittoBroker.started(directory: directory)
        defer { broker.stop() }
        // The hub reaches the broker through a gate; the device connects straight to the broker.
        let gate = TCPGate(upstream: broker.port)
        try gate.open()
        defer { gate.close() }
        let h = try HubHarness(
            [
                "mqtt-port": "\(gate.port)", "dispatch-policy": "nearest", "dispatch-interval": "3600",
                "offer-timeout": "600", "commit-interval-ms": "10",
            ], directory: directory)
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        try await Self.live(h) { client, hub in
            #expect(await eventually { hub.mqtt.isSubscribed })
            let device = try await TestSubscriber.start(port: broker.port, filter: Topics.tasks(agent: "a-1"))
            try await DispatchTests.makeAvailable(h.store, "a-1", lat: 12.9751, lon: 77.6051)

            // The broker goes down; the restaurant confirms meanwhile, so the offer is recorded unsent.
            broker.stop()
            gate.close()
            #expect(await eventually { !hub.mqtt.isConnected })
            let id = try await DispatchTests.confirmedOrder(client, f)
            #expect(await eventually { (try? await h.store.pendingOffers())?.contains { $0.order == id } == true })
            let offer = try #require(try await h.store.pendingOffers().first { $0.order == id })
            #expect(offer.agent == "a-1" && offer.sent == nil, "\(offer)")
            #expect(Self.metric(hub, #"dabba_task_publish_failures_total{kind="offer"}"#) == 1)
            // The confirmation itself could not be relayed to other hubs either: counted, not lost silently.
            #expect(Self.metric(hub, "dabba_order_status_publish_failures_total") ?? 0 >= 1)

            // The broker is back on the same port; the device reconnects first and has nothing yet.
            try await broker.start()
            #expect(await eventually { device.client.isSubscribed })
            #expect(device.messages.isEmpty)
            // The hub reconnects (its reconnect backoff is at most 30 s) and sends the pending offer again.
            try gate.open()
            let arrived = await device.waitFor(count: 1, timeout: .seconds(30) + TestDeadline.generous)
            let receivedAt = wallClockMilliseconds()
            let task = try #require(arrived.first, "the offer never arrived")
            let message = try PayloadCoding.decode(TaskMessage.self, from: task.payload)
            #expect(message.type == .offer && message.order == id, "\(message)")
            #expect(receivedAt < offer.deadline)
            #expect(await eventually { (try? await h.store.pendingOffers().first { $0.order == id })?.sent != nil })
            #expect(Self.metric(hub, #"dabba_tasks_resent_total{kind="offer"}"#) ?? 0 >= 1)
            await device.stop()
        }
    }

    /// The exclusion rule on the dispatcher's own clock: a lapse with no message from the device after the offer
    /// was sent is undelivered (the agent is offered the order again); after a fix from the device it excludes.
    @Test func aLapseExcludesTheAgentOnlyWhenTheDeviceWasSeenAfterTheOffer() async throws {
        let directory = try TestDirectory("offer-lapse")
        let broker = try await MosquittoBroker.started(directory: directory)
        defer { broker.stop() }
        let h = try HubHarness(
            [
                "mqtt-port": "\(broker.port)", "dispatch-policy": "nearest", "dispatch-interval": "3600",
                "offer-timeout": "60", "dispatch-fix-max-age": "3600", "commit-interval-ms": "10",
            ], directory: directory)
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        let clock = ManualClock(wallClockMilliseconds())
        try await Self.live(h, configure: { $0.dispatchClock = clock.now }) { client, hub in
            #expect(await eventually { hub.mqtt.isSubscribed })
            try await DispatchTests.makeAvailable(h.store, "a-1", lat: 12.9751, lon: 77.6051)
            let id = try await DispatchTests.confirmedOrder(client, f)
            @Sendable func offers() async -> [Offer] { (try? await h.store.offers(order: id)) ?? [] }
            // Sent to the broker, but no device is connected and nothing comes from a-1.
            #expect(await eventually { await offers().first?.sent != nil })
            let first = try #require(await offers().first)
            clock.set(first.deadline)
            try await DispatchTests.round(client, f)
            var all = await offers()
            #expect(all.map(\.state) == [.expired, .pending], "\(all)")
            #expect(all.first?.reason == Offer.undeliveredReason && all.last?.agent == "a-1", "\(all)")
            #expect(try await h.store.excludedAgents(order: id).isEmpty)
            #expect(try await h.store.decisions(order: id).map(\.outcome).contains(Offer.undeliveredReason))

            // Offered again; now a fix from the device arrives after that offer was sent.
            #expect(await eventually { await offers().last?.sent != nil })
            let second = try #require(await offers().last)
            clock.set(try #require(second.sent) + 1)
            let device = try await TestSubscriber.start(port: broker.port, filter: Topics.tasks(agent: "a-1"))
            let fix = Fix(
                agent: "a-1", seq: 2, time: Timestamp.format(milliseconds: wallClockMilliseconds()), lat: 12.9751,
                lon: 77.6051)
            _ = try device.client.publish(
                topic: Topics.fix(agent: "a-1"), payload: PayloadCoding.encode(fix), qos: .atLeastOnce)
            #expect(await eventually { await offers().last?.seen == second.sent.map { $0 + 1 } })
            clock.set(second.deadline)
            try await DispatchTests.round(client, f)
            all = await offers()
            #expect(all.map(\.state) == [.expired, .expired] && all.last?.reason == nil, "\(all)")
            #expect(try await h.store.excludedAgents(order: id) == ["a-1"])
            await device.stop()
        }
    }

    @Test func anOrderWaitingLongerThanTheConfiguredTimeRaisesOneAlert() async throws {
        let h = try HubHarness(
            ["dispatch-policy": "nearest", "dispatch-interval": "3600", "dispatch-wait-alert": "60"])
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        let clock = ManualClock(wallClockMilliseconds())
        try await h.run(configure: { $0.dispatchClock = clock.now }) { client, hub in
            // No agent is available: the order waits from the restaurant's confirmation on.
            let id = try await DispatchTests.confirmedOrder(client, f)
            let accept = try #require(try await h.store.orderEvents(order: id).last { $0.action == .accept })
            let confirmed = try #require(Timestamp.parse(accept.time))
            func waitAlerts() async throws -> [OperatorAlert] {
                try await h.store.alerts(limit: 100).filter { $0.kind == "dispatch_wait" }
            }
            clock.set(confirmed + 59_999)
            try await DispatchTests.round(client, f)
            #expect(try await waitAlerts().isEmpty)
            clock.set(confirmed + 60_000)
            try await DispatchTests.round(client, f)
            clock.set(confirmed + 600_000)
            try await DispatchTests.round(client, f)
            let alerts = try await waitAlerts()
            #expect(alerts.count == 1 && alerts.first?.order == id && alerts.first?.agent == nil, "\(alerts)")
            #expect(Self.metric(hub, #"dabba_alerts_total{kind="dispatch_wait"}"#) == 1)
            let (op, _) = try await client.login(f.operatorUser.email)
            let listed = try await client.send(.get, "/v1/alerts", token: op)
            #expect(listed.text.contains("dispatch_wait") && listed.text.contains(id), "\(listed.text)")
        }
    }

    /// The hub application over the harness, served on a real port (its MQTT client and services run).
    static func live(
        _ h: HubHarness, configure: (inout HubComponents) -> Void = { _ in },
        _ body: @Sendable (any TestClientProtocol, HubComponents) async throws -> Void
    ) async throws {
        var components = try await HubComponents.make(
            configuration: h.configuration, store: h.store, logger: h.logger, bcryptCost: 4)
        configure(&components)
        let hub = components
        try await buildApplication(hub: hub, logger: h.logger).test(.live) { client in try await body(client, hub) }
    }

    /// A counter's value in the hub's `/metrics` text (nil when absent).
    static func metric(_ hub: HubComponents, _ series: String) -> Double? {
        hub.metrics.render().split(separator: "\n").first { $0.hasPrefix(series + " ") }
            .flatMap { Double($0.dropFirst(series.count + 1)) }
    }
}
