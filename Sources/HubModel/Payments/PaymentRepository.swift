/// What an `Idempotency-Key` claim found.
package enum IdempotencyClaim: Sendable, Equatable {
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
package enum ProviderEventOutcome: String, Sendable, Equatable, Codable {
    /// It changed the payment.
    case applied
    /// Its id was applied before (a replay): nothing done again.
    case duplicate
    /// Older than an event already applied to the payment, or not applicable in its state: recorded, ignored.
    case ignored
    /// No payment has that reference.
    case unknownPayment = "unknown_payment"
}

/// What one order event asks of payments (``PaymentRules/reaction(to:order:payments:)``). Decided and recorded
/// inside the transaction that moves the reactor's cursor, from the state read in it; no provider is called there:
/// provider calls are ``PaymentOperation``s, run afterwards, each with its own retries.
package enum PaymentReaction: Sendable, Equatable {
    /// Capture the authorized card payment (order delivered): a capture operation.
    case capture(payment: String)
    /// Release the authorization (order cancelled, rejected or failed first): a void operation.
    case void(payment: String)
    /// Cancel a payment still waiting for its card (no money held here); voided at the provider too when the
    /// provider already has it (a verification in progress).
    case cancel(payment: String)
    /// Refund what is left of a captured payment (order ended after a manual capture): reserved now, paid back by a
    /// refund operation keyed `refund-<payment>-<event>`.
    case refundRemainder(payment: String, amount: Int64)
    /// Record cash on delivery: a captured cash payment and the agent's cash, on the day of `time` (UTC ms).
    case codCollect(order: String, agent: String, collected: Int64, time: Int64)
}

/// What one pass of the reactor over the order trail did.
package struct PaymentReactorPass: Sendable, Equatable {
    /// Events consumed (the cursor moved past them).
    package var consumed = 0
    /// Reactions recorded.
    package var reactions = 0
    /// Events whose reaction could not be recorded (the store refused it: a posting out of bounds, …): consumed
    /// without it, each with an operator alert, so one bad event never stops the others.
    package var failures: [Failure] = []

    package struct Failure: Sendable, Equatable {
        package var event: Int64
        package var order: String
        package var error: String

        package init(event: Int64, order: String, error: String) {
            self.event = event
            self.order = order
            self.error = error
        }
    }

    package init() {}
}

/// Payments, refunds, the double-entry ledger, cash on delivery, provider events and idempotency keys. Every
/// method that changes money is one transaction: the state change and its balanced ledger posting commit together
/// or not at all. Safe for several hubs on one database (claims are conditional writes).
package protocol PaymentRepository: OrderEventLog, IdempotencyRepository {
    /// Stores a new card payment with its authorization operation (leased to the request that makes the call);
    /// `conflict` when the order already has a live (not failed, not cancelled) payment.
    func createPayment(_ payment: PaymentRecord, authorization: PaymentOperation) async throws(StoreError)
        -> PaymentRecord
    func payment(id: String) async throws(StoreError) -> PaymentRecord?
    /// An order's payments, oldest first.
    func payments(order: String) async throws(StoreError) -> [PaymentRecord]
    func payment(provider: String, reference: String) async throws(StoreError) -> PaymentRecord?

    /// Reserves a refund: `illegalTransition` when the amount exceeds what may still be refunded (checked and
    /// reserved in one transaction, so concurrent refunds never exceed the captured amount). With `operation` (a
    /// card refund), the provider call is stored in the same transaction (with the lease it carries); without
    /// (cash), the refund is settled at once.
    func reserveRefund(_ refund: RefundRecord, operation: PaymentOperation?, now: Int64)
        async throws(StoreError) -> (PaymentRecord, RefundRecord)
    func refunds(payment: String) async throws(StoreError) -> [RefundRecord]

    /// Applies a verified provider event exactly once per `(provider, event id)`.
    func applyProviderEvent(_ event: ProviderEvent, provider: String) async throws(StoreError) -> ProviderEventOutcome

    /// The order-event cursor of the payment reactor.
    func paymentCursor() async throws(StoreError) -> Int64
    /// In one transaction: when the cursor is still `from`, records the reaction to each of `events` (decided from
    /// the state read in that transaction, ``PaymentRules/reaction(to:order:payments:)``) and moves the cursor past
    /// the last; operations it queues are due at `now`. An event whose reaction is refused is rolled back alone,
    /// alerted and consumed. Nil (nothing written) when another hub moved the cursor first.
    func reactToOrderEvents(from: Int64, events: [OrderEvent], now: Int64) async throws(StoreError)
        -> PaymentReactorPass?

    // MARK: Provider operations (``PaymentOperation``)

    /// Stores `operation` unless its key exists, and leases it to `owner` until `until` when it is free: the
    /// operation as stored, and whether `owner` holds it. `conflict` when an older capture, void or authorization
    /// of the payment is not finished (one money movement at a time per payment; refunds may run side by side).
    func enqueueOperation(_ operation: PaymentOperation, owner: String, until: Int64)
        async throws(StoreError) -> (operation: PaymentOperation, claimed: Bool)
    /// Operations due at `now`, oldest first: pending, not leased, and not waiting behind an older unfinished
    /// capture, void or authorization of the same payment.
    func dueOperations(now: Int64, limit: Int) async throws(StoreError) -> [PaymentOperation]
    /// When the next pending operation falls due (nil: none).
    func nextOperationDue() async throws(StoreError) -> Int64?
    /// Leases a pending operation to `owner` until `until` (one conditional write: one hub wins); nil when it is not
    /// pending or someone else holds it.
    func claimOperation(key: String, owner: String, now: Int64, until: Int64) async throws(StoreError)
        -> PaymentOperation?
    /// Records how an attempt ended, with what it means for the payment (its state and ledger posting, the refund's
    /// settlement, a void for a hold found on an abandoned authorization, an operator alert for a dead letter), in
    /// one transaction. Only while the operation is pending and, with `owner`, leased to it; otherwise nothing is
    /// written and the stored state is returned.
    func settleOperation(
        _ key: String, outcome: PaymentOperationOutcome, owner: String?, actor: String, now: Int64
    ) async throws(StoreError) -> (PaymentOperation, PaymentRecord)
    /// A void whose payment was captured first (a manual capture that finished before it): finished without a
    /// call, and the captured remainder reserved and queued as refund `refund-<payment>-<event>` instead.
    func supersedeVoid(_ key: String, now: Int64) async throws(StoreError)
    func operation(key: String) async throws(StoreError) -> PaymentOperation?
    func operations(payment: String) async throws(StoreError) -> [PaymentOperation]
    /// Dead letters, oldest first.
    func deadLetters(limit: Int) async throws(StoreError) -> [PaymentDeadLetter]
    func deadLetterCount() async throws(StoreError) -> Int
    /// Makes a dead letter pending again with fresh attempts, due now (an unknown outcome is still reconciled
    /// first); `notFound` for an unknown key, `conflict` when it is not dead.
    func retryDeadLetter(key: String, now: Int64) async throws(StoreError) -> PaymentOperation

    /// Whether the order may be confirmed: cash on delivery, or a card payment authorized (or already captured).
    func paymentAllowsConfirmation(order: String) async throws(StoreError) -> Bool

    /// Cash the agent holds now in `currency` (the ledger balance of `agent:{id}:cash`).
    func agentCashHeld(agent: String, currency: String) async throws(StoreError) -> Int64
    /// The cash the assignment limits count against `cod-cash-limit`: held (ledger), delivered but not yet posted by
    /// the payment reactor, and due on the cash orders the agent holds now.
    func cashExposure(agent: String, currency: String) async throws(StoreError) -> Int64
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
}

/// `Idempotency-Key`s of POST requests (money and order placement): claimed once per caller and key, answered again
/// from the stored response, refused for another body, new again after their time to live.
package protocol IdempotencyRepository: Sendable {
    /// Claims `key` for `scope` (the caller) and `requestHash`; a claim older than `ttl` ms is replaced.
    func claimIdempotencyKey(scope: String, key: String, requestHash: String, now: Int64, ttl: Int64)
        async throws(StoreError) -> IdempotencyClaim
    /// Stores the response of a claimed key.
    func finishIdempotencyKey(scope: String, key: String, status: Int, body: [UInt8]) async throws(StoreError)
    /// Gives a claimed key up (the request failed in a way worth retrying).
    func releaseIdempotencyKey(scope: String, key: String) async throws(StoreError)
}

extension PaymentRepository {
    /// Whether a cash-on-delivery order of `amount` may be offered to `agent`: the agent's cash exposure in
    /// `currency` (``cashExposure(agent:currency:)``, the same sum every assigning path checks in its transaction)
    /// plus `amount` stays within `limit` (`cod-cash-limit`, ``HubConfiguration/codCashLimit``).
    package func cashAllowsOffer(agent: String, amount: Int64, currency: String, limit: Int64)
        async throws(StoreError) -> Bool
    {
        let (total, overflow) = try await cashExposure(agent: agent, currency: currency).addingReportingOverflow(amount)
        return !overflow && total <= limit
    }
}

/// The one question the order service asks payments before a restaurant (or operator) confirms an order.
package protocol PaymentGate: Sendable {
    /// True when `order` may be confirmed: cash on delivery, or its card payment is authorized.
    func paymentAllowsConfirmation(order: String) async throws(StoreError) -> Bool
}
