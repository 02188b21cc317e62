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
            #expect(try await store.isOnShift(agent: agent) == false)
            try await onShiftAndOnline(store, agent)
        }
        #expect(try await store.dispatchAgents().map { [$0.agent.id: $0.onShift] } == [["a-1": true], ["a-2": true]])
        #expect(try await store.isOnShift(agent: "a-1") == true)
        #expect(try await store.isOnShift(agent: "nobody") == nil)
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
