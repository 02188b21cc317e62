/// One call to a card provider, stored before it is made: the durable record that makes every provider call
/// idempotent, retryable and reconcilable.
///
/// The key is the provider's idempotency key, derived from our own stored state — `authorize-<payment>`,
/// `capture-<payment>`, `void-<payment>`, `refund-<payment>-<event>` for the refund that follows an order's
/// cancellation (the order event's id) and `refund-<payment>-<refund>` for an operator's refund — never a fresh
/// random id, so a call repeated after a timeout, a crash between the call and its commit, or by another hub is one
/// call at the provider. A call whose answer was lost (`outcomeUnknown`) is reconciled with a status query by its
/// key before it is made again. A failing operation is retried with its own backoff (other payments go on) and
/// after `payment-max-attempts` it becomes a dead letter: listed for operators, alerted, counted, retried by hand.
package struct PaymentOperation: Sendable, Equatable {
    package enum Kind: String, Sendable, Codable, CaseIterable {
        case authorize, capture, void, refund
    }

    package enum State: String, Sendable, Codable, CaseIterable {
        /// Not finished: due at `nextAttempt` (or leased by whoever runs it now).
        case pending
        /// Done at the provider and recorded here.
        case succeeded
        /// Refused by the provider (a refund): recorded, nothing happened.
        case failed
        /// Given up after every attempt, or refused where an operator must decide: listed at
        /// `GET /v1/payments/dead-letters` until retried.
        case dead
    }

    /// Order of creation (ops of one payment run in this order).
    package var id: Int64 = 0
    package var key: String
    package var paymentID: String
    package var kind: Kind
    /// The refund this call pays (refunds only).
    package var refundID: String?
    package var amount: Int64
    package var state: State = .pending
    /// The last attempt ended without an answer that says what happened: ask the provider first.
    package var outcomeUnknown = false
    package var attempts = 0
    /// UTC ms when it is due.
    package var nextAttempt: Int64
    /// Who runs it now and until when (UTC ms); others leave it alone until then.
    package var leaseOwner: String?
    package var leaseUntil: Int64 = 0
    package var lastError: String?
    /// The order event that asked for it (the payment reactor's), nil for a request's own call.
    package var eventID: Int64?
    package var createdAt: Int64
    package var updatedAt: Int64

    package init(
        key: String, paymentID: String, kind: Kind, refundID: String? = nil, amount: Int64, eventID: Int64? = nil,
        now: Int64
    ) {
        self.key = key
        self.paymentID = paymentID
        self.kind = kind
        self.refundID = refundID
        self.amount = amount
        self.eventID = eventID
        self.nextAttempt = now
        self.createdAt = now
        self.updatedAt = now
    }

    /// This operation held by `owner` until `until` (UTC ms): a request that stores a call and makes it at once.
    package func leased(to owner: String, until: Int64) -> PaymentOperation {
        var op = self
        op.leaseOwner = owner
        op.leaseUntil = until
        return op
    }

    package static func authorizeKey(payment: String) -> String { "authorize-\(payment)" }
    package static func captureKey(payment: String) -> String { "capture-\(payment)" }
    package static func voidKey(payment: String) -> String { "void-\(payment)" }
    /// `source` is the order event that asked for the refund, or the operator's refund id.
    package static func refundKey(payment: String, source: String) -> String { "refund-\(payment)-\(source)" }

    package static func capture(_ p: PaymentRecord, event: Int64?, now: Int64) -> PaymentOperation {
        PaymentOperation(
            key: captureKey(payment: p.id), paymentID: p.id, kind: .capture, amount: p.amount, eventID: event, now: now)
    }

    package static func void(_ p: PaymentRecord, event: Int64?, now: Int64) -> PaymentOperation {
        PaymentOperation(key: voidKey(payment: p.id), paymentID: p.id, kind: .void, amount: 0, eventID: event, now: now)
    }

    package static func refund(_ r: RefundRecord, source: String, event: Int64?, now: Int64) -> PaymentOperation {
        PaymentOperation(
            key: refundKey(payment: r.paymentID, source: source), paymentID: r.paymentID, kind: .refund,
            refundID: r.id, amount: r.amount, eventID: event, now: now)
    }
}

/// How one attempt of a ``PaymentOperation`` ended, as recorded by
/// ``PaymentRepository/settleOperation(_:outcome:owner:actor:now:)``.
package enum PaymentOperationOutcome: Sendable, Equatable {
    /// It took effect at the provider (an authorization: with its result; nil when the provider never had it and
    /// nothing is left to do).
    case succeeded(ProviderAuthorizationResult?)
    /// The provider refused it: nothing happened.
    case refused(reason: String)
    /// Not finished: try again at `at` (UTC ms); `unknown` when the provider may have acted.
    case retry(error: String, unknown: Bool, at: Int64)
    /// Given up: a dead letter (with an operator alert).
    case dead(error: String, unknown: Bool)
}

/// A dead letter as operators see it.
package struct PaymentDeadLetter: Sendable, Equatable {
    package var operation: PaymentOperation
    package var orderID: String
    package var currency: String

    package init(operation: PaymentOperation, orderID: String, currency: String) {
        self.operation = operation
        self.orderID = orderID
        self.currency = currency
    }
}

/// The kinds of the payment alerts a store raises (operators' alerts) and the hub counts in its metrics.
package enum PaymentAlert {
    /// A provider operation that ran out of attempts (dead letter).
    package static let deadLetter = "payment_dead_letter"
    /// The payment reactor could not apply an order event.
    package static let reactionFailed = "payment_reaction_failed"
}
