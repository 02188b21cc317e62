import DabbaCore
import DabbaProtocol
import HubModel
import Testing

/// ``DispatchRepository/createOffers(_:limits:)`` decides exactly as ``DispatchRepository/createOffer(_:limits:)``
/// called once per request in the same order: two stores built alike from a seed, one given the round in one call,
/// the other offer by offer; the outcomes, the pending offers and the decisions recorded must be the same. The
/// worlds mix what the checks read: orders waiting, not waiting, carried, delivered with their cash unposted, with a
/// pending or a rejected offer; agents on and off shift, online and offline, carrying cash orders of two
/// restaurants; requests naming unknown orders and agents, and the same order or agent twice.
extension HubStoreContract {
    package static func offerRounds<Store: HubStore>(make: Make<Store>) async throws {
        for seed: UInt64 in [1, 2, 3, 4] {
            let a = try await make()
            defer { a.end() }
            let b = try await make()
            defer { b.end() }
            try await aRoundDecidesAsItsOffersOneByOne(a.store, b.store, seed: seed)
        }
    }

    static func aRoundDecidesAsItsOffersOneByOne(_ round: some HubStore, _ oneByOne: some HubStore, seed: UInt64)
        async throws
    {
        let now = wallClockMilliseconds()
        let limits = AssignmentLimits(capacity: 2, codCashLimit: 60_000)
        // The same world twice: each store's generator starts from the same seed.
        var first = SplitMix64(seed: seed)
        var second = SplitMix64(seed: seed)
        let requests = try await offerWorld(round, rng: &first, now: now)
        #expect(try await offerWorld(oneByOne, rng: &second, now: now) == requests)
        let outcomes = try await round.createOffers(requests, limits: limits)
        var expected: [OfferOutcome] = []
        for request in requests {
            let outcome = try await oneByOne.createOffer(request.offer, limits: limits)
            if case .offered = outcome { try await oneByOne.recordDecision(request.decision) }
            expected.append(outcome)
        }
        #expect(outcomes == expected, "seed \(seed)")
        #expect(expected.contains { if case .offered = $0 { true } else { false } }, "seed \(seed): nothing offered")
        #expect(Set(expected.map(\.kind)).count >= 4, "seed \(seed): too few kinds of outcome: \(expected)")
        let pending = { (store: any HubStore) async throws -> [String] in
            try await store.pendingOffers().map { "\($0.id) \($0.order)>\($0.agent)" }.sorted()
        }
        #expect(try await pending(round) == (try await pending(oneByOne)), "seed \(seed)")
        for request in requests {
            let order = request.offer.order
            #expect(
                try await round.decisions(order: order) == (try await oneByOne.decisions(order: order)),
                "seed \(seed), \(order)")
        }
    }

    /// Builds a seeded world in `store` and returns the round's requests.
    static func offerWorld(_ store: some HubStore, rng: inout SplitMix64, now: Int64) async throws -> [OfferRequest] {
        let customer = try #require(try await orderWorld(store).first)
        let owner = try await user(store, "owner2@example.com", role: .restaurant).id
        _ = try await store.createRestaurant(restaurant("r-2", owner: owner, at: GeoPoint(lat: 22.32, lon: 87.32)))
        func pick(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
        let agents = (0..<8).map { "a-\($0)" }
        for agent in agents {
            _ = try await store.createAgent(id: agent, name: nil)
            if pick(5) > 0 { try await store.setShift(agent: agent, onShift: true) }
            if pick(5) > 0 { try await store.updateState(AgentState(agent: agent, online: true), at: now) }
        }
        let everyone = AssignmentLimits(capacity: 100, codCashLimit: .max, requireOnline: false)
        var orders: [String] = []
        for i in 0..<14 {
            let id = "o-\(i)"
            orders.append(id)
            var record = order(id, customer: customer)
            record.restaurantID = pick(3) == 0 ? "r-2" : "r-1"
            if pick(3) == 0 { record.paymentMethod = .card }
            record.total = 20_000 + Int64(pick(4)) * 5_000
            _ = try await store.createOrder(record, idempotencyKey: nil, requestHash: nil, actor: "customer")
            let fate = pick(8)
            if fate == 0 { continue }  // placed: not waiting for an agent yet
            _ = try await store.applyOrderChange(OrderChange(action: .accept, actor: "operator"), to: id)
            let agent = agents[pick(agents.count)]
            switch fate {
            case 1, 2:  // carried, or delivered with its cash not posted
                _ = try await store.assignOrder(
                    order: id, agent: agent, actor: "operator", reason: nil, limits: everyone)
                if fate == 2 {
                    _ = try await store.applyOrderChange(OrderChange(action: .pickup, actor: "agent"), to: id)
                    _ = try await store.applyOrderChange(OrderChange(action: .deliver, actor: "agent"), to: id)
                }
            case 3:  // offered already
                _ = try await store.createOffer(
                    Offer(order: id, agent: agent, created: now, deadline: now + 60_000), limits: everyone)
            case 4:  // the agent rejected it
                _ = try await store.createOffer(
                    Offer(order: id, agent: agent, created: now, deadline: now + 60_000), limits: everyone)
                _ = try await store.closeOffer(order: id, agent: agent, state: .rejected, reason: "far")
            default: break  // waiting
            }
        }
        return (0..<30).map { _ in
            let order = pick(12) == 0 ? "o-none" : orders[pick(orders.count)]
            let agent = pick(12) == 0 ? "a-none" : agents[pick(agents.count)]
            return OfferRequest(
                offer: Offer(order: order, agent: agent, created: now, deadline: now + 60_000),
                decision: DispatchRecord(
                    order: order, time: now, policy: "batch", agent: agent, outcome: "offered",
                    candidates: [.init(agent: agent, cost: 1.5, etaSeconds: 60)]))
        }
    }
}

extension OfferOutcome {
    /// The outcome's kind, to see that a world tries many.
    fileprivate var kind: String {
        switch self {
        case .offered: "offered"
        case .refused(let refusal): Mirror(reflecting: refusal).children.first?.label ?? "\(refusal)"
        }
    }
}
