import DabbaCore
import DabbaProtocol
import HubModel
import Testing

/// ``DispatchRepository``: offers made only to an order still waiting and an agent not excluded, each decided
/// once; an accepted offer assigns the order; decisions and alerts recorded.
extension HubStoreContract {
    package static func dispatch<Store: HubStore>(make: Make<Store>) async throws {
        try await with(make) { try await anOfferIsMadeWhileTheOrderWaitsAndDecidedOnce($0) }
        try await with(make) { try await decisionsAndAlertsAreRecordedOnce($0) }
        try await with(make) { try await aLatePickupWithdrawsTheAgentsOtherOffers($0) }
        try await with(make) { try await aRoundsOffersAreMadeInOneCallEachCheckedAgainstThoseBefore($0) }
    }

    /// Puts `agent` on shift and online: assignments check both.
    static func onShiftAndOnline(_ store: some HubStore, _ agent: String) async throws {
        try await store.setShift(agent: agent, onShift: true)
        try await store.updateState(AgentState(agent: agent, online: true), at: wallClockMilliseconds())
    }

    static func anOfferIsMadeWhileTheOrderWaitsAndDecidedOnce(_ store: some HubStore) async throws {
        let customer = try #require(try await orderWorld(store).first)
        for agent in ["a-1", "a-2"] {
            _ = try await store.createAgent(id: agent, name: nil)
            #expect(try await store.shift(agent: agent) == AgentShift(onShift: false, startedAt: nil))
            try await onShiftAndOnline(store, agent)
        }
        #expect(try await store.dispatchAgents().map { [$0.agent.id: $0.onShift] } == [["a-1": true], ["a-2": true]])
        // The one agent's shift is the fleet read's: on shift, since the start.
        let started = try #require(try await store.dispatchAgents().first { $0.agent.id == "a-1" }?.shiftStartedAt)
        #expect(try await store.shift(agent: "a-1") == AgentShift(onShift: true, startedAt: started))
        #expect(try await store.shift(agent: "nobody") == nil)
        _ = try await store.createOrder(
            order("o-1", customer: customer), idempotencyKey: nil, requestHash: nil,
            actor: "customer")
        #expect(try await store.dispatchQueue().isEmpty)
        _ = try await store.applyOrderChange(OrderChange(action: .accept, actor: "operator"), to: "o-1")
        #expect(try await store.dispatchQueue().map(\.id) == ["o-1"])
        let limits = AssignmentLimits(capacity: 1, codCashLimit: 1_000_000)
        let now = wallClockMilliseconds()
        func offer(_ agent: String) -> Offer { Offer(order: "o-1", agent: agent, created: now, deadline: now + 60_000) }
        guard case .offered(let first) = try await store.createOffer(offer("a-1"), limits: limits) else {
            Issue.record("the first offer was refused")
            return
        }
        #expect(first.state == .pending && first.agent == "a-1")
        // One pending offer per order; the order no longer waits.
        if case .offered = try await store.createOffer(offer("a-2"), limits: limits) {
            Issue.record("a second pending offer of one order")
        }
        #expect(try await store.pendingOffers().map(\.agent) == ["a-1"])
        #expect(try await store.dispatchQueue().isEmpty)
        // Decided once: the second decision finds nothing pending.
        #expect(
            try await store.closeOffer(order: "o-1", agent: "a-1", state: .rejected, reason: "busy")?.state == .rejected
        )
        #expect(try await store.closeOffer(order: "o-1", agent: "a-1", state: .expired, reason: nil) == nil)
        #expect(try await store.excludedAgents(order: "o-1") == ["a-1"])
        guard case .refused = try await store.createOffer(offer("a-1"), limits: limits) else {
            Issue.record("an agent that rejected the order was offered it again")
            return
        }
        guard case .offered = try await store.createOffer(offer("a-2"), limits: limits) else {
            Issue.record("the offer to a-2 was refused")
            return
        }
        guard
            case .assigned(let assigned, let event, _) = try await store.acceptOffer(
                order: "o-1", agent: "a-2", actor: "agent:a-2", limits: limits, now: now + 1)
        else {
            Issue.record("the accept was refused")
            return
        }
        #expect(assigned.status == .assigned && assigned.agentID == "a-2" && event.status == .assigned)
        guard
            case .refused = try await store.acceptOffer(
                order: "o-1", agent: "a-2", actor: "agent:a-2", limits: limits, now: now + 2)
        else {
            Issue.record("an offer was accepted twice")
            return
        }
        #expect(try await store.offers(order: "o-1").map(\.state) == [.rejected, .accepted])
        #expect(try await store.agentLoads()["a-2"]?.map(\.id) == ["o-1"])
    }

    /// The batch calls a dispatch round makes (``DispatchRepository/createOffers(_:limits:)``,
    /// ``DispatchRepository/excludedAgents(orders:)``, ``DispatchRepository/markOffersSent(_:at:)``,
    /// ``DispatchRepository/unsentOffers()``, ``RestaurantDirectory/restaurantSummaries(ids:)``, ``OrderRepository/orders(ids:)``) decide exactly as their one-at-a-time forms: an offer that
    /// would take an agent past its capacity, or goes to an agent the order excludes, is refused even when the offer
    /// before it in the same call made it so, and only a made offer's decision is recorded.
    static func aRoundsOffersAreMadeInOneCallEachCheckedAgainstThoseBefore(_ store: some HubStore) async throws {
        let customer = try #require(try await orderWorld(store).first)
        for agent in ["a-1", "a-2"] {
            _ = try await store.createAgent(id: agent, name: nil)
            try await onShiftAndOnline(store, agent)
        }
        for id in ["o-1", "o-2", "o-3"] {
            _ = try await store.createOrder(
                order(id, customer: customer), idempotencyKey: nil, requestHash: nil, actor: "customer")
            _ = try await store.applyOrderChange(OrderChange(action: .accept, actor: "operator"), to: id)
        }
        let limits = AssignmentLimits(capacity: 1, codCashLimit: 1_000_000)
        let now = wallClockMilliseconds()
        func offer(_ order: String, _ agent: String) -> Offer {
            Offer(order: order, agent: agent, created: now, deadline: now + 60_000)
        }
        // a-2 rejected o-3 before the round.
        guard case .offered = try await store.createOffer(offer("o-3", "a-2"), limits: limits) else {
            Issue.record("the first offer of o-3 was refused")
            return
        }
        _ = try await store.closeOffer(order: "o-3", agent: "a-2", state: .rejected, reason: "far")
        #expect(try await store.excludedAgents(orders: ["o-1", "o-2", "o-3", "o-none"]) == ["o-3": ["a-2"]])
        #expect(try await store.excludedAgents(orders: []).isEmpty)

        func request(_ order: String, _ agent: String) -> OfferRequest {
            OfferRequest(
                offer: offer(order, agent),
                decision: DispatchRecord(
                    order: order, time: now, policy: "batch", agent: agent, outcome: "offered",
                    candidates: [.init(agent: agent, cost: 12.5, etaSeconds: 240)]))
        }
        let requests = [
            request("o-1", "a-1"),
            request("o-2", "a-1"),  // a-1's one slot went to o-1 just before, in this call
            request("o-3", "a-2"),  // a-2 rejected o-3
            request("o-2", "a-2"),
            request("o-none", "a-1"),
        ]
        let outcomes = try await store.createOffers(requests, limits: limits)
        #expect(outcomes.count == requests.count)
        guard outcomes.count == requests.count else { return }
        guard case .offered(let first) = outcomes[0], case .offered(let fourth) = outcomes[3] else {
            Issue.record("the valid offers were refused: \(outcomes)")
            return
        }
        #expect(first.order == "o-1" && first.agent == "a-1" && first.state == .pending && first.id != 0)
        #expect(fourth.order == "o-2" && fourth.agent == "a-2" && fourth.id != first.id)
        // The ids returned are the stored offers' (not another row's inserted in the same call).
        #expect(try await store.offers(order: "o-1").last?.id == first.id)
        #expect(try await store.offers(order: "o-2").last?.id == fourth.id)
        guard case .refused(.atCapacity(agent: "a-1", _, _, _)) = outcomes[1] else {
            Issue.record("a second offer to a-1 at capacity 1 was not refused for capacity: \(outcomes[1])")
            return
        }
        guard case .refused(.excluded(agent: "a-2", order: "o-3")) = outcomes[2] else {
            Issue.record("the offer to an agent that rejected the order was not refused: \(outcomes[2])")
            return
        }
        guard case .refused(.unknownOrder("o-none")) = outcomes[4] else {
            Issue.record("an offer of an unknown order was not refused: \(outcomes[4])")
            return
        }
        #expect(Set(try await store.pendingOffers().map { "\($0.order)>\($0.agent)" }) == ["o-1>a-1", "o-2>a-2"])
        // Only the made offers' decisions are recorded, each as its request gave it.
        #expect(try await store.decisions(order: "o-1") == [requests[0].decision])
        #expect(try await store.decisions(order: "o-2") == [requests[3].decision])
        #expect(try await store.decisions(order: "o-3").isEmpty)
        #expect(try await store.createOffers([], limits: limits).isEmpty)

        // Marked sent together; the first time is kept. Unsent until marked.
        #expect(try await store.unsentOffers().map(\.order).sorted() == ["o-1", "o-2"])
        try await store.markOffersSent([("o-1", "a-1")], at: now + 5)
        #expect(try await store.unsentOffers().map(\.order) == ["o-2"])
        try await store.markOffersSent([("o-1", "a-1"), ("o-2", "a-2"), ("o-3", "a-2")], at: now + 5)
        try await store.markOffersSent([("o-1", "a-1")], at: now + 9)
        try await store.markOffersSent([], at: now + 9)
        #expect(try await store.unsentOffers().isEmpty)
        let sent = Dictionary(
            try await store.pendingOffers().map { ($0.order, $0.sent) }, uniquingKeysWith: { a, _ in a })
        #expect(sent == ["o-1": now + 5, "o-2": now + 5])
        #expect(try await store.offers(order: "o-3").map(\.sent) == [nil])

        let read = try await store.orders(ids: ["o-1", "o-none", "o-2", "o-1"])
        #expect(read.keys.sorted() == ["o-1", "o-2"])
        #expect(read["o-2"] == (try await store.order(id: "o-2")))
        #expect(try await store.orders(ids: []).isEmpty)

        let places = try await store.restaurantSummaries(ids: ["r-1", "r-none"])
        #expect(places.keys.sorted() == ["r-1"])
        #expect(places["r-1"] == (try await store.restaurantSummary(id: "r-1")))
    }

    static func decisionsAndAlertsAreRecordedOnce(_ store: some HubStore) async throws {
        let customer = try #require(try await orderWorld(store).first)
        _ = try await store.createAgent(id: "a-1", name: nil)
        _ = try await store.createOrder(
            order("o-1", customer: customer), idempotencyKey: nil, requestHash: nil,
            actor: "customer")
        let record = DispatchRecord(
            order: "o-1", time: 1_800_000_000_000, policy: "nearest", agent: "a-1", outcome: "offered",
            candidates: [.init(agent: "a-1", cost: 1.5, etaSeconds: 300)])
        try await store.recordDecision(record)
        #expect(try await store.decisions(order: "o-1") == [record])
        #expect(try await store.decisions(order: "o-2").isEmpty)
        #expect(try await store.raiseAlert(kind: "agent_offline", agent: "a-1", order: "o-1", message: "gone"))
        #expect(
            try await store.raiseAlert(kind: "agent_offline", agent: "a-1", order: "o-1", message: "again") == false)
        #expect(try await store.raiseAlert(kind: "agent_offline", agent: "a-1", order: nil, message: "other"))
        let alerts = try await store.alerts(limit: 10)
        #expect(alerts.count == 2 && Set(alerts.map(\.message)) == ["gone", "other"])
    }

    /// A pickup the device made before the order was taken back gives the order back to its agent whatever else it
    /// holds: the offers it was made meanwhile for other orders (it seemed free) are withdrawn with it, so it never
    /// carries and holds on offer more than its capacity (found by `DispatchPropertyTests`: "a-1 carries and is
    /// offered [o-14, o-15], capacity 1").
    static func aLatePickupWithdrawsTheAgentsOtherOffers(_ store: some HubStore) async throws {
        let customer = try #require(try await orderWorld(store).first)
        _ = try await store.createAgent(id: "a-1", name: nil)
        try await onShiftAndOnline(store, "a-1")
        let limits = AssignmentLimits(capacity: 1, codCashLimit: 1_000_000)
        for id in ["o-1", "o-2"] {
            _ = try await store.createOrder(
                order(id, customer: customer), idempotencyKey: nil, requestHash: nil, actor: "customer")
            _ = try await store.applyOrderChange(OrderChange(action: .accept, actor: "operator"), to: id)
        }
        let before = wallClockMilliseconds()
        guard
            case .assigned = try await store.assignOrder(
                order: "o-1", agent: "a-1", actor: "operator", reason: nil, limits: limits)
        else {
            Issue.record("the assignment was refused")
            return
        }
        // Taken back (the agent is free again) and the agent offered another order.
        _ = try await store.unassignOrder(order: "o-1", actor: "operator", reason: "test", excludeAgent: false)
        let now = wallClockMilliseconds()
        guard
            case .offered = try await store.createOffer(
                Offer(order: "o-2", agent: "a-1", created: now, deadline: now + 60_000), limits: limits)
        else {
            Issue.record("the offer to the free agent was refused")
            return
        }
        // The device's pickup of o-1, made before it was taken back, arrives now.
        let outcome = try await store.applyDeviceAction(
            DeviceAction(agent: "a-1", seq: 1, order: "o-1", action: .pickup, time: before - 1, cashCollected: nil))
        guard case .applied(let order, _, let withdrawn, let late) = outcome else {
            Issue.record("the late pickup was not applied: \(outcome)")
            return
        }
        #expect(late && order.status == .pickedUp && order.agentID == "a-1")
        #expect(withdrawn.map(\.order) == ["o-2"] && withdrawn.allSatisfy { $0.state == .withdrawn })
        #expect(try await store.pendingOffers().isEmpty)
        #expect(try await store.dispatchQueue().map(\.id) == ["o-2"], "o-2 waits for another agent")
        #expect(try await store.agentLoads()["a-1"]?.map(\.id) == ["o-1"])
    }
}
