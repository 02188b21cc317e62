import DabbaCore
import DabbaProtocol
import HubModel
import Logging

/// Why a payment operation was refused; the controllers map each case to one HTTP status (the same cases as
/// orders: 404 unknown or not the caller's, 403 role, 409 state, 422 invalid, 503 store or provider).
package typealias PaymentServiceError = OrderServiceError

/// How provider calls are made and retried (`payment-provider-timeout`, `payment-retry-base`, `payment-retry-max`,
/// `payment-max-attempts`).
package struct PaymentSettings: Sendable {
    /// Longest wait for one provider answer; none by then is an unknown outcome (reconciled before any new call).
    package var providerTimeout: Duration = .seconds(15)
    /// Delay before an operation's first retry, doubling per failed attempt, jittered, capped at `retryMax`.
    package var retryBase: Duration = .seconds(1)
    package var retryMax: Duration = .seconds(300)
    /// Attempts before an operation becomes a dead letter.
    package var maxAttempts = 10
    /// Operations run at once by one reactor.
    package var concurrency = 8

    package init() {}

    package init(_ c: HubConfiguration) {
        providerTimeout = c.paymentProviderTimeout
        retryBase = c.paymentRetryBase
        retryMax = c.paymentRetryMax
        maxAttempts = c.paymentMaxAttempts
    }

    /// How long a runner holds an operation: one call and one status query, with room to record the answer.
    var lease: Int64 { 3 * providerTimeout.dabbaMilliseconds + 1_000 }
}

/// Payments' rules around the store and the providers: who may see and do what, the provider calls, and the
/// reactions to order transitions. Controllers and the ``PaymentReactor`` call this, never the repository directly.
///
/// Every provider call is a ``PaymentOperation`` stored before it is made, with an idempotency key derived from
/// stored state. A request makes its call at once and answers with the outcome; when the provider does not answer
/// (5xx, timeout), the operation is left to the reactor, which retries it with its own backoff — asking the
/// provider first what became of a call whose outcome is unknown — and turns it into a dead letter after
/// `payment-max-attempts`.
package struct PaymentService<
    Store: PaymentRepository & OrderRepository & RestaurantDirectory & AgentRepository & PaymentGate
>:
    Sendable
{
    package let store: Store
    package let providers: PaymentProviders
    /// Most cash an agent may hold before cash-on-delivery orders stop being offered to them (minor units).
    package let cashLimit: Int64
    package let settings: PaymentSettings
    let metrics: HubMetrics?
    let logger: Logger
    /// UTC milliseconds (tests move it to make backoffs and leases run out).
    let clock: @Sendable () -> Int64
    /// Names this service's leases (with a token per attempt).
    let instance = "hub-" + AuthRandom.token(bytes: 6)

    package init(
        store: Store, providers: PaymentProviders, cashLimit: Int64, logger: Logger,
        settings: PaymentSettings = PaymentSettings(), metrics: HubMetrics? = nil,
        clock: @escaping @Sendable () -> Int64 = { wallClockMilliseconds() }
    ) {
        self.store = store
        self.providers = providers
        self.cashLimit = cashLimit
        self.settings = settings
        self.metrics = metrics
        self.logger = logger
        self.clock = clock
    }

    /// The card provider new payments use.
    package var defaultProvider: String {
        providers["test"] != nil ? "test" : providers.all.keys.sorted().first ?? "test"
    }

    /// The payment if `caller` may see it: its customer, operators. Anyone else gets nil, as for an unknown id.
    package func visiblePayment(_ id: String, to caller: Identity) async throws(StoreError) -> PaymentRecord? {
        guard let payment = try await store.payment(id: id) else { return nil }
        switch caller.role {
        case .operator: return payment
        case .customer: return payment.customerID == caller.userID ? payment : nil
        default: return nil
        }
    }

    /// Authorizes the order's total on `cardNumber` for its customer: a payment row and its authorization operation
    /// claim the order first (one live payment per order), then the provider answers, and the answer is recorded
    /// with its posting. When the provider does not answer, it is asked what became of the call (by its key); when
    /// that does not tell either, the payment fails (`provider_unavailable`, 503) so the order can be paid again at
    /// once, and the reactor keeps asking and voids any hold the provider did place.
    package func authorize(order id: String, cardNumber: String, by caller: Identity) async throws(PaymentServiceError)
        -> PaymentRecord
    {
        let order: OrderRecord?
        do { order = try await store.order(id: id) } catch { throw .store(error) }
        guard let order, caller.role == .operator || order.customerID == caller.userID else {
            throw .notFound("no order \(id)")
        }
        guard caller.role == .customer else { throw .forbidden("only the order's customer pays for it") }
        guard order.paymentMethod == .card else {
            throw .illegal("the order is paid cash on delivery: nothing to authorize")
        }
        guard order.status == .placed else {
            throw .illegal("the order is \(order.status.rawValue): payments are made when it is placed")
        }
        guard CardNumber.isValid(cardNumber) else {
            throw .invalid("card: expected a valid card number (12 to 19 digits)")
        }
        guard let provider = providers[defaultProvider] else {
            throw .unavailable("no card provider is configured on this hub")
        }
        let now = clock()
        var payment = PaymentRecord(
            id: "pay_" + AuthRandom.token(bytes: 12), orderID: order.id, customerID: order.customerID, method: .card,
            provider: provider.name, currency: order.currency, amount: order.total, createdAt: now)
        payment.cardLast4 = String(cardNumber.suffix(4))
        let owner = leaseOwner()
        let operation = PaymentOperation(
            key: PaymentOperation.authorizeKey(payment: payment.id), paymentID: payment.id, kind: .authorize,
            amount: payment.amount, now: now
        ).leased(to: owner, until: now + settings.lease)
        do { payment = try await store.createPayment(payment, authorization: operation) } catch {
            throw error.code == .conflict ? .illegal(error.message) : .store(error)
        }
        let request = ProviderAuthorization(
            paymentID: payment.id, amount: payment.amount, currency: payment.currency, cardNumber: cardNumber)
        let outcome: PaymentOperationOutcome
        var failure: ProviderError?
        do {
            outcome = .succeeded(
                try await deadline { () throws(ProviderError) in try await provider.authorize(request) })
        } catch {
            failure = error
            outcome = await outcomeOfLostAuthorization(operation, provider: provider, error: error)
        }
        let settled = try await mapped { () throws(StoreError) in
            try await settle(operation, outcome, owner: owner, actor: caller.actor)
        }
        if settled.1.state == .failed, settled.1.failure == PaymentRules.providerUnavailable {
            throw .unavailable(
                "the card provider did not answer (\(failure?.message ?? "no answer")): nothing is charged and any "
                    + "hold it placed is released; pay again")
        }
        return settled.1
    }

    /// After an authorization call failed: refused is a decline; otherwise the provider is asked what became of the
    /// key. Nothing conclusive: retry the question later (the payment stops waiting meanwhile).
    func outcomeOfLostAuthorization(_ op: PaymentOperation, provider: any PaymentProvider, error failure: ProviderError)
        async -> PaymentOperationOutcome
    {
        if failure.kind == .refused { return .refused(reason: failure.message) }
        let status: ProviderCallStatus
        do {
            status = try await deadline { () throws(ProviderError) in
                try await provider.status(idempotencyKey: op.key)
            }
        } catch {
            return .retry(
                error: "\(failure.message); status: \(error.message)", unknown: true, at: settleTime(op))
        }
        switch status {
        case .authorization(let result): return .succeeded(result)
        case .refused(let reason): return .succeeded(.declined(reference: nil, reason: reason))
        // The provider said it did not act, and has no call with the key: nothing can be held.
        case .notFound where failure.kind == .unavailable: return .succeeded(nil)
        default: return .retry(error: failure.message, unknown: true, at: settleTime(op))
        }
    }

    /// When a "not found" about a call made at `op`'s creation is conclusive: a request still in flight lands
    /// within its deadline.
    func settleTime(_ op: PaymentOperation) -> Int64 {
        max(clock(), op.createdAt + settings.providerTimeout.dabbaMilliseconds + 1)
    }

    /// Captures an authorized card payment (operators; the reactor captures on delivery). `settled` is false when
    /// the provider has not confirmed yet: the capture stays queued and the reactor finishes it.
    package func capture(_ id: String, by caller: Identity) async throws(PaymentServiceError)
        -> (payment: PaymentRecord, settled: Bool)
    {
        let payment = try await operable(id, caller)
        guard payment.state == .authorized else {
            throw .illegal("cannot capture a payment that is \(payment.state.rawValue)")
        }
        return try await runNow(
            .capture(payment, event: nil, now: clock()), actor: caller.actor, what: "capture")
    }

    /// Voids an authorized payment (the reactor does this when an order ends undelivered).
    package func void(_ id: String, actor: String) async throws(PaymentServiceError) -> PaymentRecord {
        let payment: PaymentRecord?
        do { payment = try await store.payment(id: id) } catch { throw .store(error) }
        guard let payment else { throw .notFound("no payment \(id)") }
        guard payment.state == .authorized else {
            throw .illegal("cannot void a payment that is \(payment.state.rawValue)")
        }
        return try await runNow(.void(payment, event: nil, now: clock()), actor: actor, what: "void").payment
    }

    /// Refunds part or all of a captured payment (operators). The amount is reserved first with the refund's
    /// provider call (`refund-<payment>-<refund>`), so concurrent refunds never add up to more than was captured;
    /// then the provider pays it back and the refund is settled. `settled` is false when the provider has not
    /// confirmed yet: the refund stays pending (still reserved, never treated as failed) and the reactor finishes
    /// it, asking the provider first when the outcome is unknown.
    package func refund(_ id: String, amount: Int64, reason: String?, by caller: Identity)
        async throws(PaymentServiceError) -> (payment: PaymentRecord, refund: RefundRecord, settled: Bool)
    {
        let payment = try await operable(id, caller)
        guard amount > 0, amount <= Money.maxAmount else { throw .invalid("amount: a positive number of minor units") }
        let now = clock()
        let refund = RefundRecord(
            id: "re_" + AuthRandom.token(bytes: 12), paymentID: payment.id, amount: amount, reason: reason,
            actor: caller.actor, createdAt: now)
        guard payment.method == .card else {
            let (p, r) = try await mapped { () throws(StoreError) in
                try await store.reserveRefund(refund, operation: nil, now: now)
            }
            return (p, r, true)
        }
        let owner = leaseOwner()
        let operation = PaymentOperation.refund(refund, source: refund.id, event: nil, now: now)
            .leased(to: owner, until: now + settings.lease)
        _ = try await mapped { () throws(StoreError) in
            try await store.reserveRefund(refund, operation: operation, now: now)
        }
        let (op, p) = try await mapped { () throws(StoreError) in
            try await execute(operation, owner: owner, actor: refund.actor)
        }
        let settledRefund: RefundRecord?
        do { settledRefund = try await store.refunds(payment: p.id).first { $0.id == refund.id } } catch {
            throw .store(error)
        }
        return (p, settledRefund ?? refund, op.state != .pending)
    }

    /// Stores `operation` (unless its key is stored) and runs it now when nobody else does. `settled` is false while
    /// it is pending (the provider has not confirmed, or another runner holds it).
    func runNow(_ operation: PaymentOperation, actor: String, what: String) async throws(PaymentServiceError)
        -> (payment: PaymentRecord, settled: Bool)
    {
        let owner = leaseOwner()
        let (stored, claimed) = try await mapped { () throws(StoreError) in
            try await store.enqueueOperation(operation, owner: owner, until: clock() + settings.lease)
        }
        guard claimed else {
            let payment: PaymentRecord?
            do { payment = try await store.payment(id: operation.paymentID) } catch { throw .store(error) }
            guard let payment else { throw .notFound("no payment \(operation.paymentID)") }
            return (payment, stored.state == .succeeded)
        }
        let (op, payment) = try await mapped { () throws(StoreError) in
            try await execute(stored, owner: owner, actor: actor)
        }
        if op.state == .dead || op.state == .failed {
            throw .illegal("the provider refused the \(what): \(op.lastError ?? "refused")")
        }
        return (payment, op.state == .succeeded)
    }

    /// A provider webhook: verified (signature, timestamp), then applied exactly once.
    package func providerWebhook(provider name: String, signature: String?, body: [UInt8], now: Int64)
        async throws(PaymentServiceError) -> (ProviderEvent, ProviderEventOutcome)
    {
        guard let provider = providers[name] else { throw .notFound("no payment provider \(name)") }
        let event: ProviderEvent
        do { event = try provider.verifyWebhook(signature: signature, body: body, now: now) } catch {
            throw .invalid(error.message)
        }
        do {
            return (event, try await store.applyProviderEvent(event, provider: name))
        } catch {
            throw error.code == .notFound ? .notFound(error.message) : .store(error)
        }
    }

    /// Whether a cash-on-delivery order of `amount` may be offered to `agent`: the cash they would then hold stays
    /// within `cod-cash-limit` (`GET /v1/ledger/agents/{id}/cash`; the assigning paths check the same sum themselves).
    package func mayOfferCashOrder(agent: String, amount: Int64, currency: String) async throws(StoreError) -> Bool {
        try await store.cashAllowsOffer(agent: agent, amount: amount, currency: currency, limit: cashLimit)
    }

    /// Records cash handed in by an agent (operators).
    package func handIn(agent: String, amount: Int64, currency: String, note: String?, by caller: Identity)
        async throws(PaymentServiceError) -> CashHandIn
    {
        guard caller.role == .operator else { throw .forbidden("only operators record hand-ins") }
        try PaymentRequests.checkHandIn(amount: amount, currency: currency)
        let known: AgentRecord?
        do { known = try await store.agent(id: agent) } catch { throw .store(error) }
        guard known != nil else { throw .notFound("no agent \(agent)") }
        let record = CashHandIn(
            id: "cash_" + AuthRandom.token(bytes: 12), agent: agent, currency: currency, amount: amount,
            actor: caller.actor, note: note, time: wallClockMilliseconds())
        return try await mapped { () throws(StoreError) in try await store.recordCashHandIn(record) }
    }

    // MARK: - Helpers

    /// A payment an operator may act on (others: 404 when they cannot see it, 403 when they can).
    func operable(_ id: String, _ caller: Identity) async throws(PaymentServiceError) -> PaymentRecord {
        let payment: PaymentRecord?
        do { payment = try await visiblePayment(id, to: caller) } catch { throw .store(error) }
        guard let payment else { throw .notFound("no payment \(id)") }
        guard caller.role == .operator else { throw .forbidden("only operators capture and refund payments") }
        return payment
    }

    func mapped<T>(_ body: () async throws(StoreError) -> T) async throws(PaymentServiceError) -> T {
        do { return try await body() } catch {
            switch error.code {
            case .illegalTransition: throw .illegal(error.message)
            case .notFound: throw .notFound(error.message)
            default: throw .store(error)
            }
        }
    }
}
