/// What an `Idempotency-Key` claim found.
public enum IdempotencyClaim: Sendable, Equatable {
    /// This request owns the key: run it, then ``PaymentRepository/finishIdempotencyKey(scope:key:status:body:)``.
    case claimed
    /// The same key and body ran before: answer with its stored response.
    case replay(status: Int, body: [UInt8])
    /// The same key with a different request (422).
    case mismatch
    /// The same key is running right now (409, retry later).
    case inProgress
}

/// The result of applying one provider webhook event.
public enum ProviderEventOutcome: String, Sendable, Equatable, Codable {
    /// It changed the payment.
    case applied
    /// Its id was applied before (a replay): nothing done again.
    case duplicate
    /// Older than an event already applied to the payment, or not applicable in its state: recorded, ignored.
    case ignored
    /// No payment has that reference.
    case unknownPayment = "unknown_payment"
}

/// A reaction to one order event, committed with the reactor's cursor.
public enum PaymentReaction: Sendable, Equatable {
    /// Capture the authorized card payment (order delivered).
    case capture(payment: String)
    /// Void the authorization, or cancel a payment still awaiting verification (order cancelled, rejected, failed).
    case void(payment: String)
    /// Refund what is left of a captured payment (order cancelled after a manual capture).
    case refundRemainder(payment: String, refund: RefundRecord)
    /// Record cash on delivery: a captured cash payment and the agent's cash, on the day of `time` (UTC ms).
    case codCollect(payment: String, order: String, agent: String, collected: Int64, time: Int64)
}

/// Payments, refunds, the double-entry ledger, cash on delivery, provider events and idempotency keys. Every
/// method that changes money is one transaction: the state change and its balanced ledger posting commit together
/// or not at all. Safe for several hubs on one database (claims are conditional writes).
public protocol PaymentRepository: OrderEventLog {
    /// Stores a new payment; `conflict` when the order already has a live (not failed, not cancelled) payment.
    func createPayment(_ payment: PaymentRecord) async throws(StoreError) -> PaymentRecord
    func payment(id: String) async throws(StoreError) -> PaymentRecord?
    /// An order's payments, oldest first.
    func payments(order: String) async throws(StoreError) -> [PaymentRecord]
    func payment(provider: String, reference: String) async throws(StoreError) -> PaymentRecord?

    /// Records a provider's authorization answer on a `requires_payment` payment (with the authorize posting when
    /// authorized).
    func recordAuthorization(payment: String, result: ProviderAuthorizationResult, actor: String)
        async throws(StoreError) -> PaymentRecord
    /// Captures an authorized payment with its posting.
    func capturePayment(id: String, actor: String) async throws(StoreError) -> PaymentRecord
    /// Voids an authorized payment (or cancels one awaiting verification).
    func voidPayment(id: String, actor: String) async throws(StoreError) -> PaymentRecord
    /// Reserves a refund: `illegalTransition` when the amount exceeds what may still be refunded (checked and
    /// reserved in one transaction, so concurrent refunds never exceed the captured amount).
    func reserveRefund(_ refund: RefundRecord) async throws(StoreError) -> (PaymentRecord, RefundRecord)
    /// Settles a reserved refund (posting on success, release on failure).
    func finishRefund(id: String, succeeded: Bool) async throws(StoreError) -> (PaymentRecord, RefundRecord)
    func refunds(payment: String) async throws(StoreError) -> [RefundRecord]

    /// Applies a verified provider event exactly once per `(provider, event id)`.
    func applyProviderEvent(_ event: ProviderEvent, provider: String) async throws(StoreError) -> ProviderEventOutcome

    /// The order-event cursor of the payment reactor.
    func paymentCursor() async throws(StoreError) -> Int64
    /// In one transaction: when the cursor is still `from`, applies `reaction` (if any) and moves the cursor to
    /// `to`. False (nothing written) when another hub moved the cursor first.
    func commitPaymentReaction(from: Int64, to: Int64, reaction: PaymentReaction?) async throws(StoreError) -> Bool

    /// Whether the order may be confirmed: cash on delivery, or a card payment authorized (or already captured).
    func paymentAllowsConfirmation(order: String) async throws(StoreError) -> Bool

    /// Cash the agent holds now in `currency` (the ledger balance of `agent:{id}:cash`).
    func agentCashHeld(agent: String, currency: String) async throws(StoreError) -> Int64
    /// Records a hand-in with its posting; `illegalTransition` when it exceeds the cash the agent holds.
    func recordCashHandIn(_ handIn: CashHandIn) async throws(StoreError) -> CashHandIn
    /// Per agent and currency for one UTC day (`YYYY-MM-DD`), optionally one agent.
    func cashReconciliation(day: String, agent: String?) async throws(StoreError) -> [CashReconciliation]

    /// Account balances, by account then currency; only accounts starting with `prefix` when given.
    func ledgerBalances(prefix: String?) async throws(StoreError) -> [LedgerBalance]
    /// An account's entries, newest first, with ids below `before` when given.
    func ledgerStatement(account: String, currency: String, before: Int64?, limit: Int)
        async throws(StoreError) -> [LedgerEntry]
    /// Entries with `id > after`, oldest first (audits and invariant checks).
    func ledgerEntries(after: Int64, limit: Int) async throws(StoreError) -> [LedgerEntry]

    /// Claims `key` for `scope` (the caller) and `requestHash`; a claim older than `ttl` ms is replaced.
    func claimIdempotencyKey(scope: String, key: String, requestHash: String, now: Int64, ttl: Int64)
        async throws(StoreError) -> IdempotencyClaim
    /// Stores the response of a claimed key.
    func finishIdempotencyKey(scope: String, key: String, status: Int, body: [UInt8]) async throws(StoreError)
    /// Gives a claimed key up (the request failed in a way worth retrying).
    func releaseIdempotencyKey(scope: String, key: String) async throws(StoreError)
}

extension PaymentRepository {
    /// Whether a cash-on-delivery order of `amount` may be offered to `agent`: the cash the agent would then hold in
    /// `currency` stays within `limit` (`cod-cash-limit`, ``HubConfiguration/codCashLimit``). Dispatch asks this
    /// before offering a cod order.
    public func cashAllowsOffer(agent: String, amount: Int64, currency: String, limit: Int64)
        async throws(StoreError) -> Bool
    {
        try await agentCashHeld(agent: agent, currency: currency) + amount <= limit
    }
}

/// The one question the order service asks payments before a restaurant (or operator) confirms an order.
public protocol PaymentGate: Sendable {
    /// True when `order` may be confirmed: cash on delivery, or its card payment is authorized.
    func paymentAllowsConfirmation(order: String) async throws(StoreError) -> Bool
}
