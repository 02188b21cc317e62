import HubModel
import Testing

/// ``PaymentRepository`` and ``PaymentGate`` on the cash path: the reactor's cursor claimed once, a delivered cash
/// order posted once as a captured payment and the agent's cash, hand-ins bounded by the cash held, the ledger
/// balanced.
extension HubStoreContract {
    package static func payments<Store: HubStore>(make: Make<Store>) async throws {
        try await with(make) { try await cashOnDeliveryIsPostedOnceAndHandedInWithinWhatIsHeld($0) }
        try await with(make) { try await reactorsOfSeveralHubsAtOnceConsumeTheTrailOnce($0) }
    }

    /// Takes order `order` (cash on delivery, 287.50) from placed to delivered by `agent`, who collects the cash.
    static func deliverWithCash(_ store: some HubStore, order: String, agent: String) async throws {
        for change in [
            OrderChange(action: .accept, actor: "operator"),
            OrderChange(action: .assign, actor: "operator", agent: agent),
            OrderChange(action: .pickup, actor: "agent:\(agent)"),
            OrderChange(action: .deliver, actor: "agent:\(agent)", cashCollected: 28750),
        ] {
            _ = try await store.applyOrderChange(change, to: order)
        }
    }

    /// The payment reactors of several hubs reading the same cursor and reacting at the same moment (concurrent
    /// calls: on PostgreSQL, concurrent connections): exactly one moves the cursor and records the reaction.
    static func reactorsOfSeveralHubsAtOnceConsumeTheTrailOnce(_ store: some HubStore) async throws {
        let customer = try #require(try await orderWorld(store).first)
        _ = try await store.createAgent(id: "a-1", name: nil)
        _ = try await store.createOrder(
            order("o-1", customer: customer), idempotencyKey: nil, requestHash: nil, actor: "c")
        try await deliverWithCash(store, order: "o-1", agent: "a-1")
        let from = try await store.paymentCursor()
        let events = try await store.orderEvents(after: from, limit: 100)
        let passes = try await withThrowingTaskGroup(of: PaymentReactorPass?.self) { group in
            for _ in 0..<4 {
                group.addTask { try await store.reactToOrderEvents(from: from, events: events, now: 1_800_000_000_000) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(passes.compactMap { $0 }.count == 1, "\(passes)")
        #expect(try await store.paymentCursor() == events.last?.id)
        #expect(try await store.payments(order: "o-1").map(\.captured) == [28750])
        #expect(try await store.agentCashHeld(agent: "a-1", currency: "INR") == 28750)
    }

    static func cashOnDeliveryIsPostedOnceAndHandedInWithinWhatIsHeld(_ store: some HubStore) async throws {
        let customer = try #require(try await orderWorld(store).first)
        _ = try await store.createAgent(id: "a-1", name: nil)
        _ = try await store.createOrder(
            order("o-1", customer: customer), idempotencyKey: nil, requestHash: nil,
            actor: "customer")
        #expect(try await store.paymentAllowsConfirmation(order: "o-1"))
        try await deliverWithCash(store, order: "o-1", agent: "a-1")
        // Delivered but not yet posted: already counted against the agent's cash limit.
        #expect(try await store.cashExposure(agent: "a-1", currency: "INR") == 28750)
        #expect(try await store.agentCashHeld(agent: "a-1", currency: "INR") == 0)
        let from = try await store.paymentCursor()
        let events = try await store.orderEvents(after: from, limit: 100)
        let t: Int64 = 1_800_000_000_000
        let pass = try #require(try await store.reactToOrderEvents(from: from, events: events, now: t))
        #expect(pass.consumed == events.count && pass.reactions == 1 && pass.failures.isEmpty)
        // Another hub that read the same cursor moves nothing.
        #expect(try await store.reactToOrderEvents(from: from, events: events, now: t) == nil)
        #expect(try await store.paymentCursor() == events.last?.id)
        let payment = try #require(try await store.payments(order: "o-1").first)
        #expect(payment.method == .cod && payment.state == .captured && payment.captured == 28750)
        #expect(try await store.payment(id: payment.id) == payment)
        #expect(try await store.agentCashHeld(agent: "a-1", currency: "INR") == 28750)
        #expect(try await store.cashExposure(agent: "a-1", currency: "INR") == 28750)
        // Hand-ins: never more than held.
        await expect(.illegalTransition) { () throws(StoreError) in
            _ = try await store.recordCashHandIn(
                CashHandIn(
                    id: "h-1", agent: "a-1", currency: "INR", amount: 30000, actor: "operator", note: nil, time: t))
        }
        _ = try await store.recordCashHandIn(
            CashHandIn(id: "h-2", agent: "a-1", currency: "INR", amount: 20000, actor: "operator", note: nil, time: t))
        #expect(try await store.agentCashHeld(agent: "a-1", currency: "INR") == 8750)
        // The ledger balances: every transaction's debits equal its credits.
        let balances = try await store.ledgerBalances(prefix: nil)
        #expect(balances.map(\.debits).reduce(0, +) == balances.map(\.credits).reduce(0, +))
        #expect(try await store.ledgerBalances(prefix: "agent:a-1").map(\.balance) == [8750])
        let entries = try await store.ledgerEntries(after: 0, limit: 100)
        #expect(entries.map(\.id) == entries.map(\.id).sorted() && !entries.isEmpty)
        let statement = try await store.ledgerStatement(
            account: "agent:a-1:cash", currency: "INR", before: nil, limit: 10)
        #expect(statement.count == 2 && statement.map(\.id) == statement.map(\.id).sorted(by: >))
    }
}
