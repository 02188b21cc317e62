import DabbaCore
import DabbaProtocol
import DabbaTestSupport
import Foundation
import HummingbirdTesting
import Testing

@testable import DabbaHub

/// `least-recent` through the hub, as the original rule has it: the agent whose last delivery — or shift start,
/// whichever is later — is oldest goes first; an agent that lets a delivered offer lapse goes to the back (an
/// undelivered one does not count); agents that never delivered are ordered by shift start.
@Suite(.serialized) struct DispatchFairnessTests {
    typealias T = DispatchTests

    static func harness() throws -> HubHarness {
        try HubHarness([
            "dispatch-policy": "least-recent", "dispatch-interval": "3600", "offer-timeout": "60",
            "dispatch-fix-max-age": "3600",
        ])
    }

    /// A few milliseconds, so that the next wall-clock stamp (shift start, delivery) is later.
    static func tick() async throws { try await Task.sleep(for: .milliseconds(5)) }

    /// Who is offered the next order (a round runs for it).
    static func nextOffer(_ h: HubHarness, _ f: OrderFixture, _ client: some TestClientProtocol) async throws
        -> (order: String, agent: String?)
    {
        let id = try await T.confirmedOrder(client, f)
        _ = try await h.dispatcherRound(client, f)
        return (id, try await h.store.pendingOffers().first { $0.order == id }?.agent)
    }

    /// Delivers `order` as its agent over REST.
    static func deliver(_ client: some TestClientProtocol, _ f: OrderFixture, _ order: String, by email: String)
        async throws
    {
        #expect(try await T.decide(client, email, order, "accept").status == .ok)
        let (token, _) = try await client.login(email)
        #expect(try await client.act("pickup", order, token).status == .ok)
        #expect(try await client.act("deliver", order, token).status == .ok)
    }

    @Test func agentsThatNeverDeliveredAreOrderedByShiftStart() async throws {
        let h = try Self.harness()
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        try await h.run { client, _ in
            // a-2 started first (both at the same place, neither delivered).
            try await T.makeAvailable(h.store, "a-2", lat: 12.9751, lon: 77.6051)
            try await Self.tick()
            try await T.makeAvailable(h.store, "a-1", lat: 12.9751, lon: 77.6051)
            #expect(try await Self.nextOffer(h, f, client).agent == "a-2")
        }
    }

    @Test func aShiftStartAfterSomeoneElsesDeliveryGoesBehindIt() async throws {
        let h = try Self.harness()
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        _ = try await h.store.createAgent(id: "a-3", name: "Meena")
        try await h.run { client, _ in
            // a-1 delivers one order, then a-2 starts its shift.
            try await T.makeAvailable(h.store, "a-1", lat: 12.9751, lon: 77.6051)
            let first = try await Self.nextOffer(h, f, client)
            #expect(first.agent == "a-1")
            try await Self.deliver(client, f, first.order, by: f.agentUser.email)
            try await Self.tick()
            try await T.makeAvailable(h.store, "a-2", lat: 12.9751, lon: 77.6051)
            // a-1's delivery is older than a-2's shift start: a-1 first (the old rule put never-delivered a-2 first).
            let second = try await Self.nextOffer(h, f, client)
            #expect(second.agent == "a-1")
            _ = try await h.store.closeOffer(order: second.order, agent: "a-1", state: .withdrawn, reason: "test")
            let (op, _) = try await client.login(f.operatorUser.email)
            _ = try await client.act("cancel", second.order, op, #"{"reason":"test"}"#)

            // a-1 takes a break and comes back: its new shift start is later than a-2's, so a-2 goes first. A shift
            // "start" while already on shift changes nothing.
            try await Self.tick()
            try await h.store.setShift(agent: "a-1", onShift: false)
            try await h.store.setShift(agent: "a-1", onShift: true)
            try await Self.tick()
            try await h.store.setShift(agent: "a-2", onShift: true)
            #expect(try await Self.nextOffer(h, f, client).agent == "a-2")
        }
    }

    @Test func aDeliveredLapseSendsTheAgentToTheBackAnUndeliveredOneDoesNot() async throws {
        let h = try Self.harness()
        defer { h.close() }
        let f = try await OrderFixture.make(h)
        _ = try await h.store.createAgent(id: "a-3", name: "Meena")
        let clock = ManualClock(wallClockMilliseconds())
        try await h.run(configure: { $0.dispatchClock = clock.now }) { client, _ in
            for agent in ["a-1", "a-2", "a-3"] {
                try await T.makeAvailable(h.store, agent, lat: 12.9751, lon: 77.6051)
                try await Self.tick()
            }
            // a-1 (first on shift) is offered o1; its device had the offer (sent, then seen) and let it lapse.
            let first = try await Self.nextOffer(h, f, client)
            #expect(first.agent == "a-1")
            try await h.store.markOfferSent(order: first.order, agent: "a-1", at: clock.now())
            try await h.store.recordSeen(["a-1": clock.now() + 1])
            let offer = try #require(try await h.store.pendingOffers().first { $0.order == first.order })
            clock.set(offer.deadline)
            _ = try await h.dispatcherRound(client, f)
            // o1 goes to a-2 (a-1 is excluded from it); o2 to a-3, not to a-1, now at the back.
            #expect(try await h.store.pendingOffers().first { $0.order == first.order }?.agent == "a-2")
            let second = try await Self.nextOffer(h, f, client)
            #expect(second.agent == "a-3")

            // a-3's offer never reached its device (not sent): its lapse does not move it back, and it is offered
            // o2 again ahead of a-1.
            let undelivered = try #require(try await h.store.pendingOffers().first { $0.order == second.order })
            #expect(undelivered.sent == nil)
            clock.set(undelivered.deadline)
            _ = try await h.dispatcherRound(client, f)
            #expect(try await h.store.pendingOffers().first { $0.order == second.order }?.agent == "a-3")
        }
    }
}

extension HubHarness {
    /// One dispatch round, started the way an operator's shift change starts one (an agent not otherwise used: a
    /// shift "start" of an agent already on shift changes nothing, so a-1's, a-2's and a-3's places stay).
    func dispatcherRound(_ client: some TestClientProtocol, _ f: OrderFixture) async throws -> Bool {
        if try await store.agent(id: "a-round") == nil { _ = try await store.createAgent(id: "a-round", name: nil) }
        let (op, _) = try await client.login(f.operatorUser.email)
        let r = try await client.send(.post, "/v1/agents/a-round/shift", token: op, json: #"{"action":"end"}"#)
        return r.status == .ok
    }
}
