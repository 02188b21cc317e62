import DabbaCore
import DabbaProtocol
import Logging

/// Why a payment operation was refused; the controllers map each case to one HTTP status (the same cases as
/// orders: 404 unknown or not the caller's, 403 role, 409 state, 422 invalid, 503 store or provider).
public typealias PaymentServiceError = OrderServiceError

/// Payments' rules around the store and the providers: who may see and do what, the provider calls, and the
/// reactions to order transitions. Controllers and the ``PaymentReactor`` call this, never the repository directly.
public struct PaymentService<
    Store: PaymentRepository & OrderRepository & RestaurantDirectory & AgentRepository & PaymentGate
>:
    Sendable
{
    public let store: Store
    public let providers: PaymentProviders
    /// Most cash an agent may hold before cash-on-delivery orders stop being offered to them (minor units).
    public let cashLimit: Int64
    let logger: Logger

    public init(store: Store, providers: PaymentProviders, cashLimit: Int64, logger: Logger) {
        self.store = store
        self.providers = providers
        self.cashLimit = cashLimit
        self.logger = logger
    }

    /// The card provider new payments use.
    public var defaultProvider: String {
        providers["test"] != nil ? "test" : providers.all.keys.sorted().first ?? "test"
    }

    /// The payment if `caller` may see it: its customer, operators. Anyone else gets nil, as for an unknown id.
    public func visiblePayment(_ id: String, to caller: Identity) async throws(StoreError) -> PaymentRecord? {
        guard let payment = try await store.payment(id: id) else { return nil }
        switch caller.role {
        case .operator: return payment
        case .customer: return payment.customerID == caller.userID ? payment : nil
        default: return nil
        }
    }

    /// Authorizes the order's total on `cardNumber` for its customer: a payment row claims the order first (one
    /// live payment per order), then the provider answers, and the answer is recorded with its posting.
    public func authorize(order id: String, cardNumber: String, by caller: Identity) async throws(PaymentServiceError)
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
            throw .store(StoreError(.unavailable, "no card provider"))
        }
        let now = wallClockMilliseconds()
        var payment = PaymentRecord(
            id: "pay_" + AuthRandom.token(bytes: 12), orderID: order.id, customerID: order.customerID, method: .card,
            provider: provider.name, currency: order.currency, amount: order.total, createdAt: now)
        payment.cardLast4 = String(cardNumber.suffix(4))
        do { payment = try await store.createPayment(payment) } catch {
            throw error.code == .conflict ? .illegal(error.message) : .store(error)
        }
        let result: ProviderAuthorizationResult
        do {
            result = try await provider.authorize(
                ProviderAuthorization(
                    paymentID: payment.id, amount: payment.amount, currency: payment.currency, cardNumber: cardNumber))
        } catch {
            // Unknown outcome: the payment stays requires_payment; a retry of the provider call is deduplicated by
            // the payment id.
            logger.warning(
                "Provider authorization failed", metadata: ["payment.id": "\(payment.id)", "error": "\(error)"])
            throw .store(StoreError(.unavailable, "payment provider: \(error.message)"))
        }
        return try await mapped { () throws(StoreError) in
            try await store.recordAuthorization(
                payment: payment.id, result: result, actor: OrderService<Store>.actor(caller))
        }
    }

    /// Captures an authorized card payment (operators; the reactor captures on delivery).
    public func capture(_ id: String, by caller: Identity) async throws(PaymentServiceError) -> PaymentRecord {
        let payment = try await operable(id, caller)
        guard payment.state == .authorized else {
            throw .illegal("cannot capture a payment that is \(payment.state.rawValue)")
        }
        try await providerCall(payment) { (provider, reference) throws(ProviderError) in
            try await provider.capture(
                reference: reference, amount: payment.amount, currency: payment.currency,
                idempotencyKey: "capture-\(payment.id)")
        }
        return try await mapped { () throws(StoreError) in
            try await store.capturePayment(id: id, actor: OrderService<Store>.actor(caller))
        }
    }

    /// Voids an authorized payment.
    public func void(_ id: String, actor: String) async throws(PaymentServiceError) -> PaymentRecord {
        let payment: PaymentRecord?
        do { payment = try await store.payment(id: id) } catch { throw .store(error) }
        guard let payment else { throw .notFound("no payment \(id)") }
        if payment.state == .authorized {
            try await providerCall(payment) { (provider, reference) throws(ProviderError) in
                try await provider.void(reference: reference, idempotencyKey: "void-\(payment.id)")
            }
        }
        return try await mapped { () throws(StoreError) in try await store.voidPayment(id: id, actor: actor) }
    }

    /// Refunds part or all of a captured payment (operators). The amount is reserved first, so concurrent refunds
    /// never add up to more than was captured; then the provider pays it back and the refund is settled.
    public func refund(_ id: String, amount: Int64, reason: String?, by caller: Identity)
        async throws(PaymentServiceError) -> (PaymentRecord, RefundRecord)
    {
        let payment = try await operable(id, caller)
        guard amount > 0, amount <= Money.maxAmount else { throw .invalid("amount: a positive number of minor units") }
        let refund = RefundRecord(
            id: "re_" + AuthRandom.token(bytes: 12), paymentID: payment.id, amount: amount, reason: reason,
            actor: OrderService<Store>.actor(caller), createdAt: wallClockMilliseconds())
        _ = try await mapped { () throws(StoreError) in try await store.reserveRefund(refund) }
        var succeeded = true
        if payment.method == .card {
            do {
                try await providerCall(payment) { (provider, reference) throws(ProviderError) in
                    try await provider.refund(
                        reference: reference, amount: amount, currency: payment.currency, idempotencyKey: refund.id)
                }
            } catch {
                succeeded = false
            }
        }
        return try await mapped { () throws(StoreError) in
            try await store.finishRefund(id: refund.id, succeeded: succeeded)
        }
    }

    /// A provider webhook: verified (signature, timestamp), then applied exactly once.
    public func providerWebhook(provider name: String, signature: String?, body: [UInt8], now: Int64)
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
    /// within `cod-cash-limit`. The dispatcher asks this before offering a cod order.
    public func mayOfferCashOrder(agent: String, amount: Int64, currency: String) async throws(StoreError) -> Bool {
        try await store.cashAllowsOffer(agent: agent, amount: amount, currency: currency, limit: cashLimit)
    }

    /// Records cash handed in by an agent (operators).
    public func handIn(agent: String, amount: Int64, currency: String, note: String?, by caller: Identity)
        async throws(PaymentServiceError) -> CashHandIn
    {
        guard caller.role == .operator else { throw .forbidden("only operators record hand-ins") }
        guard amount > 0, amount <= Money.maxAmount else { throw .invalid("amount: a positive number of minor units") }
        guard Money.isCurrency(currency) else { throw .invalid("currency: expected an ISO 4217 code such as INR") }
        let known: AgentRecord?
        do { known = try await store.agent(id: agent) } catch { throw .store(error) }
        guard known != nil else { throw .notFound("no agent \(agent)") }
        let record = CashHandIn(
            id: "cash_" + AuthRandom.token(bytes: 12), agent: agent, currency: currency, amount: amount,
            actor: OrderService<Store>.actor(caller), note: note, time: wallClockMilliseconds())
        return try await mapped { () throws(StoreError) in try await store.recordCashHandIn(record) }
    }

    // MARK: - Reactions to order events

    /// What an order event asks of payments (nil: nothing), with the provider call made before the commit.
    public func reaction(to event: OrderEvent) async throws(PaymentServiceError) -> PaymentReaction? {
        switch event.status {
        case .delivered, .cancelled, .rejected, .failed: break
        default: return nil
        }
        let order: OrderRecord?
        let payments: [PaymentRecord]
        do {
            order = try await store.order(id: event.order)
            payments = try await store.payments(order: event.order)
        } catch { throw .store(error) }
        guard let order else { return nil }
        let live = payments.last { $0.state != .failed && $0.state != .cancelled }
        if event.status == .delivered {
            if order.paymentMethod == .cod {
                guard let agent = event.agent ?? order.agentID else { return nil }
                let collected = max(0, event.cashCollected ?? order.total)
                guard collected <= Money.maxAmount else {
                    // Refused where it enters since issue 13; an event stored before that must not stall the
                    // reactor (the posting would be refused on every retry). Nothing is posted: an operator
                    // reconciles the agent's cash by hand.
                    logger.error(
                        "Delivered order reports an impossible cash amount; no cash posted",
                        metadata: ["order.id": "\(order.id)", "payment.cash_collected": "\(collected)"])
                    return nil
                }
                return .codCollect(
                    payment: "pay_" + AuthRandom.token(bytes: 12), order: order.id, agent: agent, collected: collected,
                    time: Timestamp.parse(event.time) ?? wallClockMilliseconds())
            }
            guard let live, live.state == .authorized else { return nil }
            try await providerCall(live) { (provider, reference) throws(ProviderError) in
                try await provider.capture(
                    reference: reference, amount: live.amount, currency: live.currency,
                    idempotencyKey: "capture-\(live.id)")
            }
            return .capture(payment: live.id)
        }
        guard let live else { return nil }
        switch live.state {
        case .authorized:
            try await providerCall(live) { (provider, reference) throws(ProviderError) in
                try await provider.void(reference: reference, idempotencyKey: "void-\(live.id)")
            }
            return .void(payment: live.id)
        case .requiresPayment:
            return .void(payment: live.id)
        case .captured, .partiallyRefunded:
            guard live.refundable > 0 else { return nil }
            let refund = RefundRecord(
                id: "re_" + AuthRandom.token(bytes: 12), paymentID: live.id, amount: live.refundable,
                reason: "order \(event.status.rawValue)", actor: "system", createdAt: wallClockMilliseconds())
            if live.method == .card {
                try await providerCall(live) { (provider, reference) throws(ProviderError) in
                    try await provider.refund(
                        reference: reference, amount: refund.amount, currency: live.currency, idempotencyKey: refund.id)
                }
            }
            return .refundRemainder(payment: live.id, refund: refund)
        default: return nil
        }
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

    func providerCall(
        _ payment: PaymentRecord, _ call: (any PaymentProvider, String) async throws(ProviderError) -> Void
    ) async throws(PaymentServiceError) {
        guard payment.method == .card else { return }
        guard let name = payment.provider, let provider = providers[name], let reference = payment.providerRef else {
            throw .store(StoreError(.unavailable, "payment provider \(payment.provider ?? "-") unavailable"))
        }
        do { try await call(provider, reference) } catch {
            throw .store(StoreError(.unavailable, "payment provider: \(error.message)"))
        }
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
