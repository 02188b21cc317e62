import DabbaCore
import DabbaProtocol

/// The payment state machine: each rule checks the current state, changes the record and returns the ledger
/// posting of the movement (nil when no money moves). Pure: the store runs a rule inside the transaction that
/// writes its result, so the state and the ledger never disagree. A rule that does not apply throws
/// `illegalTransition` (the message names the state) and nothing is written.
package enum PaymentRules {
    static func illegal(_ p: PaymentRecord, _ what: String) -> StoreError {
        StoreError(.illegalTransition, "cannot \(what) a payment that is \(p.state.rawValue)")
    }

    /// The provider authorized the card (synchronously, or later by webhook).
    package static func authorized(_ p: inout PaymentRecord, reference: String?, actor: String, now: Int64)
        throws(StoreError) -> LedgerPosting
    {
        guard p.state == .requiresPayment else { throw illegal(p, "authorize") }
        p.state = .authorized
        p.nextAction = nil
        if let reference { p.providerRef = reference }
        p.updatedAt = now
        return Postings.authorize(p, actor: actor)
    }

    /// The provider needs to verify the card asynchronously; a webhook settles it.
    package static func awaitVerification(_ p: inout PaymentRecord, reference: String, now: Int64) throws(StoreError) {
        guard p.state == .requiresPayment else { throw illegal(p, "verify") }
        p.nextAction = "await_verification"
        p.providerRef = reference
        p.updatedAt = now
    }

    /// The provider declined (or verification failed).
    package static func declined(_ p: inout PaymentRecord, reference: String?, reason: String, now: Int64)
        throws(StoreError)
    {
        guard p.state == .requiresPayment else { throw illegal(p, "decline") }
        p.state = .failed
        p.failure = reason
        p.nextAction = nil
        if let reference { p.providerRef = reference }
        p.updatedAt = now
    }

    /// Takes the authorized amount.
    package static func capture(_ p: inout PaymentRecord, order: OrderRecord, actor: String, now: Int64)
        throws(StoreError) -> LedgerPosting
    {
        guard p.state == .authorized else { throw illegal(p, "capture") }
        p.state = .captured
        p.captured = p.amount
        p.updatedAt = now
        return Postings.capture(p, order: order, actor: actor)
    }

    /// Releases an authorization (`cancelled`); a payment still waiting for the card is simply cancelled.
    package static func void(_ p: inout PaymentRecord, actor: String, now: Int64) throws(StoreError) -> LedgerPosting? {
        switch p.state {
        case .authorized:
            p.state = .cancelled
            p.updatedAt = now
            return Postings.void(p, actor: actor)
        case .requiresPayment:
            p.state = .cancelled
            p.nextAction = nil
            p.updatedAt = now
            return nil
        default: throw illegal(p, "void")
        }
    }

    /// Reserves `amount` for a refund: refused when it exceeds what is captured and not yet refunded or reserved.
    package static func reserveRefund(_ p: inout PaymentRecord, amount: Int64, now: Int64) throws(StoreError) {
        guard p.state == .captured || p.state == .partiallyRefunded else { throw illegal(p, "refund") }
        guard amount > 0 else { throw StoreError(.other, "amount: must be positive") }
        guard amount <= p.refundable else {
            throw StoreError(
                .illegalTransition,
                "amount: \(amount) exceeds what can still be refunded (\(p.refundable) of \(p.captured) \(p.currency))")
        }
        p.refundPending += amount
        p.updatedAt = now
    }

    /// Settles a reserved refund: on success the money moves and the state follows; on failure the reservation is
    /// released.
    package static func finishRefund(
        _ p: inout PaymentRecord, refund: RefundRecord, succeeded: Bool, actor: String, now: Int64
    ) throws(StoreError) -> LedgerPosting? {
        guard refund.state == .pending, p.refundPending >= refund.amount else {
            throw StoreError(.illegalTransition, "refund \(refund.id) is \(refund.state.rawValue)")
        }
        p.refundPending -= refund.amount
        p.updatedAt = now
        guard succeeded else { return nil }
        p.refunded += refund.amount
        p.state = p.refunded == p.captured ? .refunded : .partiallyRefunded
        return Postings.refund(p, amount: refund.amount, refundID: refund.id, actor: actor)
    }

    /// A cash-on-delivery payment as the agent delivers: captured with what was collected.
    package static func codCollected(
        id: String, order: OrderRecord, agent: String, collected: Int64, actor: String, now: Int64
    ) -> (PaymentRecord, LedgerPosting) {
        var p = PaymentRecord(
            id: id, orderID: order.id, customerID: order.customerID, method: .cod, provider: nil, state: .captured,
            currency: order.currency, amount: order.total, createdAt: now)
        p.captured = collected
        return (p, Postings.codCollect(p, order: order, agent: agent, collected: collected, actor: actor))
    }
}

extension PaymentRules {
    /// The reason a payment fails with when the provider could not be reached for its authorization: nothing is held
    /// on the card (a hold the provider placed after all is voided by the reconciliation), and the customer may pay
    /// again.
    package static let providerUnavailable = "provider_unavailable"

    /// What an order event asks of payments (nil: nothing). Pure: the store decides it inside the transaction that
    /// records it and moves the reactor's cursor, from the order and payments read there.
    ///
    /// Delivered: a cash-on-delivery order records the cash the agent collected (the order's total when the event
    /// says nothing); a card order's authorized payment is captured. Cancelled, rejected or failed: an authorized
    /// payment is voided, one still waiting for its card cancelled, and what is left of a captured one refunded.
    package static func reaction(to event: OrderEvent, order: OrderRecord, payments: [PaymentRecord])
        -> PaymentReaction?
    {
        switch event.status {
        case .delivered, .cancelled, .rejected, .failed: break
        default: return nil
        }
        let live = payments.last { $0.state != .failed && $0.state != .cancelled }
        if event.status == .delivered {
            if order.paymentMethod == .cod {
                guard let agent = event.agent ?? order.agentID else { return nil }
                // An amount out of bounds is refused by the posting's validation: the event is then consumed with
                // an operator alert instead of stalling the reactor.
                return .codCollect(
                    order: order.id, agent: agent, collected: max(0, event.cashCollected ?? order.total),
                    time: Timestamp.parse(event.time) ?? wallClockMilliseconds())
            }
            guard let live, live.state == .authorized else { return nil }
            return .capture(payment: live.id)
        }
        guard let live else { return nil }
        switch live.state {
        case .authorized: return .void(payment: live.id)
        case .requiresPayment: return .cancel(payment: live.id)
        case .captured, .partiallyRefunded:
            return live.refundable > 0 ? .refundRemainder(payment: live.id, amount: live.refundable) : nil
        default: return nil
        }
    }
}
