import DabbaCore
import DabbaTestSupport
import Foundation
import HTTPTypes
@testable import HubModel
@testable import HubSQLite
import Logging
import PropertyBased
import Testing

@testable import DabbaHub

/// 40 runs × 1,000 random operations against the real SQLite store (in memory): authorize (cards that succeed,
/// decline or need verification), retries with the same Idempotency-Key (same and different body), capture,
/// refunds (often too large), voids, order cancellations and deliveries through the reactor, provider webhooks
/// (new, replayed, out of order), cash on delivery and hand-ins. After every operation: each new transaction
/// balances, every account's stored totals equal the sum of its entries (kept independently here), debits equal
/// credits over the ledger, refunds stay within captures, and a refused operation leaves the ledger unchanged.
/// (A well-behaved provider here; ``PaymentFaultPropertyTests`` adds its faults, concurrency and restarts. The run
/// count was 100 before that test existed, then 80; at 40 it is no longer the suite's longest test, which bounds
/// the suite's wall time on two cores.)
@Suite struct PaymentPropertyTests {
    struct Op: Sendable, CustomStringConvertible {
        var roll: Int
        var a: Int
        var b: Int
        var description: String { "Op(\(roll), \(a), \(b))" }
    }

    @Test(.shrinking(false)) func randomOperationsKeepTheLedgerSound() async throws {
        let started = ContinuousClock.now
        let operations = zip(Gen.int(in: 0...99), Gen.int(in: 0...1_000_000), Gen.int(in: 0...1_000_000))
            .map { t in Op(roll: t.0, a: t.1, b: t.2) }.array(of: 1_000)
        // Off the cooperative pool: a long async loop would hold one of the two shared threads for its whole run.
        try await offPool(async: {
            await propertyCheck(count: 40, input: operations) { ops in
                try await Run().perform(ops)
            }
        })
        print("payments property: 40,000 operations in \(ContinuousClock.now - started)")
    }

    /// One run over a fresh in-memory database.
    final class Run {
        let store: SQLiteHubStore
        let world: PaymentWorld
        var customers: [Int64] = []
        var payments: [String] = []
        var keys: [(key: String, hash: String, order: String, card: String, answer: [UInt8], status: Int)] = []
        var events: [ProviderEvent] = []
        var orderCount = 0
        var eventCount = 0
        // The ledger as rebuilt here from its entries.
        var lastEntry: Int64 = 0
        var totals: [String: (debits: Int64, credits: Int64)] = [:]
        var refundsByPayment: [String: Int64] = [:]

        init() throws {
            var logger = Logger(label: "payments-property")
            logger.logLevel = .critical
            store = try SQLiteHubStore(path: ":memory:", logger: logger)
            world = PaymentWorld(store: store)
        }

        deinit { store.close() }

        func perform(_ ops: [Op]) async throws {
            customers = try await seedPaymentWorld(store, customers: 3)
            for (index, op) in ops.enumerated() {
                let refusedExpected = try await apply(op)
                try await check(op, index: index, refused: refusedExpected)
            }
        }

        func pick(_ n: Int) -> String? { payments.isEmpty ? nil : payments[n % payments.count] }

        func newOrder(_ method: PaymentMethod, customer: Int64, seed: Int) async throws -> OrderRecord {
            orderCount += 1
            let subtotal = Int64(1_000 + seed % 99_000)
            let fee = Int64(seed % 5_001)
            return try await world.order(
                "o-\(orderCount)", customer: customer, method: method, subtotal: subtotal, fee: fee,
                tax: (subtotal + fee) / 20, restaurant: "r-\(seed % 3)")
        }

        /// Applies `op`; returns true when it must have been refused (the ledger must not move).
        func apply(_ op: Op) async throws -> Bool {
            let op2 = Identity(userID: 999_999, role: .operator)
            switch op.roll {
            case 0..<20:  // authorize a new card order under a new key
                let customer = customers[op.a % customers.count]
                let order = try await newOrder(.card, customer: customer, seed: op.b)
                let card = [
                    TestPaymentProvider.succeeds, TestPaymentProvider.succeeds, TestPaymentProvider.declines,
                    TestPaymentProvider.requiresVerification,
                ][op.b % 4]
                let key = "k-\(keys.count)"
                let hash = AuthRandom.sha256Hex("POST /v1/orders/\(order.id)/payments\n" + card)
                let answer = try await authorize(key: key, hash: hash, order: order.id, card: card, customer: customer)
                #expect(answer.status == 201 && !answer.replayed)
                keys.append((key, hash, order.id, card, answer.body, answer.status))
                let p = try JSONDecoder().decode(PaymentView.self, from: Data(answer.body))
                payments.append(p.id)
                return false
            case 20..<30:  // retry an earlier request with its key: same body → stored answer; other body → 422
                guard !keys.isEmpty else { return true }
                let k = keys[op.a % keys.count]
                let customer = try #require(try await store.order(id: k.order)).customerID
                if op.roll < 28 {
                    let answer = try await authorize(
                        key: k.key, hash: k.hash, order: k.order, card: k.card, customer: customer)
                    #expect(answer.replayed && answer.body == k.answer && answer.status == k.status)
                } else {
                    do {
                        _ = try await authorize(
                            key: k.key, hash: k.hash + "x", order: k.order, card: TestPaymentProvider.declines,
                            customer: customer)
                        Issue.record("the same key with another body was not refused")
                    } catch let error as APIError {
                        #expect(error.status == .unprocessableContent)
                    }
                }
                return true
            case 30..<42:  // capture
                guard let id = pick(op.a) else { return true }
                let before = try await store.payment(id: id)
                do {
                    _ = try await world.service.capture(id, by: op2)
                    #expect(before?.state == .authorized)
                    return false
                } catch {
                    #expect(before?.state != .authorized, "\(error)")
                    return true
                }
            case 42..<56:  // refund, often more than what is left
                guard let id = pick(op.a), let before = try await store.payment(id: id) else { return true }
                let amount = Int64(1 + op.b % Int(max(before.amount, 1)))
                do {
                    _ = try await world.service.refund(id, amount: amount, reason: nil, by: op2)
                    #expect(before.state.isCaptured && amount <= before.refundable)
                    return false
                } catch {
                    #expect(!before.state.isCaptured || amount > before.refundable || before.state == .refunded)
                    return true
                }
            case 56..<62:  // void
                guard let id = pick(op.a), let before = try await store.payment(id: id) else { return true }
                do {
                    _ = try await world.service.void(id, actor: "system")
                    return before.state != .authorized
                } catch {
                    return true
                }
            case 62..<68:  // cancel the order (the reactor voids or refunds)
                guard let id = pick(op.a), let p = try await store.payment(id: id) else { return true }
                _ = try? await store.applyOrderChange(
                    OrderChange(action: .cancel, actor: "system", reason: "test"), to: p.orderID)
                try await world.reactor.drain()
                return false
            case 68..<76:  // deliver the order (the reactor captures)
                guard let id = pick(op.a), let p = try await store.payment(id: id),
                    let order = try await store.order(id: p.orderID)
                else { return true }
                if order.status == .placed, !(try await store.paymentAllowsConfirmation(order: order.id)) {
                    return true
                }
                for action in [OrderAction.accept, .assign, .pickup, .deliver] {
                    _ = try? await store.applyOrderChange(
                        OrderChange(
                            action: action, actor: "system", agent: action == .assign ? "a-\(1 + op.b % 2)" : nil,
                            prepMinutes: 5), to: order.id)
                }
                try await world.reactor.drain()
                return false
            case 76..<84:  // a provider webhook: new (any type, any sequence) or a replay
                if op.b % 5 == 0, !events.isEmpty {
                    let event = events[op.a % events.count]
                    let outcome = try await webhook(event)
                    #expect(outcome == .duplicate)
                    return true
                }
                guard let id = pick(op.a), let p = try await store.payment(id: id), let reference = p.providerRef else {
                    return true
                }
                eventCount += 1
                let event = ProviderEvent(
                    id: "evt_\(eventCount)", type: [.authorized, .failed, .processing][op.b % 3], payment: reference,
                    sequence: Int64(1 + op.b % 4))
                events.append(event)
                let outcome = try await webhook(event)
                let after = try #require(try await store.payment(id: id))
                if event.sequence <= p.providerSeq { #expect(outcome == .ignored && after == p) }
                if p.state != .requiresPayment { #expect(after.state == p.state) }
                return outcome != .applied || event.type != .authorized
            case 84..<94:  // cash on delivery, the agent collecting about the total
                let customer = customers[op.a % customers.count]
                let order = try await newOrder(.cod, customer: customer, seed: op.b)
                let cash = max(0, order.total + Int64(op.a % 2_001) - 1_000)
                try await world.move(
                    order.id, [.accept, .assign, .pickup, .deliver], agent: "a-\(1 + op.b % 2)", cash: cash)
                try await world.reactor.drain()
                let p = try #require(try await store.payments(order: order.id).first)
                #expect(p.captured == cash && p.state == .captured)
                payments.append(p.id)
                return false
            default:  // hand-in, sometimes more than held
                let agent = "a-\(1 + op.a % 2)"
                let held = try await store.agentCashHeld(agent: agent, currency: "INR")
                let amount = Int64(1 + op.b % 60_000)
                do {
                    _ = try await world.service.handIn(
                        agent: agent, amount: amount, currency: "INR", note: nil, by: op2)
                    #expect(amount <= held)
                    return false
                } catch {
                    #expect(amount > held)
                    return true
                }
            }
        }

        func authorize(key: String, hash: String, order: String, card: String, customer: Int64) async throws
            -> (status: Int, body: [UInt8], replayed: Bool)
        {
            let call = IdempotentRequest(
                store: store, scope: "user:\(customer)", key: key, requestHash: hash, ttl: 86_400_000)
            return try await call.execute { () async throws -> (HTTPResponse.Status, PaymentView) in
                do {
                    let p = try await self.world.service.authorize(
                        order: order, cardNumber: card, by: Identity(userID: customer, role: .customer))
                    return (.created, PaymentView(p))
                } catch let error as PaymentServiceError { throw APIError(error) }
            }
        }

        func webhook(_ event: ProviderEvent) async throws -> ProviderEventOutcome {
            let hook = world.webhook(event)
            return try await world.service.providerWebhook(
                provider: "test", signature: hook.signature, body: hook.body, now: wallClockMilliseconds() / 1000
            ).1
        }

        /// The invariants after one operation.
        func check(_ op: Op, index: Int, refused: Bool) async throws {
            let new = try await store.ledgerEntries(after: lastEntry, limit: 100_000)
            if refused { #expect(new.isEmpty, "step \(index) \(op) was refused but moved the ledger") }
            var perTransaction: [Int64: Int64] = [:]
            for e in new {
                let signed = e.side == .debit ? e.amount : -e.amount
                perTransaction[e.transactionID, default: 0] += signed
                let key = e.account + "|" + e.currency
                var t = totals[key] ?? (0, 0)
                if e.side == .debit { t.debits += e.amount } else { t.credits += e.amount }
                totals[key] = t
                if e.kind == "refund", e.side == .debit, let p = e.paymentID {
                    refundsByPayment[p, default: 0] += e.amount
                }
                lastEntry = e.id
            }
            #expect(perTransaction.values.allSatisfy { $0 == 0 }, "step \(index) \(op): unbalanced transaction")
            let balances = try await store.ledgerBalances(prefix: nil)
            #expect(balances.count == totals.count, "step \(index) \(op): accounts")
            var debits: Int64 = 0
            var credits: Int64 = 0
            for b in balances {
                let t = totals[b.account + "|" + b.currency]
                #expect(t?.debits == b.debits && t?.credits == b.credits, "step \(index) \(op): \(b.account) differs")
                debits += b.debits
                credits += b.credits
            }
            #expect(debits == credits, "step \(index) \(op): debits \(debits) credits \(credits)")
            let touched = Set(new.compactMap(\.paymentID)).union(pick(op.a).map { [$0] } ?? [])
            for id in touched {
                guard let p = try await store.payment(id: id) else { continue }
                #expect(p.refunded + p.refundPending <= p.captured, "step \(index) \(op): \(id) over-refunded")
                #expect(p.refunded == refundsByPayment[id, default: 0], "step \(index) \(op): \(id) refunds")
            }
        }
    }
}
