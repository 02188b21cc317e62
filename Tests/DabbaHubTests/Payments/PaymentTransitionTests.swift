import DabbaCore
import DabbaSQLite
import DabbaTestSupport
import Foundation
@testable import HubModel
@testable import HubSQLite
import Logging
import Testing

@testable import DabbaHub

/// Every payment transition with its exact ledger entries, and every invalid one refused with the ledger unchanged
/// (real SQLite).
@Suite struct PaymentTransitionTests {
    /// A fresh store in a temp directory with customers and agents; closed by the caller.
    static func world() async throws -> (PaymentWorld, [Int64], TestDirectory) {
        let directory = try TestDirectory("payments")
        var logger = Logger(label: "payments-test")
        logger.logLevel = .critical
        let store = try SQLiteHubStore(path: directory.path("hub.db"), logger: logger)
        let customers = try await seedPaymentWorld(store)
        return (PaymentWorld(store: store), customers, directory)
    }

    static let op = PaymentWorld.operatorCaller

    /// Runs `body`, expecting it to be refused, and checks that the ledger did not move.
    static func refused(
        _ w: PaymentWorld, _ what: String, sourceLocation: SourceLocation = #_sourceLocation,
        _ body: () async throws -> Void
    ) async throws {
        let before = try await w.entries().count
        let balances = try await w.store.ledgerBalances(prefix: nil)
        var threw = false
        do { try await body() } catch { threw = true }
        #expect(threw, "\(what) should be refused", sourceLocation: sourceLocation)
        #expect(try await w.entries().count == before, "\(what) moved the ledger", sourceLocation: sourceLocation)
        #expect(try await w.store.ledgerBalances(prefix: nil) == balances, sourceLocation: sourceLocation)
    }

    @Test func cardPaymentThroughEveryStateWithItsEntries() async throws {
        let (w, customers, directory) = try await Self.world()
        defer { w.store.close(); directory.remove() }
        let c = customers[0]
        let me = Identity(userID: c, role: .customer)
        _ = try await w.order("o-1", customer: c, method: .card)  // total 56,700 = 50,000 + 4,000 + 2,700

        // requires_payment → authorized
        let p = try await w.service.authorize(order: "o-1", cardNumber: TestPaymentProvider.succeeds, by: me)
        #expect(p.state == .authorized && p.amount == 56_700 && p.cardLast4 == "4242")
        #expect(
            try await w.postings(p.id) == [
                "authorize debit provider:test:authorized 56700", "authorize credit customer:\(c):authorized 56700",
            ])
        // A second live payment for the order is refused.
        try await Self.refused(w, "second authorization") {
            _ = try await w.service.authorize(order: "o-1", cardNumber: TestPaymentProvider.succeeds, by: me)
        }
        try await Self.refused(w, "refund before capture") {
            _ = try await w.service.refund(p.id, amount: 100, reason: nil, by: Self.op)
        }
        try await Self.refused(w, "capture by the customer") { _ = try await w.service.capture(p.id, by: me) }

        // authorized → captured
        let (captured, settled) = try await w.service.capture(p.id, by: Self.op)
        #expect(settled && captured.state == .captured && captured.captured == 56_700)
        #expect(
            try await w.postings(p.id).dropFirst(2) == [
                "capture debit customer:\(c):authorized 56700", "capture credit provider:test:authorized 56700",
                "capture debit provider:test:clearing 56700", "capture credit restaurant:r-1:payable 50000",
                "capture credit platform:revenue 4000", "capture credit platform:tax 2700",
            ])
        try await Self.refused(w, "second capture") { _ = try await w.service.capture(p.id, by: Self.op) }
        try await Self.refused(w, "void after capture") { _ = try await w.service.void(p.id, actor: "system") }
        try await Self.refused(w, "refund of 0") {
            _ = try await w.service.refund(p.id, amount: 0, reason: nil, by: Self.op)
        }
        try await Self.refused(w, "refund over the capture") {
            _ = try await w.service.refund(p.id, amount: 56_701, reason: nil, by: Self.op)
        }

        // captured → partially_refunded → refunded
        let (partial, refund, _) = try await w.service.refund(p.id, amount: 10_000, reason: "cold", by: Self.op)
        #expect(partial.state == .partiallyRefunded && partial.refunded == 10_000 && refund.state == .succeeded)
        try await Self.refused(w, "refund over the rest") {
            _ = try await w.service.refund(p.id, amount: 46_701, reason: nil, by: Self.op)
        }
        let (full, _, _) = try await w.service.refund(p.id, amount: 46_700, reason: nil, by: Self.op)
        #expect(full.state == .refunded && full.refunded == 56_700 && full.refundable == 0)
        #expect(
            try await w.postings(p.id).suffix(4) == [
                "refund debit platform:refunds 10000", "refund credit provider:test:clearing 10000",
                "refund debit platform:refunds 46700", "refund credit provider:test:clearing 46700",
            ])
        try await Self.refused(w, "refund of a refunded payment") {
            _ = try await w.service.refund(p.id, amount: 1, reason: nil, by: Self.op)
        }
        try await Self.refused(w, "capture of a refunded payment") {
            _ = try await w.service.capture(p.id, by: Self.op)
        }
        #expect(try LedgerAudit.problems(path: directory.path("hub.db")) == [])
    }

    @Test func declinedVoidedAndVerifiedPayments() async throws {
        let (w, customers, directory) = try await Self.world()
        defer { w.store.close(); directory.remove() }
        let me = Identity(userID: customers[0], role: .customer)
        let stranger = Identity(userID: customers[1], role: .customer)
        _ = try await w.order("o-decl", customer: customers[0], method: .card)
        _ = try await w.order("o-void", customer: customers[0], method: .card)
        _ = try await w.order("o-3ds", customer: customers[0], method: .card)
        _ = try await w.order("o-cod", customer: customers[0], method: .cod)

        // requires_payment → failed: no money moves; another card may be tried.
        let declined = try await w.service.authorize(order: "o-decl", cardNumber: TestPaymentProvider.declines, by: me)
        #expect(declined.state == .failed && declined.failure == "card_declined")
        #expect(try await w.postings(declined.id) == [])
        try await Self.refused(w, "capture of a failed payment") {
            _ = try await w.service.capture(declined.id, by: Self.op)
        }
        try await Self.refused(w, "void of a failed payment") {
            _ = try await w.service.void(declined.id, actor: "system")
        }
        let retried = try await w.service.authorize(order: "o-decl", cardNumber: TestPaymentProvider.succeeds, by: me)
        #expect(retried.state == .authorized)

        // Refusals before anything is written.
        try await Self.refused(w, "someone else's order") {
            _ = try await w.service.authorize(order: "o-void", cardNumber: TestPaymentProvider.succeeds, by: stranger)
        }
        try await Self.refused(w, "an invalid card number") {
            _ = try await w.service.authorize(order: "o-void", cardNumber: "4242424242424241", by: me)
        }
        try await Self.refused(w, "authorizing a cash order") {
            _ = try await w.service.authorize(order: "o-cod", cardNumber: TestPaymentProvider.succeeds, by: me)
        }

        // authorized → cancelled (void)
        let authorized = try await w.service.authorize(
            order: "o-void", cardNumber: TestPaymentProvider.succeeds, by: me)
        let voided = try await w.service.void(authorized.id, actor: "system")
        #expect(voided.state == .cancelled)
        #expect(
            try await w.postings(authorized.id).suffix(2) == [
                "void debit customer:\(customers[0]):authorized 56700", "void credit provider:test:authorized 56700",
            ])
        try await Self.refused(w, "capture after void") { _ = try await w.service.capture(authorized.id, by: Self.op) }
        try await Self.refused(w, "second void") { _ = try await w.service.void(authorized.id, actor: "system") }

        // requires_payment (await_verification) → authorized by the provider's webhook.
        let pending = try await w.service.authorize(
            order: "o-3ds", cardNumber: TestPaymentProvider.requiresVerification, by: me)
        #expect(pending.state == .requiresPayment && pending.nextAction == "await_verification")
        #expect(try await w.postings(pending.id) == [])
        try await Self.refused(w, "capture before verification") {
            _ = try await w.service.capture(pending.id, by: Self.op)
        }
        let hook = w.webhook(ProviderEvent(id: "evt_1", type: .authorized, payment: pending.providerRef!, sequence: 1))
        let (_, outcome) = try await w.service.providerWebhook(
            provider: "test", signature: hook.signature, body: hook.body, now: wallClockMilliseconds() / 1000)
        #expect(outcome == .applied)
        let verified = try #require(try await w.store.payment(id: pending.id))
        #expect(verified.state == .authorized && verified.nextAction == nil)
        #expect(try await w.postings(pending.id).count == 2)
        #expect(try LedgerAudit.problems(path: directory.path("hub.db")) == [])
    }

    @Test func cashOnDeliveryAndHandInsWithTheirEntries() async throws {
        let (w, customers, directory) = try await Self.world()
        defer { w.store.close(); directory.remove() }
        let c = customers[0]
        _ = try await w.order("o-cod", customer: c, method: .cod)
        try await w.move("o-cod", [.accept, .assign, .pickup, .deliver], agent: "a-1", cash: 56_000)
        try await w.reactor.drain()
        let payment = try #require(try await w.store.payments(order: "o-cod").first)
        #expect(payment.method == .cod && payment.state == .captured && payment.captured == 56_000)
        #expect(
            try await w.postings(payment.id) == [
                "cod_collect debit customer:\(c) 56700", "cod_collect credit restaurant:r-1:payable 50000",
                "cod_collect credit platform:revenue 4000", "cod_collect credit platform:tax 2700",
                "cod_collect debit agent:a-1:cash 56000", "cod_collect credit customer:\(c) 56000",
            ])
        #expect(try await w.store.agentCashHeld(agent: "a-1", currency: "INR") == 56_000)
        // Draining again does nothing more (the cursor moved with the reaction).
        try await w.reactor.drain()
        #expect(try await w.store.payments(order: "o-cod").count == 1)

        try await Self.refused(w, "hand-in over the cash held") {
            _ = try await w.service.handIn(agent: "a-1", amount: 56_001, currency: "INR", note: nil, by: Self.op)
        }
        try await Self.refused(w, "hand-in by a customer") {
            _ = try await w.service.handIn(
                agent: "a-1", amount: 1, currency: "INR", note: nil, by: Identity(userID: c, role: .customer))
        }
        try await Self.refused(w, "hand-in for an unknown agent") {
            _ = try await w.service.handIn(agent: "a-9", amount: 1, currency: "INR", note: nil, by: Self.op)
        }
        let handIn = try await w.service.handIn(
            agent: "a-1", amount: 50_000, currency: "INR", note: "evening", by: Self.op)
        let last = try await w.entries().suffix(2).map { "\($0.kind) \($0.side.rawValue) \($0.account) \($0.amount)" }
        #expect(last == ["cash_hand_in debit platform:cash 50000", "cash_hand_in credit agent:a-1:cash 50000"])
        #expect(try await w.store.agentCashHeld(agent: "a-1", currency: "INR") == 6_000)
        let day = SQLiteHubStore.day(handIn.time)
        let rows = try await w.store.cashReconciliation(day: day, agent: nil)
        #expect(rows.count == 1)
        let row = try #require(rows.first)
        #expect(row.agent == "a-1" && row.orders == 1 && row.expected == 56_700 && row.collected == 56_000)
        #expect(row.handedIn == 50_000 && row.heldNow == 6_000 && row.collectionDifference == -700 && row.flagged)

        // The cash limit the dispatcher asks about.
        let limited = PaymentWorld(store: w.store, cashLimit: 60_000)
        #expect(try await limited.service.mayOfferCashOrder(agent: "a-1", amount: 54_000, currency: "INR"))
        #expect(!(try await limited.service.mayOfferCashOrder(agent: "a-1", amount: 54_001, currency: "INR")))
        #expect(try await limited.service.mayOfferCashOrder(agent: "a-2", amount: 60_000, currency: "INR"))
        #expect(try LedgerAudit.problems(path: directory.path("hub.db")) == [])
    }

    @Test func orderTransitionsCaptureVoidAndRefundThroughTheReactor() async throws {
        let (w, customers, directory) = try await Self.world()
        defer { w.store.close(); directory.remove() }
        let me = Identity(userID: customers[0], role: .customer)
        for id in ["o-deliver", "o-cancel", "o-reject", "o-fail", "o-manual", "o-pending"] {
            _ = try await w.order(id, customer: customers[0], method: .card)
        }
        var payments: [String: String] = [:]
        for id in ["o-deliver", "o-cancel", "o-reject", "o-fail", "o-manual"] {
            payments[id] = try await w.service.authorize(order: id, cardNumber: TestPaymentProvider.succeeds, by: me).id
        }
        payments["o-pending"] =
            try await w.service.authorize(
                order: "o-pending", cardNumber: TestPaymentProvider.requiresVerification, by: me
            ).id
        _ = try await w.service.capture(payments["o-manual"]!, by: Self.op)
        _ = try await w.service.refund(payments["o-manual"]!, amount: 700, reason: nil, by: Self.op)

        try await w.move("o-deliver", [.accept, .assign, .pickup, .deliver])
        try await w.move("o-cancel", [.accept, .cancel])
        try await w.move("o-reject", [.reject])
        try await w.move("o-fail", [.accept, .assign, .pickup, .fail])
        try await w.move("o-manual", [.accept, .cancel])
        try await w.move("o-pending", [.reject])
        try await w.reactor.drain()

        func state(_ order: String) async throws -> PaymentState? {
            try await w.store.payment(id: payments[order]!)?.state
        }
        #expect(try await state("o-deliver") == .captured)
        #expect(try await state("o-cancel") == .cancelled)
        #expect(try await state("o-reject") == .cancelled)
        #expect(try await state("o-fail") == .cancelled)
        #expect(try await state("o-manual") == .refunded)
        #expect(try await state("o-pending") == .cancelled)
        #expect(try await w.postings(payments["o-pending"]!) == [])
        #expect(
            try await w.postings(payments["o-manual"]!).suffix(2) == [
                "refund debit platform:refunds 56000", "refund credit provider:test:clearing 56000",
            ])
        let count = try await w.entries().count
        try await w.reactor.drain()
        #expect(try await w.entries().count == count)
        #expect(try LedgerAudit.problems(path: directory.path("hub.db")) == [])
    }

    @Test func aCardOrderCannotBeConfirmedBeforeItsPaymentIsAuthorized() async throws {
        let (w, customers, directory) = try await Self.world()
        defer { w.store.close(); directory.remove() }
        var logger = Logger(label: "t")
        logger.logLevel = .critical
        let orders = OrderService(
            store: w.store, notifier: OrderNotifier(bus: OrderEventBus(), mqtt: nil, logger: logger))
        let me = Identity(userID: customers[0], role: .customer)
        _ = try await w.order("o-card", customer: customers[0], method: .card)
        _ = try await w.order("o-cod", customer: customers[0], method: .cod)
        await #expect(throws: OrderServiceError.self) {
            _ = try await orders.perform(.accept, on: "o-card", by: Self.op, prepMinutes: 10)
        }
        _ = try await w.service.authorize(order: "o-card", cardNumber: TestPaymentProvider.requiresVerification, by: me)
        await #expect(throws: OrderServiceError.self) {
            _ = try await orders.perform(.accept, on: "o-card", by: Self.op, prepMinutes: 10)
        }
        #expect(try await orders.perform(.accept, on: "o-cod", by: Self.op, prepMinutes: 10).status == .confirmed)
        let p = try #require(try await w.store.payments(order: "o-card").first)
        let hook = w.webhook(ProviderEvent(id: "evt_ok", type: .authorized, payment: p.providerRef!, sequence: 1))
        _ = try await w.service.providerWebhook(
            provider: "test", signature: hook.signature, body: hook.body, now: wallClockMilliseconds() / 1000)
        #expect(try await orders.perform(.accept, on: "o-card", by: Self.op, prepMinutes: 10).status == .confirmed)
    }

    @Test func ledgerEntriesAreAppendOnly() async throws {
        let (w, customers, directory) = try await Self.world()
        defer { w.store.close(); directory.remove() }
        _ = try await w.order("o-1", customer: customers[0], method: .card)
        _ = try await w.service.authorize(
            order: "o-1", cardNumber: TestPaymentProvider.succeeds, by: Identity(userID: customers[0], role: .customer))
        let db = try DabbaSQLiteConnectionForTests.open(directory.path("hub.db"))
        #expect(throws: (any Error).self) { try db.execute("UPDATE ledger_entries SET amount = 1") }
        #expect(throws: (any Error).self) { try db.execute("DELETE FROM ledger_entries") }
        #expect(throws: (any Error).self) { try db.execute("DELETE FROM ledger_transactions") }
    }
}

enum DabbaSQLiteConnectionForTests {
    static func open(_ path: String) throws -> SQLiteConnection {
        let db = try SQLiteConnection(path: path)
        try db.execute("PRAGMA busy_timeout = 5000")
        return db
    }
}
