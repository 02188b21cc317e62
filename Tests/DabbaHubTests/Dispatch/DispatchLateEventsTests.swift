import DabbaCore
import DabbaMQTT
import DabbaProtocol
import DabbaTestSupport
import Foundation
import HTTPTypes
@testable import HubModel
@testable import HubSQLite
import HummingbirdTesting
import Testing

@testable import DabbaHub

/// Device events that arrive after the agent's order was taken back (offline beyond the grace) and given to
/// another agent: a pickup made before the unassignment wins (the other agent's offer or assignment is withdrawn
/// and it is told); one made after it is refused with an operator alert. Cash the device reports is never dropped:
/// a refused delivery's cash is recorded against the agent.
@Suite(.serialized) struct DispatchLateEventsTests {
    typealias T = DispatchTests

    /// Stores a device event of `agent` made at `time` (as ingest does); the next round applies it.
    static func deviceEvent(
        _ store: SQLiteHubStore, _ agent: String, seq: Int64, _ kind: AgentEvent.Kind, order: String, at time: Int64,
        cash: Int64? = nil
    ) async throws {
        let event = AgentEvent(
            agent: agent, seq: seq, time: Timestamp.format(milliseconds: time), order: order, type: kind,
            cashCollected: cash)
        _ = try await store.store(
            positions: [],
            events: [
                DeviceEvent(
                    agent: agent, seq: seq, time: time, order: order, type: kind.rawValue, payload: event.jsonBytes())
            ])
    }

    /// When the order was last taken from `agent` (its unassign event).
    static func unassignedAt(_ store: SQLiteHubStore, _ order: String, from agent: String) async throws -> Int64 {
        let event = try #require(
            try await store.orderEvents(order: order).last { $0.action == .unassign && $0.agent == agent })
        return try #require(Timestamp.parse(event.time))
    }

    /// a-1 accepts an order and picks it up (the device records the pickup time; nothing reaches the hub), goes
    /// offline longer than the grace and its order is taken back; a-2 comes on shift and is offered it, and accepts
    /// when `accepted`. Returns the order, the pickup time and the unassignment time.
    static func takenBack(
        _ h: HubHarness, _ f: OrderFixture, _ client: some TestClientProtocol, accepted: Bool
    ) async throws -> (order: String, pickedUp: Int64, unassigned: Int64) {
        try await T.makeAvailable(h.store, "a-1", lat: 12.9751, lon: 77.6051, seq: 1)
        let id = try await T.confirmedOrder(client, f)
        try await T.round(client, f)
        #expect(try await T.decide(client, f.agentUser.email, id, "accept").status == .ok)
        let pickedUp = wallClockMilliseconds()
        try await Task.sleep(for: .milliseconds(5))
        try await h.store.updateState(AgentState(agent: "a-1", online: false), at: wallClockMilliseconds() - 31_000)
        try await T.round(client, f)
        let back = try #require(try await h.store.order(id: id))
        #expect(back.agentID == nil && back.status == .confirmed, "\(back.status)")
        let unassigned = try await unassignedAt(h.store, id, from: "a-1")
        #expect(pickedUp < unassigned)
        try await T.makeAvailable(h.store, "a-2", lat: 12.9800, lon: 77.6100, seq: 1)
        try await T.round(client, f, agent: "a-2")
        #expect(try await h.store.pendingOffers().first { $0.order == id }?.agent == "a-2")
        if accepted {
            #expect(try await T.decide(client, f.otherAgentUser.email, id, "accept").status == .ok)
            #expect(try await h.store.order(id: id)?.agentID == "a-2")
        }
        // a-1's device is back.
        try await h.store.updateState(AgentState(agent: "a-1", online: true), at: wallClockMilliseconds())
        return (id, pickedUp, unassigned)
    }

    @Test(arguments: [false, true]) func aPickupMadeBeforeTheOrderWasTakenBackWins(accepted: Bool) async throws {
        let h = try HubHarness([
            "dispatch-policy": "nearest", "dispatch-interval": "3600", "dispatch-offline-grace": "30",
        ])
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        try await h.run { client, hub in
            let (id, pickedUp, _) = try await Self.takenBack(h, f, client, accepted: accepted)
            let total = try #require(try await h.store.order(id: id)).total
            // The queued events arrive: the pickup (made before the unassignment), then the delivery with its cash.
            try await Self.deviceEvent(h.store, "a-1", seq: 10, .pickedUp, order: id, at: pickedUp)
            try await Self.deviceEvent(
                h.store, "a-1", seq: 11, .delivered, order: id, at: wallClockMilliseconds(), cash: total)
            try await T.round(client, f, agent: "a-2")

            let order = try #require(try await h.store.order(id: id))
            #expect(order.status == .delivered && order.agentID == "a-1", "\(order.status) \(order.agentID ?? "-")")
            let trail = try await h.store.orderEvents(order: id)
            #expect(trail.last?.cashCollected == total && trail.last?.actor == "agent:a-1")
            // a-2 lost the offer or the assignment, and was told (an unassign event names it).
            #expect(try await h.store.pendingOffers().filter { $0.order == id }.isEmpty)
            if accepted {
                #expect(trail.contains { $0.action == .unassign && $0.agent == "a-2" }, "\(trail)")
            } else {
                #expect(try await h.store.offers(order: id).last { $0.agent == "a-2" }?.state == .withdrawn)
            }
            #expect(try await h.store.agentLoads()["a-2"] == nil)
            #expect(try await h.store.alerts(limit: 50).filter { $0.order == id && $0.kind != "dispatch_wait" }.isEmpty)
            #expect(try await h.store.unappliedEvents(limit: 10).isEmpty)
            #expect(hub.metrics.render().contains(#"dabba_device_events_total{result="applied"} 2"#))
        }
    }

    @Test(arguments: [false, true]) func aPickupMadeAfterTheOrderWasTakenBackIsRefusedAndItsCashKept(
        accepted: Bool
    ) async throws {
        let h = try HubHarness([
            "dispatch-policy": "nearest", "dispatch-interval": "3600", "dispatch-offline-grace": "30",
        ])
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        try await h.run { client, hub in
            let (id, _, unassigned) = try await Self.takenBack(h, f, client, accepted: accepted)
            let total = try #require(try await h.store.order(id: id)).total
            try await Self.deviceEvent(h.store, "a-1", seq: 10, .pickedUp, order: id, at: unassigned + 1_000)
            try await Self.deviceEvent(
                h.store, "a-1", seq: 11, .delivered, order: id, at: unassigned + 2_000, cash: total)
            try await T.round(client, f, agent: "a-2")
            // Stored again (a QoS 1 repeat): applied once.
            try await Self.deviceEvent(
                h.store, "a-1", seq: 11, .delivered, order: id, at: unassigned + 2_000, cash: total)
            try await T.round(client, f, agent: "a-2")

            let order = try #require(try await h.store.order(id: id))
            #expect(order.agentID == (accepted ? "a-2" : nil) && order.status != .delivered, "\(order.status)")
            let alerts = try await h.store.alerts(limit: 50).filter { $0.order == id && $0.agent == "a-1" }
            #expect(alerts.map(\.kind) == ["late_event_refused"], "\(alerts)")
            #expect(alerts.first?.message.contains("\(total)") == true, "\(alerts)")
            // The cash is the agent's: in its ledger balance, and counted against its cash limit.
            #expect(try await h.store.agentCashHeld(agent: "a-1", currency: "INR") == total)
            #expect(hub.metrics.render().contains(#"dabba_alerts_total{kind="late_event_refused"} 1"#))
            #expect(try await h.store.unappliedEvents(limit: 10).isEmpty)
        }
    }

    /// The same through real mosquitto and a running hub, both orders of events: a-1's device reports a pickup
    /// made before its order was taken back (applied; a-2's device is told its task is cancelled) and one made
    /// after (refused, alert, cash kept).
    @Test func lateEventsThroughTheBrokerAndARunningHub() async throws {
        let directory = try TestDirectory("late-events")
        let broker = try await MosquittoBroker.started(directory: directory)
        defer { broker.stop() }
        let h = try HubHarness(
            [
                "mqtt-port": "\(broker.port)", "dispatch-policy": "nearest", "dispatch-interval": "0.2",
                "offer-timeout": "600", "commit-interval-ms": "10", "dispatch-offline-grace": "1",
                "agent-capacity": "2", "dispatch-fix-max-age": "3600",
            ], directory: directory)
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        try await OfferDeliveryTests.live(h) { client, hub in
            #expect(await eventually { hub.mqtt.isSubscribed })
            let one = try await TestSubscriber.start(port: broker.port, filter: Topics.tasks(agent: "a-1"))
            let two = try await TestSubscriber.start(port: broker.port, filter: Topics.tasks(agent: "a-2"))
            var seqs: [String: Int64] = ["a-1": 100, "a-2": 100]
            func publish(
                _ device: TestSubscriber, _ agent: String, _ kind: AgentEvent.Kind, _ order: String,
                at time: Int64 = wallClockMilliseconds(), cash: Int64? = nil
            ) throws {
                seqs[agent, default: 100] += 1
                let event = AgentEvent(
                    agent: agent, seq: seqs[agent]!, time: Timestamp.format(milliseconds: time), order: order,
                    type: kind, cashCollected: cash)
                _ = try device.client.publish(
                    topic: Topics.events(agent: agent), payload: PayloadCoding.encode(event), qos: .atLeastOnce)
            }
            func state(_ device: TestSubscriber, _ agent: String, online: Bool) throws {
                _ = try device.client.publish(
                    topic: Topics.state(agent: agent),
                    payload: PayloadCoding.encode(AgentState(agent: agent, online: online)),
                    qos: .atLeastOnce)
            }
            func tasks(_ device: TestSubscriber) -> [(TaskMessage.Kind, String)] {
                device.messages.compactMap { try? PayloadCoding.decode(TaskMessage.self, from: $0.payload) }
                    .map { ($0.type, $0.order) }
            }
            @Sendable func order(_ id: String) async -> OrderRecord? { try? await h.store.order(id: id) }

            // a-1 takes two orders.
            try state(one, "a-1", online: true)
            #expect(await eventually { (try? await h.store.agent(id: "a-1"))??.state?.online == true })
            try await T.makeAvailable(h.store, "a-1", lat: 12.9751, lon: 77.6051, seq: 1)
            let early = try await T.confirmedOrder(client, f)
            let late = try await T.confirmedOrder(client, f)
            for id in [early, late] {
                #expect(await eventually { tasks(one).contains { $0 == (.offer, id) } }, "\(tasks(one))")
                try publish(one, "a-1", .accepted, id)
                #expect(await eventually { await order(id)?.agentID == "a-1" })
            }
            // It picks `early` up, then its device drops off the broker (its Will: offline) for longer than the
            // grace: both orders go back to dispatch.
            let pickedUp = wallClockMilliseconds()
            try state(one, "a-1", online: false)
            #expect(
                await eventually {
                    let (e, l) = (await order(early), await order(late))
                    return e?.agentID == nil && l?.agentID == nil
                })
            let unassigned = try await Self.unassignedAt(h.store, late, from: "a-1")
            // a-2 comes on shift, is offered both, and accepts `early`.
            try await T.makeAvailable(h.store, "a-2", lat: 12.9800, lon: 77.6100, seq: 1)
            for id in [early, late] {
                #expect(await eventually { tasks(two).contains { $0 == (.offer, id) } }, "\(tasks(two))")
            }
            try publish(two, "a-2", .accepted, early)
            #expect(await eventually { await order(early)?.agentID == "a-2" })

            // a-1's device is back and sends what it queued: `early` picked up before the unassignment and
            // delivered; `late` picked up and delivered after it.
            let earlyTotal = try #require(await order(early)).total
            let lateTotal = try #require(await order(late)).total
            try state(one, "a-1", online: true)
            try publish(one, "a-1", .pickedUp, early, at: pickedUp)
            try publish(one, "a-1", .delivered, early, cash: earlyTotal)
            try publish(one, "a-1", .pickedUp, late, at: unassigned + 500)
            try publish(one, "a-1", .delivered, late, at: unassigned + 600, cash: lateTotal)

            let delivered = await eventually { await order(early)?.status == .delivered }
            let now = await order(early)
            #expect(delivered, "\(String(describing: now))")
            #expect(await order(early)?.agentID == "a-1")
            // a-2's device is told `early` is no longer its task; `late` stays offered to a-2.
            #expect(await eventually { tasks(two).contains { $0 == (.cancelled, early) } }, "\(tasks(two))")
            #expect(await order(late)?.status == .confirmed)
            #expect(try await h.store.pendingOffers().first { $0.order == late }?.agent == "a-2")
            // The refused pair: one alert, and the cash of both deliveries is held by a-1 (the payment reactor
            // posts `early`'s; `late`'s is recorded with the refusal).
            #expect(
                await eventually {
                    (try? await h.store.alerts(limit: 50))?.contains {
                        $0.kind == "late_event_refused" && $0.order == late && $0.agent == "a-1"
                    } == true
                })
            #expect(
                await eventually {
                    (try? await h.store.agentCashHeld(agent: "a-1", currency: "INR")) == earlyTotal + lateTotal
                })
            let (op, _) = try await client.login(f.operatorUser.email)
            let alerts = try await client.send(.get, "/v1/alerts", token: op)
            #expect(alerts.text.contains("late_event_refused"), "\(alerts.text)")
            await one.stop()
            await two.stop()
        }
    }
}
