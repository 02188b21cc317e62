import DabbaCore
import DabbaProtocol
import DabbaTestSupport
import HubModel
import HubPostgres
import Synchronization
import Testing

/// Orders, dispatch and money with two hubs on one database: the trail read by id never skips an event, an agent's
/// capacity holds across two dispatchers, and two refunds never exceed what was captured.
extension PostgresHubStoreConcurrencyTests {
    /// A restaurant `r-1`, a customer, agents `a-1`, `a-2` on shift and online, and `orders` cash orders confirmed
    /// (`o-0`…), each of 28 750 INR.
    static func orderWorld(_ store: PostgresHubStore, orders: Int) async throws {
        let owner = try await store.createUser(
            email: "owner@example.com", passwordHash: "hash", name: "Owner", role: .restaurant, agentID: nil)
        _ = try await store.createRestaurant(
            Restaurant(
                id: "r-1", name: "Kitchen", address: "1 Road", location: GeoPoint(lat: 22.3, lon: 87.3),
                ownerUserID: owner.id, currency: "INR", hours: .always))
        let customer = try await store.createUser(
            email: "c@example.com", passwordHash: "hash", name: "C", role: .customer, agentID: nil)
        for agent in ["a-1", "a-2"] {
            _ = try await store.createAgent(id: agent, name: nil)
            try await store.setShift(agent: agent, onShift: true)
            try await store.updateState(AgentState(agent: agent, online: true), at: wallClockMilliseconds())
        }
        let t: Int64 = 1_800_000_000_000
        for i in 0..<orders {
            _ = try await store.createOrder(
                OrderRecord(
                    id: "o-\(i)", customerID: customer.id, restaurantID: "r-1", paymentMethod: .cod, currency: "INR",
                    subtotal: 25000, deliveryFee: 2500, tax: 1250, total: 28750, address: "2 Lane", dropLat: 22.31,
                    dropLon: 87.31, zoneID: nil, createdAt: t + Int64(i), updatedAt: t + Int64(i),
                    lines: [OrderLine(itemID: "i-1", name: "Biryani", quantity: 1, unitPrice: 25000, options: [])]),
                idempotencyKey: nil, requestHash: nil, actor: "customer")
            _ = try await store.applyOrderChange(OrderChange(action: .accept, actor: "operator"), to: "o-\(i)")
        }
    }

    @Test func aReaderFollowingTheTrailByIDNeverSkipsAnEventTwoHubsAppendAtOnce() async throws {
        try await Self.withTwoHubs { a, b in
            let writing = WritersLeft(2)
            let perHub = 150
            func event(_ hub: String, _ i: Int) -> OrderEvent {
                OrderEvent(
                    id: 0, order: "o-\(hub)-\(i)", restaurant: "r-1", customer: 1, status: .placed,
                    time: Timestamp.format(milliseconds: 1_800_000_000_000), actor: "customer")
            }
            let (written, seen) = try await withThrowingTaskGroup(of: ([Int64], [Int64]).self) { group in
                for (hub, store) in [("a", a), ("b", b)] {
                    group.addTask {
                        var ids: [Int64] = []
                        for i in 0..<perHub { ids.append(try await store.appendOrderEvent(event(hub, i)).id) }
                        writing.count.subtract(1, ordering: .sequentiallyConsistent)
                        return (ids, [])
                    }
                }
                // A reader that moves its cursor past every id it sees, as webhooks, the payment reactor and the
                // other hubs' feeds do, while both hubs append; then once more after they finished.
                group.addTask {
                    var cursor: Int64 = 0
                    var seen: [Int64] = []
                    while true {
                        let done = writing.count.load(ordering: .sequentiallyConsistent) == 0
                        let page = try await a.orderEvents(after: cursor, limit: 1000)
                        seen += page.map(\.id)
                        cursor = page.last?.id ?? cursor
                        if done && page.isEmpty { break }
                    }
                    return ([], seen)
                }
                return try await group.reduce(into: ([Int64](), [Int64]())) {
                    $0.0 += $1.0
                    $0.1 += $1.1
                }
            }
            #expect(written.count == 2 * perHub)
            // Every appended event was seen, once, in id order: none committed behind the cursor.
            #expect(seen == written.sorted())
        }
    }

    @Test func twoDispatchersOfferingToOneAgentAtOnceRespectItsCapacity() async throws {
        try await Self.withTwoHubs { a, b in
            let rounds = 6
            try await Self.orderWorld(a, orders: 2 * rounds)
            let limits = AssignmentLimits(capacity: 1, codCashLimit: 10_000_000)
            for round in 0..<rounds {
                let now = wallClockMilliseconds()
                // Each hub offers a different order to the same agent; capacity 1 admits one of them.
                let outcomes = try await withThrowingTaskGroup(of: OfferOutcome.self) { group in
                    for (store, order) in [(a, "o-\(2 * round)"), (b, "o-\(2 * round + 1)")] {
                        group.addTask {
                            try await store.createOffer(
                                Offer(order: order, agent: "a-1", created: now, deadline: now + 60_000),
                                limits: limits)
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                let offered = outcomes.compactMap { if case .offered(let offer) = $0 { offer } else { nil } }
                #expect(offered.count == 1, "round \(round): \(outcomes)")
                #expect(try await b.pendingOffers().filter { $0.agent == "a-1" }.count == 1)
                for offer in offered {
                    _ = try await a.closeOffer(
                        order: offer.order, agent: "a-1", state: .withdrawn, reason: "next round")
                }
            }
        }
    }

    @Test func twoRefundsOfOnePaymentAtOnceNeverExceedWhatWasCaptured() async throws {
        try await Self.withTwoHubs { a, b in
            try await Self.orderWorld(a, orders: 1)
            for change in [
                OrderChange(action: .assign, actor: "operator", agent: "a-1"),
                OrderChange(action: .pickup, actor: "agent:a-1"),
                OrderChange(action: .deliver, actor: "agent:a-1", cashCollected: 28750),
            ] {
                _ = try await a.applyOrderChange(change, to: "o-0")
            }
            let from = try await a.paymentCursor()
            let events = try await a.orderEvents(after: from, limit: 100)
            _ = try #require(try await a.reactToOrderEvents(from: from, events: events, now: 1_800_000_000_000))
            let payment = try #require(try await a.payments(order: "o-0").first)
            #expect(payment.captured == 28750)
            // Two cash refunds of 20 000 each, one per hub: only one fits in the 28 750 captured.
            let results = await withTaskGroup(of: Result<Int64, StoreError>.self) { group in
                for (index, store) in [a, b].enumerated() {
                    group.addTask {
                        do throws(StoreError) {
                            let refund = RefundRecord(
                                id: "re-\(index)", paymentID: payment.id, amount: 20000, reason: "test",
                                actor: "operator", createdAt: 1_800_000_000_000)
                            return .success(
                                try await store.reserveRefund(refund, operation: nil, now: 1_800_000_000_000).1.amount)
                        } catch {
                            return .failure(error)
                        }
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            let refused = results.compactMap { if case .failure(let e) = $0 { e.code } else { nil } }
            #expect(refused == [.illegalTransition], "\(results)")
            let after = try #require(try await b.payment(id: payment.id))
            #expect(after.refunded == 20000 && after.refundPending == 0 && after.refundable == 8750)
            // The ledger stays balanced.
            let balances = try await b.ledgerBalances(prefix: nil)
            #expect(
                Checked.sum(balances.map(\.debits)) == Checked.sum(balances.map(\.credits)) && !balances.isEmpty)
        }
    }
}

/// How many writers are still appending (shared with the reader task).
final class WritersLeft: Sendable {
    let count: Atomic<Int>
    init(_ count: Int) { self.count = Atomic(count) }
}
