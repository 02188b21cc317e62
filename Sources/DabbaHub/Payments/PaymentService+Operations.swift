import DabbaCore
import HubModel
import Logging

/// Running provider operations (``PaymentOperation``): one attempt at a time per operation (a lease), the outcome
/// recorded with its effect, failures retried with the operation's own backoff, dead letters for operators.
extension PaymentService {
    /// Runs the operations due now, at most `settings.concurrency` at once, each claimed first (another hub may run
    /// the same queue). One slow or failing payment holds up only itself. Returns how many were due.
    @discardableResult
    package func runDueOperations(limit: Int = 200) async throws(StoreError) -> Int {
        let due = try await store.dueOperations(now: clock(), limit: limit)
        await withTaskGroup(of: Void.self) { group in
            var running = 0
            for op in due {
                if running >= settings.concurrency {
                    await group.next()
                    running -= 1
                }
                group.addTask {
                    let owner = leaseOwner()
                    let now = clock()
                    do {
                        guard
                            let claimed = try await store.claimOperation(
                                key: op.key, owner: owner, now: now, until: now + settings.lease)
                        else { return }
                        _ = try await execute(claimed, owner: owner)
                    } catch {
                        logger.error(
                            "Payment operation not recorded",
                            metadata: ["payment.operation": "\(op.key)", "error": "\(error)"])
                    }
                }
                running += 1
            }
        }
        return due.count
    }

    /// One attempt of a claimed operation, recorded (``PaymentRepository/settleOperation(_:outcome:owner:actor:now:)``).
    func execute(_ op: PaymentOperation, owner: String, actor: String = "system") async throws(StoreError)
        -> (PaymentOperation, PaymentRecord)
    {
        guard let payment = try await store.payment(id: op.paymentID) else {
            throw StoreError(.notFound, "no payment \(op.paymentID)")
        }
        if op.kind == .void, payment.state.isCaptured {
            try await store.supersedeVoid(op.key, now: clock())
            return (try await store.operation(key: op.key) ?? op, try await store.payment(id: op.paymentID) ?? payment)
        }
        let outcome = await attempt(op, payment)
        let (settled, after) = try await settle(op, outcome, owner: owner, actor: actor)
        return (settled, after)
    }

    /// Records an outcome, with its log line and metrics.
    func settle(_ op: PaymentOperation, _ outcome: PaymentOperationOutcome, owner: String, actor: String)
        async throws(StoreError) -> (PaymentOperation, PaymentRecord)
    {
        let (settled, payment) = try await store.settleOperation(
            op.key, outcome: outcome, owner: owner, actor: actor, now: clock())
        let result: String
        switch outcome {
        case .succeeded: result = "succeeded"
        case .refused: result = "refused"
        case .retry: result = "retry"
        case .dead: result = "dead"
        }
        metrics?.paymentOperations(op.kind.rawValue, result).increment()
        var metadata: Logger.Metadata = [
            "payment.id": "\(op.paymentID)", "payment.operation": "\(op.key)", "payment.result": "\(result)",
            "payment.attempts": "\(settled.attempts)",
        ]
        if let error = settled.lastError { metadata["error"] = "\(error)" }
        if settled.state == .dead {
            metrics?.paymentDeadLetters.increment()
            metrics?.alerts(PaymentAlert.deadLetter).increment()
            logger.error("Payment operation is a dead letter", metadata: metadata)
        } else if case .retry = outcome {
            logger.warning("Payment operation will be retried", metadata: metadata)
        } else {
            logger.debug("Payment operation settled", metadata: metadata)
        }
        return (settled, payment)
    }

    /// Asks the provider: a status query first when the last outcome is unknown (or for an authorization, which is
    /// never made again: the card number is not kept), then the call itself with the operation's key.
    func attempt(_ op: PaymentOperation, _ payment: PaymentRecord) async -> PaymentOperationOutcome {
        guard let name = payment.provider, let provider = providers[name] else {
            return retryOrDead(
                op, "payment provider \(payment.provider ?? "-") is not configured", unknown: op.outcomeUnknown)
        }
        if op.kind == .authorize || op.outcomeUnknown {
            let status: ProviderCallStatus
            do {
                status = try await deadline { () throws(ProviderError) in
                    try await provider.status(idempotencyKey: op.key)
                }
            } catch {
                return retryOrDead(op, "status: \(error.message)", unknown: true)
            }
            switch status {
            case .authorization(let result): return .succeeded(result)
            case .succeeded: return .succeeded(nil)
            case .refused(let reason):
                return op.kind == .authorize
                    ? .succeeded(.declined(reference: nil, reason: reason)) : .refused(reason: reason)
            case .processing: return retryOrDead(op, "the provider is still processing it", unknown: true)
            case .notFound:
                // The provider never acted on the key. An authorization is over then (nothing is held) once a call
                // still in flight would have landed; anything else is simply made again, with the same key.
                if op.kind == .authorize {
                    return clock() >= settleTime(op)
                        ? .succeeded(nil) : retryOrDead(op, "not found at the provider yet", unknown: true)
                }
            }
        }
        guard let reference = payment.providerRef else {
            return .dead(error: "the payment has no provider reference", unknown: false)
        }
        do {
            switch op.kind {
            case .capture:
                try await deadline { () throws(ProviderError) in
                    try await provider.capture(
                        reference: reference, amount: op.amount, currency: payment.currency, idempotencyKey: op.key)
                }
            case .void:
                try await deadline { () throws(ProviderError) in
                    try await provider.void(reference: reference, idempotencyKey: op.key)
                }
            case .refund:
                try await deadline { () throws(ProviderError) in
                    try await provider.refund(
                        reference: reference, amount: op.amount, currency: payment.currency, idempotencyKey: op.key)
                }
            case .authorize:
                return .dead(error: "an authorization is never made again", unknown: true)
            }
            return .succeeded(nil)
        } catch {
            switch error.kind {
            case .refused: return .refused(reason: error.message)
            case .unavailable: return retryOrDead(op, error.message, unknown: false)
            default: return retryOrDead(op, error.message, unknown: true)
            }
        }
    }

    /// Another attempt after the operation's backoff, or a dead letter once `payment-max-attempts` are used.
    func retryOrDead(_ op: PaymentOperation, _ error: String, unknown: Bool) -> PaymentOperationOutcome {
        guard op.attempts + 1 < settings.maxAttempts else { return .dead(error: error, unknown: unknown) }
        let delay = Backoff.delay(afterFailures: op.attempts, initial: settings.retryBase, maximum: settings.retryMax)
        return .retry(error: error, unknown: unknown, at: clock() + max(1, delay.dabbaMilliseconds))
    }

    /// A lease owner for one attempt.
    func leaseOwner() -> String { instance + "/" + AuthRandom.token(bytes: 6) }

    /// Runs a provider call with `settings.providerTimeout`: no answer by then is an unknown outcome. The call is
    /// not awaited past the deadline (it may still land at the provider: the status query finds out).
    func deadline<T: Sendable>(_ call: @escaping @Sendable () async throws(ProviderError) -> T)
        async throws(ProviderError) -> T
    {
        let timeout = settings.providerTimeout
        let result =
            await firstAnswer(within: timeout) { () -> Result<T, ProviderError> in
                do throws(ProviderError) { return .success(try await call()) } catch { return .failure(error) }
            } ?? .failure(ProviderError("no answer within \(timeout)", kind: .unknown))
        return try result.get()
    }

    // MARK: - Dead letters

    /// Dead letters, oldest first (operators).
    package func deadLetters(limit: Int = 500) async throws(StoreError) -> [PaymentDeadLetter] {
        try await store.deadLetters(limit: limit)
    }

    /// An operator retries a dead letter: it is pending again with fresh attempts and tried at once (an unknown
    /// outcome still asks the provider first). Answers the operation after that attempt.
    package func retryDeadLetter(key: String) async throws(PaymentServiceError) -> PaymentOperation {
        let pending = try await mapped { () throws(StoreError) in
            try await store.retryDeadLetter(key: key, now: clock())
        }
        let owner = leaseOwner()
        let now = clock()
        return try await mapped { () throws(StoreError) in
            // Not claimed: it waits behind an older movement of the payment, or the reactor took it first.
            guard
                let claimed = try await store.claimOperation(
                    key: key, owner: owner, now: now, until: now + settings.lease)
            else { return pending }
            return try await execute(claimed, owner: owner).0
        }
    }
}
