import DabbaCore
import DabbaProtocol
import DabbaTestSupport
import Foundation
import HTTPTypes
@testable import HubModel
@testable import HubSQLite
import HummingbirdTesting
import Logging
import Synchronization
import Testing

@testable import DabbaHub

/// Dispatch through the hub: the original delivery endpoints, offers (accept, reject, timeout), capacity, the
/// accept/timeout race, and device events applied once whichever path comes first.
@Suite(.serialized) struct DispatchTests {
    /// Makes `agent` available: on shift, online, with a fresh fix at `lat`/`lon`.
    /// With `onShift: false` the agent is online with a fix but off shift, in one step: a round between two steps
    /// would see it on shift (a poll-driven round did, under load, and recorded a refused offer).
    static func makeAvailable(
        _ store: SQLiteHubStore, _ agent: String, lat: Double, lon: Double, seq: Int64 = 1, onShift: Bool = true
    ) async throws {
        try await store.setShift(agent: agent, onShift: onShift)
        try await store.updateState(AgentState(agent: agent, online: true), at: wallClockMilliseconds())
        _ = try await store.store(
            positions: [StoredPosition(agent: agent, seq: seq, time: wallClockMilliseconds(), lat: lat, lon: lon)],
            events: [])
    }

    /// Puts `agent` on shift and online (its retained state), without a fix: operators may assign it orders (every
    /// assignment checks both), and rounds do not offer it any (no position).
    static func onShiftAndOnline(_ store: SQLiteHubStore, _ agent: String) async throws {
        try await store.setShift(agent: agent, onShift: true)
        try await store.updateState(AgentState(agent: agent, online: true), at: wallClockMilliseconds())
    }

    /// Runs a dispatch round through the application's own dispatcher (the one its service also drives): putting
    /// an agent on shift runs one.
    static func round(_ client: some TestClientProtocol, _ f: OrderFixture, agent: String = "a-1") async throws {
        let (op, _) = try await client.login(f.operatorUser.email)
        let r = try await client.send(.post, "/v1/agents/\(agent)/shift", token: op, json: #"{"action":"start"}"#)
        guard r.status == .ok else { throw TestSupportError("shift: \(r.text)") }
    }

    /// An agent's offer decision over REST.
    static func decide(_ client: some TestClientProtocol, _ email: String, _ order: String, _ decision: String)
        async throws -> TestResponse
    {
        let (token, _) = try await client.login(email)
        return try await client.send(
            .post, "/v1/orders/\(order)/offer", token: token, json: #"{"decision":"\#(decision)","reason":"test"}"#)
    }

    /// A placed and accepted order of customer A; returns its id.
    static func confirmedOrder(_ client: some TestClientProtocol, _ f: OrderFixture) async throws -> String {
        let (customer, _) = try await client.login(f.customerA.email)
        let (owner, _) = try await client.login(f.owner.email)
        let id = try await client.placeOrder(customer)
        let accepted = try await client.act("accept", id, owner, #"{"prepMinutes":10}"#)
        guard accepted.status == .ok else { throw TestSupportError("accept: \(accepted.text)") }
        return id
    }

    @Test func theOriginalDeliveryEndpointsBehaveAsSpecified() async throws {
        let h = try HubHarness(["dispatch-policy": "least-recent"])
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        try await h.run { client, hub in
            let (op, _) = try await client.login(f.operatorUser.email)
            let (customer, _) = try await client.login(f.customerA.email)
            let (ravi, _) = try await client.login(f.agentUser.email)
            // POST /delivery adds an agent; twice is a conflict; only operators.
            let added = try await client.send(
                .post, "/delivery", token: op, json: #"{"id":"a-3","name":"Meena","vehicle":"bicycle"}"#)
            #expect(added.status == .created && added.json?["vehicle"] as? String == "bicycle", "\(added.text)")
            #expect(try await client.send(.post, "/delivery", token: op, json: #"{"id":"a-3"}"#).status == .conflict)
            #expect(
                try await client.send(.post, "/delivery", token: op, json: #"{"id":"bad id!"}"#).status
                    == .unprocessableContent)
            #expect(
                try await client.send(.post, "/delivery", token: customer, json: #"{"id":"a-4"}"#).status == .forbidden)
            #expect(try await h.store.agent(id: "a-3")?.vehicle == "bicycle")

            // Unknown agent, no order, no delivery in progress.
            #expect(try await client.send(.get, "/delivery/a-1", token: op).status == .notFound)
            #expect(try await client.send(.put, "/delivery/a-1", token: op).status == .conflict)
            #expect(try await client.send(.put, "/delivery/no-such", token: op).status == .notFound)
            #expect(try await client.send(.get, "/delivery/a-2", token: ravi).status == .notFound)  // someone else's

            // Nobody available: the order waits in the queue.
            let id = try await Self.confirmedOrder(client, f)
            let queued = try await client.send(.post, "/newdelivery", token: op, json: #"{"order":"\#(id)"}"#)
            #expect(queued.status == .accepted && queued.json?["status"] as? String == "queued", "\(queued.text)")
            #expect(
                try await client.send(.post, "/newdelivery", token: op, json: #"{"order":"o-none"}"#).status
                    == .notFound)

            // Ravi comes on shift near the restaurant: the same round offers him the order.
            try await Self.makeAvailable(h.store, "a-1", lat: 12.974, lon: 77.604, onShift: false)
            let shift = try await client.send(.post, "/v1/agents/a-1/shift", token: ravi, json: #"{"action":"start"}"#)
            #expect(shift.status == .ok, "\(shift.text)")
            let trail = try await client.send(.get, "/v1/orders/\(id)/dispatch", token: op)
            let outcomes = (trail.json?["decisions"] as? [[String: Any]])?.compactMap { $0["outcome"] as? String }
            #expect(outcomes == ["queued", "offered"], "\(trail.text)")
            let offered = (trail.json?["decisions"] as? [[String: Any]])?.last
            #expect(offered?["agent"] as? String == "a-1" && (offered?["candidates"] as? [Any])?.isEmpty == false)

            // He accepts over REST; GET /delivery shows the order; PUT completes it.
            let accepted = try await client.send(
                .post, "/v1/orders/\(id)/offer", token: ravi, json: #"{"decision":"accept"}"#)
            #expect(accepted.json?["status"] as? String == "assigned" && accepted.json?["agent"] as? String == "a-1")
            #expect(try await client.send(.get, "/delivery/a-1", token: ravi).json?["id"] as? String == id)
            let done = try await client.send(.put, "/delivery/a-1", token: ravi)
            #expect(done.status == .ok && done.json?["status"] as? String == "delivered", "\(done.text)")
            #expect(try await client.send(.put, "/delivery/a-1", token: ravi).status == .conflict)  // nothing left
            #expect(try await h.store.dispatchAgents().first { $0.agent.id == "a-1" }?.lastDeliveryAt != nil)
            #expect(
                try await client.send(.post, "/newdelivery", token: op, json: #"{"order":"\#(id)"}"#).status
                    == .conflict)
            _ = hub
        }
    }

    @Test func rejectAndTimeoutMoveToTheNextAgentAndNobodyGetsTwoOrders() async throws {
        // Rounds only when the test asks (no periodic round), offers lapse after 4 s of the dispatcher's clock. The
        // test holds that clock still and moves it past the deadline itself: however slowly the steps in between
        // run, no offer lapses before the test says so.
        let h = try HubHarness(["dispatch-policy": "nearest", "offer-timeout": "4", "dispatch-interval": "3600"])
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        _ = try await h.store.createAgent(id: "a-3", name: "Meena")
        try await h.addUser("meena@example.com", role: .agent, agentID: "a-3")
        let clock = ManualClock(wallClockMilliseconds())
        try await h.run(configure: { $0.dispatchClock = clock.now }) { client, hub in
            // a-1 nearest, a-3 next, a-2 farthest.
            try await Self.makeAvailable(h.store, "a-1", lat: 12.9751, lon: 77.6051)
            try await Self.makeAvailable(h.store, "a-3", lat: 12.9800, lon: 77.6100)
            try await Self.makeAvailable(h.store, "a-2", lat: 13.0200, lon: 77.6500)
            let first = try await Self.confirmedOrder(client, f)
            let second = try await Self.confirmedOrder(client, f)
            try await Self.round(client, f)
            // Two orders, three agents, capacity 1: two offers to two different agents.
            var pending = try await h.store.pendingOffers()
            #expect(pending.count == 2 && Set(pending.map(\.agent)).count == 2, "\(pending)")
            #expect(
                pending.first { $0.order == first }?.agent == "a-1"
                    && pending.first { $0.order == second }?.agent == "a-3")
            // Every round's steps are timed on /metrics (the shift change ran at least this one).
            let metrics = hub.metrics.render()
            for phase in DispatchRoundTimings.Phase.allCases.map(\.rawValue) + ["total"] {
                let count = metrics.split(separator: "\n").first {
                    $0.hasPrefix(#"dabba_dispatch_round_seconds_count{phase="\#(phase)"}"#)
                }
                #expect((count?.split(separator: " ").last).flatMap { Int($0) } ?? 0 >= 1, "\(phase): \(metrics)")
            }

            // a-1 rejects: the first order goes to a-2 (a-3 holds an offer), never back to a-1.
            #expect(try await Self.decide(client, f.agentUser.email, first, "reject").status == .ok)
            pending = try await h.store.pendingOffers()
            #expect(pending.first { $0.order == first }?.agent == "a-2", "\(pending)")
            #expect(try await h.store.excludedAgents(order: first) == ["a-1"])
            // a-2 takes it.
            #expect(try await Self.decide(client, f.otherAgentUser.email, first, "accept").status == .ok)

            // a-3 lets its offer lapse: the second order goes to a-1 (free again, and nearer than a-3). The deadline
            // is the configured offer-timeout after the offer; a round just before it leaves the offer standing.
            // (No broker here, so the offer never reached a device: an undelivered lapse, see OfferDeliveryTests.)
            let offer = try #require(try await h.store.pendingOffers().first { $0.order == second })
            #expect(offer.deadline == offer.created + 4000, "\(offer)")
            clock.set(offer.deadline - 1)
            try await Self.round(client, f)
            #expect(try await h.store.pendingOffers().first { $0.order == second }?.agent == "a-3")
            #expect(try await h.store.offers(order: second).map(\.state) == [.pending])
            clock.set(offer.deadline)
            try await Self.round(client, f)
            pending = try await h.store.pendingOffers()
            #expect(pending.first { $0.order == second }?.agent == "a-1", "\(pending)")
            let states = try await h.store.offers(order: second).map(\.state)
            #expect(states == [.expired, .pending])
            // A lapsed offer can no longer be accepted.
            #expect(try await Self.decide(client, "meena@example.com", second, "accept").status == .conflict)
            #expect(try await Self.decide(client, f.agentUser.email, second, "accept").status == .ok)
            #expect(try await h.store.order(id: second)?.agentID == "a-1")
        }
    }

    @Test func anAcceptRacingTheTimeoutHasExactlyOneOutcome() async throws {
        let h = try HubHarness(["dispatch-policy": "nearest", "offer-timeout": "60", "dispatch-interval": "3600"])
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        try await h.run { client, hub in
            try await Self.makeAvailable(h.store, "a-1", lat: 12.9751, lon: 77.6051)
            let (ravi, _) = try await client.login(f.agentUser.email)
            for trial in 0..<40 {
                let id = try await Self.confirmedOrder(client, f)
                try await Self.round(client, f)
                #expect(try await h.store.pendingOffers().first?.agent == "a-1")
                async let accepted = client.send(
                    .post, "/v1/orders/\(id)/offer", token: ravi, json: #"{"decision":"accept"}"#)
                async let expired = h.store.closeOffer(order: id, agent: "a-1", state: .expired, reason: "race")
                let (response, e) = (try await accepted, try await expired)
                let a: Int? = response.status == .ok ? 1 : nil
                let order = try #require(try await h.store.order(id: id))
                let states = try await h.store.offers(order: id).map(\.state)
                #expect((a != nil) != (e != nil), "trial \(trial): both or neither won")
                #expect(
                    a == nil || (order.status == .assigned && states == [.accepted]),
                    "trial \(trial): \(order.status) \(states)")
                #expect(e == nil || (order.agentID == nil && states == [.expired]))
                // Free a-1 again for the next trial.
                if order.agentID != nil {
                    let (op, _) = try await client.login(f.operatorUser.email)
                    #expect(try await client.send(.put, "/delivery/a-1", token: op).status == .ok)
                }
                try await Self.makeAvailable(h.store, "a-1", lat: 12.9751, lon: 77.6051, seq: Int64(trial + 2))
                let (op, _) = try await client.login(f.operatorUser.email)
                if order.agentID == nil { _ = try await client.act("cancel", id, op, #"{"reason":"trial"}"#) }
            }
        }
    }

    @Test func theSameActionFromTheDeviceAndOverRESTAppliesOnce() async throws {
        let h = try HubHarness(["dispatch-policy": "nearest", "dispatch-interval": "3600"])
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        try await h.run { client, hub in
            let (ravi, _) = try await client.login(f.agentUser.email)
            try await Self.makeAvailable(h.store, "a-1", lat: 12.9751, lon: 77.6051)
            let id = try await Self.confirmedOrder(client, f)
            try await Self.round(client, f)
            func device(_ seq: Int64, _ kind: AgentEvent.Kind) async throws {
                let event = AgentEvent(
                    agent: "a-1", seq: seq, time: Timestamp.format(milliseconds: wallClockMilliseconds()), order: id,
                    type: kind)
                _ = try await h.store.store(
                    positions: [],
                    events: [
                        DeviceEvent(
                            agent: "a-1", seq: seq, time: wallClockMilliseconds(), order: id, type: kind.rawValue,
                            payload: event.jsonBytes())
                    ])
            }
            // Accepted on the device, then again over REST: one assignment.
            try await device(10, .accepted)
            try await Self.round(client, f)
            let again = try await client.send(
                .post, "/v1/orders/\(id)/offer", token: ravi, json: #"{"decision":"accept"}"#)
            #expect(again.status == .ok && again.json?["agent"] as? String == "a-1", "\(again.text)")
            // Picked up over REST, then the device's pickup arrives (e.g. after being offline): applied once.
            #expect(try await client.act("pickup", id, ravi).json?["status"] as? String == "picked_up")
            try await device(11, .pickedUp)
            // Delivered on the device, then over REST: the REST call is refused.
            try await device(12, .delivered)
            try await Self.round(client, f)
            #expect(try await client.act("deliver", id, ravi).status == .conflict)
            // Redelivered device event (same seq, QoS 1): stored once, applied once.
            try await device(12, .delivered)
            try await Self.round(client, f)
            let actions = try await h.store.orderEvents(order: id).compactMap(\.action)
            #expect(actions == [.accept, .assign, .pickup, .deliver], "\(actions)")
            #expect(try await h.store.unappliedEvents(limit: 10).isEmpty)
            #expect(hub.metrics.render().contains(#"dabba_device_events_total{result="ignored"} 1"#))
        }
    }

    @Test func anAgentOfflineLongerThanTheGraceGivesBackItsOrderOrRaisesAnAlert() async throws {
        let h = try HubHarness([
            "dispatch-policy": "nearest", "dispatch-interval": "3600", "dispatch-offline-grace": "30",
        ])
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        try await h.run { client, hub in
            let (ravi, _) = try await client.login(f.agentUser.email)
            let (op, _) = try await client.login(f.operatorUser.email)
            try await Self.makeAvailable(h.store, "a-1", lat: 12.9751, lon: 77.6051)
            let first = try await Self.confirmedOrder(client, f)
            try await Self.round(client, f)
            #expect(try await Self.decide(client, f.agentUser.email, first, "accept").status == .ok)
            // Offline since just now (a device restarting): it keeps the order.
            try await h.store.updateState(AgentState(agent: "a-1", online: false), at: wallClockMilliseconds())
            try await Self.round(client, f)
            #expect(try await h.store.order(id: first)?.agentID == "a-1")
            // Offline for longer than the grace: before pickup, the order goes back to dispatch.
            try await h.store.updateState(AgentState(agent: "a-1", online: false), at: wallClockMilliseconds() - 31_000)
            try await Self.round(client, f)
            let back = try #require(try await h.store.order(id: first))
            #expect(back.agentID == nil && back.status == .confirmed, "\(back.status)")
            #expect(try await h.store.decisions(order: first).map(\.outcome).contains("reassigned"))
            _ = try await client.act("cancel", first, op, #"{"reason":"test"}"#)

            // After pickup: the order stays with the agent and operators get one alert.
            try await Self.makeAvailable(h.store, "a-1", lat: 12.9751, lon: 77.6051, seq: 2)
            let second = try await Self.confirmedOrder(client, f)
            try await Self.round(client, f)
            #expect(try await Self.decide(client, f.agentUser.email, second, "accept").status == .ok)
            #expect(try await client.act("pickup", second, ravi).status == .ok)
            try await h.store.updateState(AgentState(agent: "a-1", online: false), at: wallClockMilliseconds() - 31_000)
            try await Self.round(client, f)
            try await Self.round(client, f)
            #expect(try await h.store.order(id: second)?.status == .pickedUp)
            let alerts = try await client.send(.get, "/v1/alerts", token: op).json?["alerts"] as? [JSONObject] ?? []
            let mine = alerts.filter { $0["order"] as? String == second }
            #expect(mine.count == 1 && mine.first?["kind"] as? String == "offline_after_pickup", "\(alerts)")
            #expect(hub.metrics.render().contains(#"dabba_alerts_total{kind="offline_after_pickup"} 1"#))
        }
    }

    @Test func aShiftFromTheDeviceAppliesUnlessALaterChangeCameOverREST() async throws {
        let h = try HubHarness(["dispatch-policy": "nearest", "dispatch-interval": "3600"])
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        try await h.run { client, hub in
            let (op, _) = try await client.login(f.operatorUser.email)
            func device(_ seq: Int64, _ kind: AgentEvent.Kind, at time: Int64) async throws {
                let event = AgentEvent(
                    agent: "a-1", seq: seq, time: Timestamp.format(milliseconds: time), order: "", type: kind)
                _ = try await h.store.store(
                    positions: [],
                    events: [
                        DeviceEvent(
                            agent: "a-1", seq: seq, time: time, order: "", type: kind.rawValue,
                            payload: event.jsonBytes())
                    ])
                // A round (putting the other agent on shift runs one) applies the stored events.
                try await Self.round(client, f, agent: "a-2")
            }
            func onShift() async throws -> Bool? {
                try await h.store.dispatchAgents().first { $0.agent.id == "a-1" }?.onShift
            }
            // A device start made a minute ago (no shift change came before it).
            let start = wallClockMilliseconds() - 60_000
            try await device(1, .shiftStarted, at: start)
            #expect(try await onShift() == true)
            // The operator ends the shift now; a device start made before that, arriving late, does not undo it.
            #expect(
                try await client.send(.post, "/v1/agents/a-1/shift", token: op, json: #"{"action":"end"}"#).status
                    == .ok)
            try await device(2, .shiftStarted, at: start + 1)
            #expect(try await onShift() == false)
            // A newer change from the device applies; each event is applied (or ignored) once.
            try await device(3, .shiftStarted, at: wallClockMilliseconds() + 1)
            #expect(try await onShift() == true)
            try await device(3, .shiftEnded, at: wallClockMilliseconds() + 2)  // same seq again: stored once
            #expect(try await onShift() == true)
            #expect(try await h.store.unappliedEvents(limit: 10).isEmpty)
            let metrics = hub.metrics.render()
            #expect(metrics.contains(#"dabba_device_events_total{result="applied"} 2"#), "\(metrics)")
            #expect(metrics.contains(#"dabba_device_events_total{result="ignored"} 1"#), "\(metrics)")
        }
    }

    /// Rounds decide from reads that may be stale by the time they offer (another hub's round, a lapse, a reject):
    /// the store lets only a valid offer through, and says why it refused one.
    @Test func anOfferIsRefusedWhenItIsNoLongerValid() async throws {
        let h = try HubHarness(["dispatch-policy": "nearest", "dispatch-interval": "3600"])
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        _ = try await h.store.createAgent(id: "a-3", name: "Meena")
        try await h.run { client, _ in
            let first = try await Self.confirmedOrder(client, f)
            let second = try await Self.confirmedOrder(client, f)
            // On shift and online but without a fix: the store's checks pass, while the hub's own rounds (woken by
            // the orders' events, running beside this test) have no agent to offer the orders to and cannot race
            // the offers made here.
            for agent in ["a-1", "a-2", "a-3"] {
                try await Self.onShiftAndOnline(h.store, agent)
            }
            let t = wallClockMilliseconds()
            func offer(_ order: String, _ agent: String, capacity: Int = 1) async throws -> AssignmentRefusal? {
                let outcome = try await h.store.createOffer(
                    Offer(order: order, agent: agent, created: t, deadline: t + 60_000),
                    limits: AssignmentLimits(capacity: capacity, codCashLimit: 10_000_000))
                if case .refused(let refusal) = outcome { return refusal }
                return nil
            }
            #expect(try await offer(first, "a-1") == nil)
            #expect(
                try await offer(first, "a-2") == .alreadyOffered(order: first, agent: "a-1"),
                "the order already has a pending offer")
            #expect(
                try await offer(second, "a-1") == .atCapacity(agent: "a-1", carried: 0, offered: 1, capacity: 1),
                "the agent holds an offer, capacity 1")
            _ = try await h.store.closeOffer(order: first, agent: "a-1", state: .expired, reason: "test")
            #expect(
                try await offer(first, "a-1") == .excluded(agent: "a-1", order: first),
                "the agent let this order's offer lapse")
            #expect(try await offer(first, "a-2") == nil)
            let limits = AssignmentLimits(capacity: 1, codCashLimit: 10_000_000)
            let accepted = try await h.store.acceptOffer(
                order: first, agent: "a-2", actor: "agent:a-2", limits: limits, now: t)
            guard case .assigned = accepted else { throw TestSupportError("not accepted: \(accepted)") }
            #expect(try await offer(first, "a-3")?.code == "state", "the order is assigned")
            #expect(try await offer(second, "a-2")?.code == "capacity", "a-2 carries one order, capacity 1")
            #expect(try await offer(second, "a-2", capacity: 2) == nil)
            try await h.store.recordGiveBack(order: first, agent: "a-2", time: t, reason: "flat tyre")
            #expect(try await h.store.excludedAgents(order: first) == ["a-1", "a-2"])
        }
    }
}

/// A clock for the dispatcher (Unix milliseconds) that stands still until the test sets it.
final class ManualClock: Sendable {
    private let milliseconds: Mutex<Int64>
    init(_ start: Int64) { milliseconds = Mutex(start) }
    func set(_ value: Int64) { milliseconds.withLock { $0 = value } }
    /// The reading, as a function to hand to the dispatcher.
    var now: @Sendable () -> Int64 { { [self] in milliseconds.withLock { $0 } } }
}
