import DabbaCore

/// One thing settling a provider operation does to its payment, in the order ``PaymentOperation/settle(_:payment:now:)``
/// lists them; the backend carries each out inside the transaction that stores the settled operation.
package enum PaymentSettlementStep: Sendable, Equatable {
    /// Apply the provider's answer to the payment still waiting for it (``PaymentRules/settle(_:with:actor:now:)``).
    case settle(ProviderAuthorizationResult)
    /// The payment was given up before the provider's hold came in: record `reference` on the payment when it has
    /// none, and store a void of that hold (``PaymentOperation/void(_:event:now:)``).
    case releaseLateHold(reference: String)
    /// Capture the authorized payment (the order's capture rules).
    case capture
    /// Void the payment (``PaymentRules/void(_:actor:now:)``).
    case void
    /// Finish the operation's refund row (`refundID`), succeeded or failed.
    case finishRefund(succeeded: Bool)
    /// An authorization the provider has not answered: the payment stops waiting (failed, `provider_unavailable`),
    /// so the order can be paid again at once; the operation goes on finding out, and voids any hold it finds.
    case abandonWaiting
    /// Raise the operator alert ``PaymentAlert/deadLetter`` with ``PaymentOperation/deadLetterMessage(_:)``.
    case alertDeadLetter
}

extension PaymentOperation {
    /// Records `outcome` on this operation — state, error, attempts, next attempt, the lease released — and returns
    /// what it does to payment `p` (as read in the same transaction), in order. Pure: both backends settle here.
    package mutating func settle(_ outcome: PaymentOperationOutcome, payment p: PaymentRecord, now: Int64)
        -> [PaymentSettlementStep]
    {
        var steps: [PaymentSettlementStep] = []
        switch outcome {
        case .succeeded(let authorization):
            state = .succeeded
            lastError = nil
            outcomeUnknown = false
            steps = successSteps(p, authorization: authorization)
        case .refused(let reason):
            lastError = reason
            outcomeUnknown = false
            switch kind {
            case .refund:
                state = .failed
                steps = [.finishRefund(succeeded: false)]
            case .authorize:
                state = .succeeded
                steps = successSteps(p, authorization: .declined(reference: nil, reason: reason))
            case .capture, .void:
                // The provider will not do it: an operator decides (the hold may have lapsed, say).
                state = .dead
                steps = [.alertDeadLetter]
            }
        case .retry(let error, let unknown, let at):
            attempts += 1
            outcomeUnknown = unknown
            nextAttempt = at
            lastError = error
            steps = abandonsWaiting(p) ? [.abandonWaiting] : []
        case .dead(let error, let unknown):
            attempts += 1
            outcomeUnknown = unknown
            state = .dead
            lastError = error
            steps = (abandonsWaiting(p) ? [.abandonWaiting] : []) + [.alertDeadLetter]
        }
        leaseOwner = nil
        leaseUntil = 0
        updatedAt = now
        return steps
    }

    /// What a call that took effect means for payment `p`.
    private func successSteps(_ p: PaymentRecord, authorization: ProviderAuthorizationResult?)
        -> [PaymentSettlementStep]
    {
        switch kind {
        case .authorize:
            // The provider never had the call: nothing is held.
            guard let authorization else { return abandonsWaiting(p) ? [.abandonWaiting] : [] }
            if p.state == .requiresPayment && p.nextAction == nil { return [.settle(authorization)] }
            // The payment was given up meanwhile (the provider did not answer in time): a hold it placed after all is
            // released.
            switch authorization {
            case .authorized(let reference), .pendingVerification(let reference):
                return [.releaseLateHold(reference: reference)]
            case .declined: return []
            }
        case .capture: return p.state == .authorized ? [.capture] : []
        case .void: return p.state == .authorized || p.state == .requiresPayment ? [.void] : []
        case .refund: return [.finishRefund(succeeded: true)]
        }
    }

    /// Whether this operation is an authorization that payment `p` still waits for (``PaymentSettlementStep/abandonWaiting``).
    private func abandonsWaiting(_ p: PaymentRecord) -> Bool {
        kind == .authorize && p.state == .requiresPayment && p.nextAction == nil
    }

    /// The operator alert's message for this operation given up on payment `p`.
    package func deadLetterMessage(_ p: PaymentRecord) -> String {
        "payment \(p.id): \(kind.rawValue) \(key) given up (\(lastError ?? "refused")); see GET /v1/payments/dead-letters"
    }

    /// An operator's retry of a dead letter: pending again, from its first attempt, now; `illegal_transition` when it
    /// is not dead.
    package mutating func retry(now: Int64) throws(StoreError) {
        guard state == .dead else {
            throw StoreError(.illegalTransition, "operation \(key) is \(state.rawValue), not dead")
        }
        state = .pending
        attempts = 0
        nextAttempt = now
        leaseOwner = nil
        leaseUntil = 0
        updatedAt = now
    }

    /// A pending void the payment's capture overtook: it is done (the captured remainder is refunded instead).
    package mutating func supersededByCapture(now: Int64) {
        state = .succeeded
        lastError = "superseded: the payment was captured first, its remainder is refunded instead"
        leaseOwner = nil
        leaseUntil = 0
        updatedAt = now
    }
}

extension PaymentRules {
    /// Applies a provider's answer to an authorization to the payment waiting for it; the posting when it is
    /// authorized.
    package static func settle(
        _ p: inout PaymentRecord, with authorization: ProviderAuthorizationResult, actor: String, now: Int64
    ) throws(StoreError) -> LedgerPosting? {
        switch authorization {
        case .authorized(let reference):
            return try authorized(&p, reference: reference, actor: actor, now: now)
        case .declined(let reference, let reason):
            try declined(&p, reference: reference, reason: reason, now: now)
        case .pendingVerification(let reference):
            try awaitVerification(&p, reference: reference, now: now)
        }
        return nil
    }

    /// Applies a provider's webhook event to payment `current` (its row read in the transaction that records the
    /// event): only an event newer than the last applied (`providerSeq`) changes it. Returns the payment to store
    /// (nil: unchanged), the posting, and the outcome recorded with the event.
    package static func providerEvent(
        _ event: ProviderEvent, provider: String, to current: PaymentRecord, now: Int64
    ) throws(StoreError) -> (payment: PaymentRecord?, posting: LedgerPosting?, outcome: ProviderEventOutcome) {
        guard event.sequence > current.providerSeq else { return (nil, nil, .ignored) }
        var p = current
        p.providerSeq = event.sequence
        p.updatedAt = now
        switch event.type {
        case .authorized where p.state == .requiresPayment:
            let posting = try authorized(&p, reference: nil, actor: "provider:\(provider)", now: now)
            return (p, posting, .applied)
        case .failed where p.state == .requiresPayment:
            try declined(&p, reference: nil, reason: event.reason ?? "verification_failed", now: now)
            return (p, nil, .applied)
        case .processing: return (p, nil, .applied)
        default: return (p, nil, .ignored)
        }
    }
}
