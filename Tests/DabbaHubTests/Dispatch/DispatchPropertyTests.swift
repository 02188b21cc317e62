import DabbaCore
import DabbaProtocol
import DabbaSQLite
import DabbaTestSupport
import Foundation
@testable import HubModel
@testable import HubSQLite
import Logging
import PropertyBased
import Synchronization
import Testing

@testable import DabbaHub

/// Random seeded interleavings of dispatch rounds, accepts (some late), lapses (delivered or not), rejects,
/// operators' assigns and unassigns, pickups and deliveries (over REST and from the device, sometimes by the wrong
/// agent), shift and online changes, the payment reactor posting cash and hand-ins — one at a time and in
/// concurrent bursts — against the real store (in memory) and dispatcher. After every step:
/// - no agent carries and holds on offer more than its capacity;
/// - no agent's cash exposure (ledger balance, delivered cash not yet posted, carried and offered cash orders)
///   exceeds the cash limit, leaving out cash its device reported with a refused event (recorded, never dropped, but
///   not an assignment's doing);
/// - every offer and assignment made in the step went to an agent that was on shift and online (and, for offers,
///   whose carried and offered orders are all from the offer's restaurant); every accept came before its deadline;
///   a late accept was refused, saying so;
/// - every pickup or delivery by an agent is on an order that names that agent;
/// - a pending offer is for a waiting order, to an agent not excluded from it.
/// The failing seed is printed by the property checker; `DABBA_DISPATCH_PROPERTY_RUNS` raises the number of runs.
@Suite struct DispatchPropertyTests {
    struct Op: Sendable, CustomStringConvertible {
        var roll: Int
        var a: Int
        var b: Int
        var description: String { "Op(\(roll), \(a), \(b))" }
    }

    @Test(.shrinking(false)) func randomInterleavingsKeepTheAssignmentInvariants() async throws {
        let runs = ProcessInfo.processInfo.environment["DABBA_DISPATCH_PROPERTY_RUNS"].flatMap(Int.init) ?? 12
        let started = ContinuousClock.now
        let tally = Mutex<[String: Int]>([:])
        let operations = zip(Gen.int(in: 0...99), Gen.int(in: 0...1_000_000), Gen.int(in: 0...1_000_000))
            .map { t in Op(roll: t.0, a: t.1, b: t.2) }.array(of: 160)
        await propertyCheck(count: runs, input: operations) { ops in
            let run = try await Run(ops.first ?? Op(roll: 0, a: 0, b: 0))
            defer { run.store.close() }
            try await run.perform(ops)
            let counts = try await run.store.propertyTally()
            tally.withLock { for (key, n) in counts { $0[key, default: 0] += n } }
        }
        let counts = tally.withLock { $0 }.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        print("dispatch property: \(runs) runs × 160 steps in \(ContinuousClock.now - started): \(counts)")
    }

    /// What the checks compare before and after a step.
    struct Snapshot: Sendable {
        var onShift: [String: Bool] = [:]
        var online: [String: Bool] = [:]
        var pending: [Offer] = []
        var lastEvent: Int64 = 0
    }

    /// One run: a fresh in-memory store, four agents, two restaurants, a policy and capacity from the first op.
    final class Run: @unchecked Sendable {
        static let agents = ["a-1", "a-2", "a-3", "a-4"]
        static let limit: Int64 = 150_000
        let store: SQLiteHubStore
        let dispatcher: Dispatcher<SQLiteHubStore>
        let orders: OrderService<SQLiteHubStore>
        let world: PaymentWorld
        let clock: ManualClock
        let capacity: Int
        var customer: Int64 = 0
        var orderCount = 0
        var seq: Int64 = 1_000
        var handIns = 0

        /// `logger`: the store's, orders' and dispatcher's (default: critical only).
        init(_ first: Op, logger: Logger? = nil) async throws {
            let logger =
                logger
                ?? {
                    var logger = Logger(label: "dispatch-property")
                    logger.logLevel = .critical
                    return logger
                }()
            store = try SQLiteHubStore(path: ":memory:", logger: logger)
            world = PaymentWorld(store: store, cashLimit: Self.limit)
            clock = ManualClock(wallClockMilliseconds())
            capacity = 1 + first.a % 2
            let policy = ["batch", "least-recent", "nearest"][first.b % 3]
            let configuration = try HubConfiguration.make([
                "dispatch-policy": policy, "agent-capacity": "\(capacity)", "cod-cash-limit": "\(Self.limit)",
                "offer-timeout": "60", "dispatch-fix-max-age": "86400", "dispatch-offline-grace": "120",
            ])
            orders = OrderService(
                store: store, notifier: OrderNotifier(bus: OrderEventBus(), mqtt: nil, logger: logger))
            dispatcher = try Dispatcher(
                store: store, orders: orders, settings: DispatchConfiguration(configuration: configuration),
                metrics: HubMetrics(), logger: logger, now: clock.now)
            customer = try await seedPaymentWorld(store, customers: 1, agents: Self.agents)[0]
            let owner = try await store.createUser(
                email: "owner@example.com", passwordHash: "x", name: "Owner", role: .restaurant, agentID: nil)
            for (index, id) in ["r-1", "r-2"].enumerated() {
                _ = try await store.createRestaurant(
                    Restaurant(
                        id: id, name: id, address: "Road \(index)",
                        location: GeoPoint(lat: 12.97 + Double(index) / 100, lon: 77.60), ownerUserID: owner.id,
                        currency: "INR", hours: .always))
            }
            for (index, agent) in Self.agents.enumerated() {
                try await store.setShift(agent: agent, onShift: index < 3)
                try await store.updateState(AgentState(agent: agent, online: index != 1), at: wallClockMilliseconds())
                _ = try await store.store(
                    positions: [
                        StoredPosition(
                            agent: agent, seq: 1, time: wallClockMilliseconds(), lat: 12.97 + Double(index) / 200,
                            lon: 77.601)
                    ], events: [])
            }
        }

        func perform(_ ops: [Op]) async throws {
            for (index, op) in ops.enumerated() {
                let before = try await snapshot()
                let concurrent = op.roll >= 96
                var toggled = Set<String>()
                if concurrent {
                    // Three operations at once, each a step of its own kind (no expectations of their own).
                    let burst = (0..<3).map { k in
                        Op(roll: (op.a / (k + 1) + op.b * k) % 96, a: op.a + k, b: op.b + 7 * k)
                    }
                    toggled = Set(burst.compactMap { self.toggles($0) })
                    await withTaskGroup(of: Void.self) { group in
                        for step in burst { group.addTask { _ = try? await self.apply(step, expectations: false) } }
                    }
                } else {
                    if let agent = toggles(op) { toggled.insert(agent) }
                    try await apply(op, expectations: true)
                }
                let after = try await snapshot()
                let facts = try await facts(since: before)
                let (changed, capacity) = (toggled, self.capacity)
                let problems = try await offPool {
                    Run.problems(
                        before: before, after: after, facts: facts, toggled: changed, burst: concurrent,
                        capacity: capacity)
                }
                #expect(problems.isEmpty, "step \(index) \(op)\(concurrent ? " (burst)" : ""): \(problems)")
                if !problems.isEmpty { return }
            }
        }

        /// The agent whose shift or online state `op` changes, if it does.
        func toggles(_ op: Op) -> String? {
            (84..<92).contains(op.roll) ? Self.agents[op.a % Self.agents.count] : nil
        }

        func pick<T>(_ items: [T], _ n: Int) -> T? { items.isEmpty ? nil : items[n % items.count] }

        func agentIdentity(_ agent: String) -> Identity {
            Identity(userID: 900 + Int64(Self.agents.firstIndex(of: agent) ?? 0), role: .agent, agentID: agent)
        }

        /// Applies one operation; with `expectations`, also checks what that operation alone must do.
        func apply(_ op: Op, expectations: Bool) async throws {
            let agent = Self.agents[op.a % Self.agents.count]
            switch op.roll {
            case 0..<12:  // a new order, confirmed by its restaurant
                orderCount += 1
                let method: PaymentMethod = op.b % 10 < 7 ? .cod : .card
                let subtotal = Int64(20_000 + op.b % 60_000)
                let order = try await world.order(
                    "o-\(orderCount)", customer: customer, method: method, subtotal: subtotal, fee: 4_000,
                    tax: subtotal / 20, restaurant: "r-\(1 + op.a % 2)")
                try await world.move(order.id, [.accept])
            case 12..<26:
                await dispatcher.round()
            case 26..<38:  // the agent accepts one of its pending offers (sometimes after its deadline)
                guard let offer = pick(try await store.pendingOffers(), op.a) else { return }
                if op.b % 4 == 0 { clock.set(offer.deadline + Int64(op.b % 3)) }
                let late = clock.now() >= offer.deadline
                do {
                    _ = try await dispatcher.accept(order: offer.order, agent: offer.agent)
                    if expectations { #expect(!late, "a late accept of \(offer) was taken") }
                } catch let error as DispatcherActionError {
                    if expectations, late {
                        #expect(
                            error
                                == .conflict(
                                    AssignmentRefusal.lapsed(
                                        order: offer.order, agent: offer.agent, deadline: offer.deadline
                                    ).description))
                    }
                }
            case 38..<44:  // time passes past the first deadline (the device had the offer or not); a round
                let pending = try await store.pendingOffers()
                if let offer = pending.first {
                    if op.b % 2 == 0 {
                        try await store.markOfferSent(order: offer.order, agent: offer.agent, at: clock.now())
                        try await store.recordSeen([offer.agent: clock.now() + 1])
                    }
                    clock.set(max(clock.now(), offer.deadline))
                }
                await dispatcher.round()
            case 44..<52:  // an operator assigns a waiting order
                guard let order = pick(try await store.dispatchQueue(), op.b) else { return }
                _ = try? await dispatcher.assign(order: order.id, agent: agent, actor: "operator:1", reason: nil)
            case 52..<57:  // an operator unassigns
                let assigned = try await store.agentLoads().values.flatMap { $0 }.filter { $0.status == .assigned }
                guard let order = pick(assigned.sorted { $0.id < $1.id }, op.b) else { return }
                _ = try? await dispatcher.unassign(order: order.id, actor: "operator:1", reason: "stalled")
            case 57..<62:  // the agent rejects its offer or gives the order back
                guard let offer = pick(try await store.pendingOffers(), op.a) else { return }
                _ = try? await dispatcher.reject(order: offer.order, agent: offer.agent, reason: "busy")
            case 62..<84:  // a pickup or delivery, by the agent that has the order or (sometimes) another
                let carried = try await store.agentLoads().values.flatMap { $0 }.sorted { $0.id < $1.id }
                guard let order = pick(carried, op.b) else { return }
                let actor = op.a % 5 == 0 ? agent : (order.agentID ?? agent)
                let action: OrderAction = order.status == .assigned ? .pickup : .deliver
                let cash = order.paymentMethod == .cod && action == .deliver ? order.total : nil
                if op.roll < 73 {
                    _ = try? await orders.perform(action, on: order.id, by: agentIdentity(actor), cashCollected: cash)
                } else {
                    seq += 1
                    let kind: AgentEvent.Kind = action == .pickup ? .pickedUp : .delivered
                    try await DispatchLateEventsTests.deviceEvent(
                        store, actor, seq: seq, kind, order: order.id, at: wallClockMilliseconds(), cash: cash)
                    await dispatcher.round()
                }
            case 84..<88:
                let on = try await store.dispatchAgents().first { $0.agent.id == agent }?.onShift ?? false
                try await store.setShift(agent: agent, onShift: !on)
            case 88..<92:
                let online = try await store.agent(id: agent)?.state?.online ?? false
                try await store.updateState(AgentState(agent: agent, online: !online), at: wallClockMilliseconds())
            case 92..<94:
                _ = try await world.reactor.drain()
            default:  // a hand-in of part of what the agent holds
                let held = try await store.agentCashHeld(agent: agent, currency: "INR")
                guard held > 0 else { return }
                handIns += 1
                _ = try await store.recordCashHandIn(
                    CashHandIn(
                        id: "h-\(handIns)", agent: agent, currency: "INR", amount: 1 + Int64(op.b) % held,
                        actor: "operator:1", note: nil, time: wallClockMilliseconds()))
            }
        }

        func snapshot() async throws -> Snapshot {
            var s = Snapshot()
            for row in try await store.dispatchAgents() {
                s.onShift[row.agent.id] = row.onShift
                s.online[row.agent.id] = row.agent.state?.online == true
            }
            s.pending = try await store.pendingOffers()
            s.lastEvent = try await store.propertyLastOrderEvent()
            return s
        }

        /// What the checks need, read after a step.
        struct Facts: Sendable {
            var events: [OrderEvent] = []
            var orders: [String: OrderRecord] = [:]
            var offers: [String: [Offer]] = [:]
            var exposure: [String: Int64] = [:]
            var now: Int64 = 0
        }

        func facts(since before: Snapshot) async throws -> Facts {
            var f = Facts()
            f.now = clock.now()
            f.events = try await store.orderEvents(after: before.lastEvent, limit: 100_000)
            for order in try await store.orders(OrderFilter(), after: nil, limit: 100_000) {
                f.orders[order.id] = order
            }
            for offer in try await store.propertyOffers() { f.offers[offer.order, default: []].append(offer) }
            let posted = try await store.propertyPostedCashOrders()
            // The exposure as the rule defines it, from first principles: the ledger balance, plus delivered cash
            // orders with no cash payment yet, plus carried and offered cash orders.
            for agent in Self.agents {
                // Cash a device reported with a refused event is the agent's too, but no assignment put it there.
                var total =
                    try await store.agentCashHeld(agent: agent, currency: "INR")
                    - store.propertyUnappliedCash(agent: agent)
                for order in f.orders.values where order.agentID == agent && order.paymentMethod == .cod {
                    switch order.status {
                    case .assigned, .pickedUp: total += order.total
                    case .delivered:
                        if !posted.contains(order.id) { total += order.total }
                    default: break
                    }
                }
                for offers in f.offers.values {
                    for offer in offers where offer.state == .pending && offer.agent == agent {
                        if let order = f.orders[offer.order], order.paymentMethod == .cod { total += order.total }
                    }
                }
                f.exposure[agent] = total
            }
            return f
        }

        /// The invariants (a pure function of what was read: run off the cooperative pool).
        static func problems(
            before: Snapshot, after: Snapshot, facts f: Facts, toggled: Set<String>, burst: Bool, capacity: Int
        ) -> [String] {
            var problems: [String] = []
            let pending = f.offers.values.flatMap { $0 }.filter { $0.state == .pending }
            var held: [String: [OrderRecord]] = [:]
            for order in f.orders.values where [.assigned, .pickedUp].contains(order.status) {
                if let agent = order.agentID { held[agent, default: []].append(order) }
            }
            for offer in pending {
                if let order = f.orders[offer.order] { held[offer.agent, default: []].append(order) }
            }
            for (agent, orders) in held where orders.count > capacity {
                problems.append("\(agent) carries and is offered \(orders.map(\.id)), capacity \(capacity)")
            }
            for (agent, exposure) in f.exposure where exposure > Run.limit {
                problems.append("\(agent)'s cash exposure \(exposure) exceeds \(Run.limit)")
            }
            func wasAvailable(_ agent: String) -> Bool {
                toggled.contains(agent) || (before.onShift[agent] == true && before.online[agent] == true)
            }
            let known = Set(before.pending.map(\.id))
            for offer in pending where !known.contains(offer.id) {
                if !wasAvailable(offer.agent) { problems.append("offer \(offer) to an agent off shift or offline") }
                // Offers stack one restaurant's orders (an operator may mix restaurants, but not in this step).
                let restaurants = Set((held[offer.agent] ?? []).map(\.restaurantID))
                if !burst && restaurants.count > 1 {
                    problems.append("offer \(offer) stacks restaurants \(restaurants.sorted())")
                }
            }
            for event in f.events {
                let agentActor = event.actor.hasPrefix("agent:") ? String(event.actor.dropFirst(6)) : nil
                if event.action == .assign, let agent = event.agent, event.actor != "system", !wasAvailable(agent) {
                    problems.append("\(event.order) assigned to \(agent), off shift or offline")
                }
                if event.action == .assign, let agent = agentActor, !burst {
                    // An accept: its offer was accepted before its deadline (the clock moves only before an accept in
                    // a step of its own; a burst may move it after).
                    let accepted = f.offers[event.order]?.last { $0.agent == agent && $0.state == .accepted }
                    if let accepted, accepted.deadline <= f.now {
                        problems.append(
                            "\(event.order) accepted by \(agent) at \(f.now), deadline \(accepted.deadline)")
                    }
                }
                if [.pickup, .deliver].contains(event.action), let agent = agentActor, event.agent != agent {
                    problems.append(
                        "\(event.action!.rawValue) by \(agent) on \(event.order), which names \(event.agent ?? "nobody")"
                    )
                }
            }
            for offer in pending {
                guard let order = f.orders[offer.order] else { continue }
                if order.agentID != nil || ![.confirmed, .preparing, .readyForPickup].contains(order.status) {
                    problems.append("pending \(offer) for an order \(order.status) with \(order.agentID ?? "-")")
                }
                let excluded = (f.offers[offer.order] ?? []).contains {
                    $0.agent == offer.agent
                        && ($0.state == .rejected || ($0.state == .expired && $0.reason != Offer.undeliveredReason))
                }
                if excluded { problems.append("pending \(offer) to an excluded agent") }
            }
            return problems
        }
    }
}

extension SQLiteHubStore {
    /// Every offer, oldest first (DispatchPropertyTests reads them after every step).
    func propertyOffers() throws(StoreError) -> [Offer] {
        try run { () throws(SQLiteError) -> [Offer] in try readOffersRaw("ORDER BY id", []) }
    }

    /// Orders whose cash collection the payment reactor has posted.
    func propertyPostedCashOrders() throws(StoreError) -> Set<String> {
        try run { () throws(SQLiteError) -> Set<String> in
            let s = try db.prepare("SELECT order_id FROM cod_collections")
            defer { s.reset() }
            var ids = Set<String>()
            while try s.step() { ids.insert(s.text(0) ?? "") }
            return ids
        }
    }

    /// Cash posted to `agent` from refused device events (ledger kind `cash_unapplied`).
    func propertyUnappliedCash(agent: String) throws(StoreError) -> Int64 {
        try run { () throws(SQLiteError) -> Int64 in
            try db.scalarInt(
                """
                SELECT SUM(e.amount) FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
                WHERE t.kind = 'cash_unapplied' AND e.account = ? AND e.side = 'debit'
                """, [.text(LedgerAccount.agentCash(agent))]) ?? 0
        }
    }

    /// What happened over a run: offers by final state, order events by action, decisions by outcome.
    func propertyTally() throws(StoreError) -> [String: Int] {
        try run { () throws(SQLiteError) -> [String: Int] in
            var tally: [String: Int] = [:]
            for sql in [
                "SELECT 'offer ' || state, COUNT(*) FROM offers GROUP BY state",
                "SELECT 'event ' || action, COUNT(*) FROM order_events WHERE action IS NOT NULL GROUP BY action",
                "SELECT 'decision ' || outcome, COUNT(*) FROM dispatch_decisions GROUP BY outcome",
            ] {
                let s = try db.prepare(sql)
                defer { s.reset() }
                while try s.step() { tally[s.text(0) ?? "?"] = Int(s.int64(1)) }
            }
            return tally
        }
    }

    /// The newest order event's id (0 when none).
    func propertyLastOrderEvent() throws(StoreError) -> Int64 {
        try run { () throws(SQLiteError) -> Int64 in try db.scalarInt("SELECT MAX(id) FROM order_events") ?? 0 }
    }
}
