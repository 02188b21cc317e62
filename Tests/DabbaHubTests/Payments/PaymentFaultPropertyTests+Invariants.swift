import DabbaCore
import DabbaTestSupport
import Foundation
@testable import HubModel
@testable import HubSQLite
import Logging
import Synchronization
import Testing

@testable import DabbaHub

/// The invariants ``FaultRun`` checks after every step, every 25 steps and at the end.
extension FaultRun {
    /// The provider never acted twice on a key, never captured a hold twice, never refunded beyond a capture.
    func checkProvider(step: Int) async throws {
        let books = fake.snapshot
        if !books.violations.isEmpty { fail("provider: \(books.violations)", step: step) }
        var keys = Set<String>()
        for effect in books.effects where !keys.insert(effect.key).inserted {
            fail("provider acted twice on \(effect.key)", step: step)
        }
        for hold in books.holds.values where hold.refunded > hold.captured {
            fail("provider refunded \(hold.refunded) of \(hold.captured) on \(hold.reference)", step: step)
        }
    }

    /// Debits equal credits in every currency.
    func checkLedger(step: Int) async throws {
        var totals: [String: (Int64, Int64)] = [:]
        for b in try await store.ledgerBalances(prefix: nil) {
            totals[b.currency, default: (0, 0)].0 += b.debits
            totals[b.currency, default: (0, 0)].1 += b.credits
        }
        for (currency, t) in totals where t.0 != t.1 {
            fail("ledger in \(currency): debits \(t.0) credits \(t.1)", step: step)
        }
    }

    /// Our books against the provider's, payment by payment. Mid-run an operation may still be reconciling, so the
    /// provider may be ahead of us only where one is pending or dead; at the end they are equal.
    func checkBooksAgree(final: Bool, step: Int) async throws {
        let holds = fake.snapshot.holds
        let payments = try await store.readPayments(" WHERE method = 'card'", [])
        let open = Set(try await store.readOperations(" WHERE state IN ('pending', 'dead')", []).map(\.paymentID))
        var referenced = Set<String>()
        for p in payments {
            if final && open.contains(p.id) { fail("\(p.id) still has operations at the end", step: step) }
            if final && p.state == .requiresPayment && p.nextAction == nil {
                fail("\(p.id) still waits for its authorization", step: step)
            }
            guard let reference = p.providerRef else { continue }
            referenced.insert(reference)
            let hold = holds[reference]
            let this =
                "\(p.id) \(p.state.rawValue) captured \(p.captured) refunded \(p.refunded) "
                + "pending \(p.refundPending), provider \(String(describing: hold))"
            if p.state.isCaptured {
                let refunded = hold?.refunded ?? 0
                if hold?.captured != p.captured { fail("capture differs: \(this)", step: step) }
                if refunded < p.refunded || refunded > p.refunded + p.refundPending {
                    fail("refunds differ: \(this)", step: step)
                }
                if final && (refunded != p.refunded || p.refundPending != 0) {
                    fail("refunds unsettled: \(this)", step: step)
                }
            } else if let hold, hold.captured > 0, final || !open.contains(p.id) {
                fail("captured at the provider only: \(this)", step: step)
            }
            guard final else { continue }
            let expected: [FaultyPaymentProvider.Hold.State]
            switch p.state {
            case .authorized: expected = [.authorized]
            case .cancelled, .failed: expected = [.voided]
            case .requiresPayment: expected = [.pendingVerification]
            default: expected = [.captured]
            }
            if let hold, !expected.contains(hold.state) { fail("the provider disagrees: \(this)", step: step) }
        }
        guard final else { return }
        for hold in holds.values where !referenced.contains(hold.reference) && hold.state != .voided {
            fail("the provider holds \(hold.reference) (\(hold.state.rawValue)) for no payment of ours", step: step)
        }
    }

    /// A reactor pass attempts every due operation of the payments that are not failing, whatever the failing ones
    /// do.
    func checkProgress(step: Int) async throws {
        let failing = poisoned.ids
        let due = try await store.dueOperations(now: clock.time, limit: 10_000).filter {
            !failing.contains($0.paymentID)
        }
        try await world(step).service.runDueOperations(limit: 10_000)
        for op in due {
            guard let after = try await store.operation(key: op.key) else { continue }
            if after.state == .pending && after.attempts == op.attempts && after.leaseOwner == nil {
                fail("\(op.key) was due and not attempted", step: step)
            }
        }
    }

    /// Heals the provider, lets the reactors finish, has an operator retry the dead letters, then checks that every
    /// order ended in a consistent money state.
    func finish(step: Int) async throws {
        installFaults(rate: 0)
        try await settle(step: step, allowDead: true)
        let dead = try await store.deadLetters(limit: 1_000)
        let failing = poisoned.ids
        for letter in dead where !failing.contains(letter.operation.paymentID) {
            fail("dead letter of a healthy payment: \(letter.operation)", step: step)
        }
        poisoned.clear()
        model.withLock { $0.deadLetters += dead.count }
        for letter in dead {
            _ = try await world(0).service.retryDeadLetter(key: letter.operation.key)
        }
        try await settle(step: step, allowDead: false)
        try await checkProvider(step: step)
        try await checkLedger(step: step)
        try await checkBooksAgree(final: true, step: step)
        for (id, method) in model.withLock({ $0.orders }) {
            guard let order = try await store.order(id: id) else { continue }
            let payments = try await store.payments(order: id)
            let live = payments.filter { $0.state != .failed && $0.state != .cancelled }
            let what =
                "\(id) \(order.status.rawValue): \(payments.map { "\($0.state.rawValue) \($0.captured)/\($0.refunded)" })"
            if live.count > 1 { fail("two live payments: \(what)", step: step) }
            switch (method, order.status) {
            case (.cod, .delivered):
                if live.count != 1 || live.first?.state != .captured { fail("cash not recorded: \(what)", step: step) }
            case (.card, .delivered):
                if live.first.map({ !$0.state.isCaptured }) ?? true { fail("not captured: \(what)", step: step) }
            case (.card, .cancelled), (.card, .rejected), (.card, .failed):
                for p in payments where p.state == .authorized || (p.state.isCaptured && p.refunded != p.captured) {
                    fail("money kept for an order that ended: \(what)", step: step)
                }
            default: break
            }
            for p in payments {
                for refund in try await store.refunds(payment: p.id) where refund.state == .pending {
                    fail("refund \(refund.id) still pending: \(what)", step: step)
                }
            }
        }
        let problems = try LedgerAudit.problems(path: directory.path("hub.db"))
        if !problems.isEmpty { fail("ledger audit: \(problems.prefix(5))", step: step) }
    }

    /// Advances the clock and drains both reactors until no operation is pending (dead ones stay when allowed).
    func settle(step: Int, allowDead: Bool) async throws {
        for _ in 0..<60 {
            clock.advance(10_000)
            for n in 0..<2 { try await world(n).reactor.drain() }
            let pending = try await store.dueOperations(now: Int64.max / 2, limit: 10_000)
            let dead = try await store.deadLetterCount()
            if pending.isEmpty && (allowDead || dead == 0) { return }
        }
        let left = try await store.dueOperations(now: Int64.max / 2, limit: 20).map(\.key)
        fail("operations never settled: \(left), dead \(try await store.deadLetterCount())", step: step)
    }
}
