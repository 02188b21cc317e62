import DabbaCore
import DabbaTestSupport
import Foundation
@testable import HubModel
@testable import HubSQLite
import Logging
import Synchronization
import Testing

@testable import DabbaHub

extension ManualClock {
    /// Now, on the wall clock, for a test to move by hand: backoffs, leases and "long enough to have landed" run out
    /// when the test says.
    static func wall() -> ManualClock { ManualClock(wallClockMilliseconds()) }
    var time: Int64 { now() }
    func advance(_ milliseconds: Int64) { set(now() + milliseconds) }
}

/// True the first time for each label (a fault that strikes once, whatever the key).
final class Once: Sendable {
    private let seen = Mutex<Set<String>>([])
    func first(_ label: String) -> Bool { seen.withLock { $0.insert(label).inserted } }
}

/// The provider misbehaving (issue 14, payments): each defect the issue reports, reproduced with
/// ``FaultyPaymentProvider`` against the real SQLite store, the service and the reactor.
@Suite struct PaymentFaultTests {
    static let op = PaymentWorld.operatorCaller

    /// Backoff 1 s → 4 s, 4 attempts; a provider deadline that a loaded machine does not reach by accident (the
    /// faults time out by themselves).
    static let settings: PaymentSettings = {
        var s = PaymentSettings()
        s.providerTimeout = .seconds(10)
        s.retryBase = .seconds(1)
        s.retryMax = .seconds(4)
        s.maxAttempts = 4
        return s
    }()

    struct World {
        let w: PaymentWorld
        let fake: FaultyPaymentProvider
        let clock: ManualClock
        let customers: [Int64]
        let directory: TestDirectory
        let metrics: HubMetrics
        var me: Identity { Identity(userID: customers[0], role: .customer) }

        /// Another service and reactor over the same store and provider (another hub, or this one restarted).
        func restarted() -> PaymentWorld {
            PaymentWorld(store: w.store, card: fake, settings: PaymentFaultTests.settings, clock: clock.now)
        }

        /// Advances the clock by `step` (more than the deadline and the longest backoff) and drains, `times` times.
        func settle(step: Int64 = 15_000, times: Int = 1) async throws {
            for _ in 0..<times {
                clock.advance(step)
                try await w.reactor.drain()
            }
        }

        func close() {
            w.store.close()
            directory.remove()
        }
    }

    static func world() async throws -> World {
        let directory = try TestDirectory("payment-faults")
        var logger = Logger(label: "payment-faults")
        logger.logLevel = .critical
        let store = try SQLiteHubStore(path: directory.path("hub.db"), logger: logger)
        let customers = try await seedPaymentWorld(store)
        let fake = FaultyPaymentProvider()
        let clock = ManualClock.wall()
        let metrics = HubMetrics()
        let w = PaymentWorld(store: store, card: fake, settings: settings, metrics: metrics, clock: clock.now)
        return World(w: w, fake: fake, clock: clock, customers: customers, directory: directory, metrics: metrics)
    }

    /// The reference the provider gave a payment.
    static func reference(_ w: World, _ payment: String) async throws -> String {
        try #require(try await w.w.store.payment(id: payment)?.providerRef)
    }

    /// What the provider holds for `reference`.
    static func hold(_ w: World, _ reference: String) -> FaultyPaymentProvider.Hold? {
        w.fake.snapshot.holds[reference]
    }

    /// No key has two effects, nothing was captured twice or refunded beyond its capture at the provider.
    static func providerBooksSound(_ w: World, sourceLocation: SourceLocation = #_sourceLocation) {
        let books = w.fake.snapshot
        #expect(books.violations == [], sourceLocation: sourceLocation)
        let byKey = Dictionary(grouping: books.effects, by: \.key)
        #expect(byKey.values.allSatisfy { $0.count == 1 }, "\(byKey.filter { $0.value.count > 1 })")
        let captures = Dictionary(grouping: books.effects.filter { $0.call == .capture }, by: \.reference)
        #expect(captures.values.allSatisfy { $0.count == 1 }, sourceLocation: sourceLocation)
    }

    @Test func theRefundAfterACancellationIsPaidOnceThoughItsAnswerIsLost() async throws {
        let world = try await Self.world()
        defer { world.close() }
        let w = world.w
        _ = try await w.order("o-1", customer: world.customers[0], method: .card)
        let p = try await w.service.authorize(order: "o-1", cardNumber: TestPaymentProvider.succeeds, by: world.me)
        _ = try await w.service.capture(p.id, by: Self.op)
        // The provider pays the refund back but its answer is lost (as if the hub died before the commit).
        world.fake.setPlan { call, _, n in call == .refund && n == 0 ? .timeoutAfterActing : nil }
        try await w.move("o-1", [.accept, .cancel])
        try await w.reactor.drain()

        let cancelled = try #require(try await w.store.orderEvents(order: "o-1").last { $0.status == .cancelled })
        let key = "refund-\(p.id)-\(cancelled.id)"
        let pending = try #require(try await w.store.operation(key: key))
        #expect(pending.state == .pending && pending.outcomeUnknown && pending.kind == .refund)
        let refund = try #require(try await w.store.refunds(payment: p.id).first)
        #expect(refund.state == .pending, "an unknown outcome is not a failure")
        #expect(try await w.store.payment(id: p.id)?.refundPending == p.amount)
        #expect(world.fake.effects(key: key).count == 1)

        // Another hub (or this one restarted) drains before the retry is due: nothing is paid again.
        try await world.restarted().reactor.drain()
        try await w.reactor.drain()
        #expect(world.fake.effects(key: key).count == 1)
        // Due: the provider is asked first, says it is done, and the refund is recorded without a second call.
        try await world.settle()
        let settled = try #require(try await w.store.payment(id: p.id))
        #expect(settled.state == .refunded && settled.refunded == p.amount && settled.refundPending == 0)
        #expect(try await w.store.refunds(payment: p.id).map(\.state) == [.succeeded])
        #expect(world.fake.snapshot.calls["refund \(key)"] == 1, "reconciled by a status query, not called again")
        let reference = try await Self.reference(world, p.id)
        #expect(Self.hold(world, reference)?.refunded == p.amount)
        Self.providerBooksSound(world)
        #expect(try LedgerAudit.problems(path: world.directory.path("hub.db")) == [])
    }

    @Test func oneFailingPaymentIsRetriedWithItsOwnBackoffThenADeadLetterWhileOthersGoOn() async throws {
        let world = try await Self.world()
        defer { world.close() }
        let w = world.w
        var ids: [String: String] = [:]
        for order in ["o-a", "o-b", "o-late"] {
            _ = try await w.order(order, customer: world.customers[0], method: .card)
            ids[order] = try await w.service.authorize(
                order: order, cardNumber: TestPaymentProvider.succeeds, by: world.me
            ).id
        }
        _ = try await w.order("o-cash", customer: world.customers[1], method: .cod)
        let failing = "capture-\(ids["o-a"]!)"
        world.fake.setPlan { _, key, _ in key == failing ? .serverError : nil }
        try await w.move("o-a", [.accept, .assign, .pickup, .deliver])
        try await w.move("o-b", [.accept, .assign, .pickup, .deliver])
        try await w.move("o-cash", [.accept, .assign, .pickup, .deliver], cash: 60_000)
        try await w.reactor.drain()

        // The others went through in the same pass: the card captured, the cash posted (the cash-limit gate sees it).
        #expect(try await w.store.payment(id: ids["o-b"]!)?.state == .captured)
        #expect(try await w.store.agentCashHeld(agent: "a-1", currency: "INR") == 60_000)
        var op = try #require(try await w.store.operation(key: failing))
        #expect(op.state == .pending && op.attempts == 1 && !op.outcomeUnknown, "a 5xx says nothing was done")
        #expect(op.nextAttempt > world.clock.time, "backs off")
        // Not due yet: draining again does not call the provider again.
        try await w.reactor.drain()
        #expect(world.fake.snapshot.calls["capture \(failing)"] == 1)

        // While it keeps failing, an order delivered later is captured at once.
        try await w.move("o-late", [.accept, .assign, .pickup, .deliver])
        try await world.settle()
        #expect(try await w.store.payment(id: ids["o-late"]!)?.state == .captured)
        try await world.settle(times: 4)
        op = try #require(try await w.store.operation(key: failing))
        #expect(op.state == .dead && op.attempts == Self.settings.maxAttempts, "\(op)")
        #expect(world.fake.snapshot.calls["capture \(failing)"] == Self.settings.maxAttempts)
        // Listed, alerted, counted.
        let dead = try await w.service.deadLetters()
        #expect(dead.map(\.operation.key) == [failing] && dead.first?.orderID == "o-a")
        let alerts = try await w.store.alerts(limit: 10)
        #expect(alerts.contains { $0.kind == "payment_dead_letter" && $0.order == "o-a" }, "\(alerts)")
        let metrics = world.metrics.render()
        #expect(metricValue(metrics, "dabba_payment_dead_letters_total") == 1, "\(metrics)")
        #expect(metricValue(metrics, "dabba_payment_dead_letters") == 1, "\(metrics)")
        // The reactor leaves a dead letter alone (and does not wake for it); an operator retries it once the provider
        // is back.
        #expect(try await w.store.nextOperationDue() == nil)
        try await world.settle(times: 2)
        #expect(world.fake.snapshot.calls["capture \(failing)"] == Self.settings.maxAttempts)
        world.fake.heal()
        let retried = try await w.service.retryDeadLetter(key: failing)
        #expect(retried.state == .succeeded)
        #expect(try await w.store.payment(id: ids["o-a"]!)?.state == .captured)
        #expect(try await w.service.deadLetters().isEmpty)
        try await w.reactor.drain()
        #expect(metricValue(world.metrics.render(), "dabba_payment_dead_letters") == 0)
        Self.providerBooksSound(world)
        #expect(try LedgerAudit.problems(path: world.directory.path("hub.db")) == [])
    }

    @Test func aTimeoutDuringAuthorizeLeavesTheOrderPayableAndTheHoldIsVoided() async throws {
        let world = try await Self.world()
        defer { world.close() }
        let w = world.w
        _ = try await w.order("o-1", customer: world.customers[0], method: .card)
        // The provider places the hold, the answer is lost, and the status query fails too (once).
        let once = Once()
        world.fake.setPlan { call, key, _ in
            if call == .authorize, once.first("authorize") { return .timeoutAfterActing }
            if call == .status, key.hasPrefix("authorize-"), once.first("status") { return .serverError }
            return nil
        }
        do {
            _ = try await w.service.authorize(order: "o-1", cardNumber: TestPaymentProvider.succeeds, by: world.me)
            Issue.record("a lost authorization answered")
        } catch {
            guard case .unavailable(let message) = error else { throw error }
            #expect(message.contains("pay again"))
        }
        let first = try #require(try await w.store.payments(order: "o-1").first)
        #expect(first.state == .failed && first.failure == "provider_unavailable")
        #expect(world.fake.snapshot.holds.values.map(\.state) == [.authorized], "the provider did place a hold")
        #expect(!(try await w.store.paymentAllowsConfirmation(order: "o-1")))

        // Payable again at once: no collision with a payment left waiting.
        let second = try await w.service.authorize(order: "o-1", cardNumber: TestPaymentProvider.succeeds, by: world.me)
        #expect(second.state == .authorized && second.id != first.id)
        #expect(try await w.store.paymentAllowsConfirmation(order: "o-1"))

        // The reactor finds the first hold (by the key) and voids it.
        try await world.settle(times: 2)
        let holds = world.fake.snapshot.holds.values.sorted { $0.reference < $1.reference }
        #expect(holds.map(\.state) == [.voided, .authorized], "\(holds)")
        let abandoned = try #require(try await w.store.payment(id: first.id))
        #expect(abandoned.state == .failed && abandoned.providerRef == holds.first?.reference)
        #expect(try await w.postings(first.id) == [], "nothing was ever held on our books")
        #expect(try await w.store.operations(payment: first.id).map(\.state) == [.succeeded, .succeeded])
        Self.providerBooksSound(world)
        #expect(try LedgerAudit.problems(path: world.directory.path("hub.db")) == [])
    }

    @Test func aProviderThatSaysItDidNothingFailsThePaymentAtOnce() async throws {
        let world = try await Self.world()
        defer { world.close() }
        let w = world.w
        _ = try await w.order("o-1", customer: world.customers[0], method: .card)
        let once = Once()
        world.fake.setPlan { call, _, _ in call == .authorize && once.first("authorize") ? .serverError : nil }
        await #expect(throws: PaymentServiceError.self) {
            _ = try await w.service.authorize(order: "o-1", cardNumber: TestPaymentProvider.succeeds, by: world.me)
        }
        let first = try #require(try await w.store.payments(order: "o-1").first)
        // A 5xx and "no such call" from the status query: nothing to reconcile later.
        #expect(try await w.store.operations(payment: first.id).map(\.state) == [.succeeded])
        #expect(world.fake.snapshot.holds.isEmpty)
        let second = try await w.service.authorize(order: "o-1", cardNumber: TestPaymentProvider.succeeds, by: world.me)
        #expect(second.state == .authorized)
        // A timeout whose status query finds the authorization answers with it.
        _ = try await w.order("o-2", customer: world.customers[0], method: .card)
        world.fake.setPlan { call, _, n in call == .authorize && n == 0 ? .timeoutAfterActing : nil }
        let found = try await w.service.authorize(order: "o-2", cardNumber: TestPaymentProvider.succeeds, by: world.me)
        #expect(found.state == .authorized && found.providerRef != nil)
        Self.providerBooksSound(world)
    }

    @Test func anOperatorsRefundWithoutAnAnswerStaysPendingAndIsPaidOnce() async throws {
        let world = try await Self.world()
        defer { world.close() }
        let w = world.w
        _ = try await w.order("o-1", customer: world.customers[0], method: .card)
        let p = try await w.service.authorize(order: "o-1", cardNumber: TestPaymentProvider.succeeds, by: world.me)
        _ = try await w.service.capture(p.id, by: Self.op)
        world.fake.setPlan { call, _, n in call == .refund && n == 0 ? .timeoutBeforeActing : nil }
        let (after, refund, settled) = try await w.service.refund(p.id, amount: 10_000, reason: "cold", by: Self.op)
        #expect(!settled && refund.state == .pending && after.refundPending == 10_000)
        // Not failed, so the operator cannot pay it again by mistake: the amount stays reserved.
        await #expect(throws: PaymentServiceError.self) {
            _ = try await w.service.refund(p.id, amount: p.amount - 9_999, reason: nil, by: Self.op)
        }
        // The provider never got it: the reactor asks, then makes the same call (same key) once.
        try await world.settle()
        let key = "refund-\(p.id)-\(refund.id)"
        #expect(try await w.store.refunds(payment: p.id).first?.state == .succeeded)
        #expect(try await w.store.payment(id: p.id)?.refunded == 10_000)
        #expect(world.fake.effects(key: key).count == 1 && world.fake.snapshot.calls["refund \(key)"] == 2)
        Self.providerBooksSound(world)
        #expect(try LedgerAudit.problems(path: world.directory.path("hub.db")) == [])
    }

    @Test func aHubThatDiesBetweenTheCallAndItsCommitIsFinishedByTheNextWithoutASecondCapture() async throws {
        let world = try await Self.world()
        defer { world.close() }
        let w = world.w
        _ = try await w.order("o-1", customer: world.customers[0], method: .card)
        let p = try await w.service.authorize(order: "o-1", cardNumber: TestPaymentProvider.succeeds, by: world.me)
        // The capture is recorded by the reactor's pass; a hub claims it, calls the provider, and dies.
        world.fake.setPlan { call, _, _ in call == .capture ? .timeoutBeforeActing : nil }
        try await w.move("o-1", [.accept, .assign, .pickup, .deliver])
        try await w.reactor.drain()
        world.fake.heal()
        world.clock.advance(5_000)  // due again
        let key = "capture-\(p.id)"
        let now = world.clock.time
        let claimed = try #require(
            try await w.store.claimOperation(key: key, owner: "dead-hub", now: now, until: now + 60_000))
        try await world.fake.capture(
            reference: try await Self.reference(world, p.id), amount: p.amount, currency: "INR", idempotencyKey: key)
        #expect(claimed.outcomeUnknown, "the first attempt timed out")
        // Its lease holds the others off; once it runs out, the next hub asks the provider and records the capture.
        try await world.restarted().reactor.drain()
        #expect(try await w.store.payment(id: p.id)?.state == .authorized)
        world.clock.advance(61_000)
        try await world.restarted().reactor.drain()
        #expect(try await w.store.payment(id: p.id)?.state == .captured)
        #expect(world.fake.effects(key: key).count == 1)
        Self.providerBooksSound(world)
        #expect(try LedgerAudit.problems(path: world.directory.path("hub.db")) == [])
    }

    @Test func aVoidThatFindsItsPaymentCapturedFirstRefundsTheRest() async throws {
        let world = try await Self.world()
        defer { world.close() }
        let w = world.w
        _ = try await w.order("o-1", customer: world.customers[0], method: .card)
        let p = try await w.service.authorize(order: "o-1", cardNumber: TestPaymentProvider.succeeds, by: world.me)
        // The operator's capture goes through at the provider, but the answer only comes by the status query later.
        world.fake.setPlan { call, _, n in call == .capture && n == 0 ? .unknownOutcome : nil }
        let (captured, settled) = try await w.service.capture(p.id, by: Self.op)
        #expect(!settled && captured.state == .authorized)
        // Meanwhile the order is cancelled: the void waits behind the capture.
        try await w.move("o-1", [.accept, .cancel])
        try await world.settle(times: 6)
        let after = try #require(try await w.store.payment(id: p.id))
        #expect(after.state == .refunded && after.captured == p.amount && after.refunded == p.amount, "\(after)")
        let kinds = try await w.store.operations(payment: p.id).map { "\($0.kind.rawValue) \($0.state.rawValue)" }
        #expect(kinds == ["authorize succeeded", "capture succeeded", "void succeeded", "refund succeeded"])
        let effects = world.fake.snapshot.effects.map(\.call)
        #expect(effects == [.authorize, .capture, .refund], "never voided at the provider: \(effects)")
        Self.providerBooksSound(world)
        #expect(try LedgerAudit.problems(path: world.directory.path("hub.db")) == [])
    }

    @Test func anEventWhoseReactionIsRefusedIsConsumedWithAnAlertAndTheRestGoOn() async throws {
        let world = try await Self.world()
        defer { world.close() }
        let w = world.w
        _ = try await w.order("o-bad", customer: world.customers[0], method: .cod)
        _ = try await w.order("o-good", customer: world.customers[0], method: .cod)
        // Stored before issue 13 bounded it: a cash amount no posting accepts.
        try await w.move("o-bad", [.accept, .assign, .pickup, .deliver], cash: Money.maxAmount + 1)
        try await w.move("o-good", [.accept, .assign, .pickup, .deliver], cash: 1_000)
        #expect(try await w.reactor.drain() > 0)
        #expect(try await w.store.payments(order: "o-bad").isEmpty)
        #expect(try await w.store.payments(order: "o-good").first?.state == .captured)
        let alerts = try await w.store.alerts(limit: 10)
        #expect(alerts.contains { $0.kind == "payment_reaction_failed" && $0.order == "o-bad" }, "\(alerts)")
        #expect(try await w.reactor.drain() == 0)
        #expect(try LedgerAudit.problems(path: world.directory.path("hub.db")) == [])
    }
}
