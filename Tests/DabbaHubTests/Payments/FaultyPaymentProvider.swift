import DabbaCore
@testable import HubModel
import Synchronization

@testable import DabbaHub

/// A card provider for tests that misbehaves on cue and keeps a provider's own books, so a test can check what
/// really happened on the provider's side.
///
/// Faults, chosen per call by `plan` (the call, its idempotency key, and how many times a call with that key was
/// made before): a decline (authorize: a declined card; capture/void/refund: refused), a 5xx (nothing done), a
/// timeout before the provider acted, a timeout after it acted, an unknown outcome (acted, but its status answers
/// `processing` for a while), and a slow answer. Like a real gateway it deduplicates by idempotency key — a call
/// repeated with a key is answered from the first and has no second effect — and it refuses what a gateway would
/// (a second capture of a hold, a refund beyond what was captured), recording each such attempt as a violation.
/// Every effect is recorded by key: a test asserts that nothing was captured or refunded twice.
final class FaultyPaymentProvider: PaymentProvider {
    enum Call: String, Sendable, CaseIterable { case authorize, capture, void, refund, status }

    enum Fault: Sendable, Equatable {
        case decline
        case serverError
        case timeoutBeforeActing
        case timeoutAfterActing
        case unknownOutcome
        case slow(Duration)
    }

    /// One authorization hold at the provider.
    struct Hold: Sendable, Equatable {
        enum State: String, Sendable { case pendingVerification, authorized, captured, voided }
        var reference: String
        var key: String
        var amount: Int64
        var currency: String
        var state: State
        var captured: Int64 = 0
        var refunded: Int64 = 0
    }

    /// Something that happened at the provider because of one call.
    struct Effect: Sendable, Equatable {
        var call: Call
        var key: String
        var reference: String
        var amount: Int64
    }

    struct Books: Sendable {
        var holds: [String: Hold] = [:]
        /// What a call with a key ended in (its answer when repeated, and its status).
        var results: [String: ProviderCallStatus] = [:]
        /// Keys whose status answers `processing` this many more times.
        var processing: [String: Int] = [:]
        var effects: [Effect] = []
        var violations: [String] = []
        var calls: [String: Int] = [:]
        /// Faults injected, by kind.
        var faults: [String: Int] = [:]
        var references = 0
    }

    let name: String
    private let webhooks: TestPaymentProvider
    private let books = Mutex(Books())
    private let plan: Mutex<@Sendable (Call, String, Int) -> Fault?>

    init(name: String = "test", webhookSecret: String = PaymentWorld.secret) {
        self.name = name
        webhooks = TestPaymentProvider(webhookSecret: webhookSecret)
        plan = Mutex({ _, _, _ in nil })
    }

    /// Replaces the fault plan: `(call, idempotency key, calls made before with that key and call) -> fault`.
    func setPlan(_ newPlan: @escaping @Sendable (Call, String, Int) -> Fault?) { plan.withLock { $0 = newPlan } }

    /// Every call behaves from now on.
    func heal() { setPlan { _, _, _ in nil } }

    var snapshot: Books { books.withLock { $0 } }

    /// Effects recorded for `key` (never more than one).
    func effects(key: String) -> [Effect] { books.withLock { $0.effects.filter { $0.key == key } } }

    /// A verification (3-D Secure) finished: the hold is authorized or released.
    func completeVerification(reference: String, authorized: Bool) {
        books.withLock { books in
            guard books.holds[reference]?.state == .pendingVerification else { return }
            books.holds[reference]?.state = authorized ? .authorized : .voided
        }
    }

    // MARK: - PaymentProvider

    func authorize(_ request: ProviderAuthorization) async throws(ProviderError) -> ProviderAuthorizationResult {
        let fault = try await before(.authorize, request.idempotencyKey)
        let result = books.withLock { books -> ProviderAuthorizationResult in
            if case .authorization(let known) = books.results[request.idempotencyKey] { return known }
            books.references += 1
            let reference = "fp_\(books.references)"
            let result: ProviderAuthorizationResult
            switch (fault, request.cardNumber) {
            case (.decline, _), (_, TestPaymentProvider.declines):
                result = .declined(reference: reference, reason: "card_declined")
            case (_, TestPaymentProvider.insufficientFunds):
                result = .declined(reference: reference, reason: "insufficient_funds")
            case (_, TestPaymentProvider.requiresVerification):
                result = .pendingVerification(reference: reference)
                books.holds[reference] = Hold(
                    reference: reference, key: request.idempotencyKey, amount: request.amount,
                    currency: request.currency, state: .pendingVerification)
            default:
                result = .authorized(reference: reference)
                books.holds[reference] = Hold(
                    reference: reference, key: request.idempotencyKey, amount: request.amount,
                    currency: request.currency, state: .authorized)
                books.effects.append(
                    Effect(call: .authorize, key: request.idempotencyKey, reference: reference, amount: request.amount))
            }
            books.results[request.idempotencyKey] = .authorization(result)
            return result
        }
        try after(fault, request.idempotencyKey)
        return result
    }

    func capture(reference: String, amount: Int64, currency: String, idempotencyKey key: String)
        async throws(ProviderError)
    {
        let fault = try await before(.capture, key)
        try act(key, fault) { books throws(ProviderError) in
            guard var hold = books.holds[reference] else { throw refuse(books: &books, key, "no such payment") }
            switch hold.state {
            case .authorized:
                guard amount <= hold.amount else { throw refuse(books: &books, key, "amount above the hold") }
                hold.state = .captured
                hold.captured = amount
                books.holds[reference] = hold
                books.effects.append(Effect(call: .capture, key: key, reference: reference, amount: amount))
            case .captured:
                books.violations.append("\(reference) captured again under \(key)")
                throw refuse(books: &books, key, "already captured")
            case .voided, .pendingVerification:
                throw refuse(books: &books, key, "cannot capture a \(hold.state.rawValue) payment")
            }
        }
    }

    func void(reference: String, idempotencyKey key: String) async throws(ProviderError) {
        let fault = try await before(.void, key)
        try act(key, fault) { books throws(ProviderError) in
            guard let hold = books.holds[reference] else { throw refuse(books: &books, key, "no such payment") }
            switch hold.state {
            case .authorized, .pendingVerification:
                books.holds[reference]?.state = .voided
                books.effects.append(Effect(call: .void, key: key, reference: reference, amount: hold.amount))
            case .voided: break
            case .captured: throw refuse(books: &books, key, "cannot void a captured payment")
            }
        }
    }

    func refund(reference: String, amount: Int64, currency: String, idempotencyKey key: String)
        async throws(ProviderError)
    {
        let fault = try await before(.refund, key)
        try act(key, fault) { books throws(ProviderError) in
            guard let hold = books.holds[reference], hold.state == .captured else {
                throw refuse(books: &books, key, "nothing captured to refund")
            }
            guard hold.refunded + amount <= hold.captured else {
                books.violations.append(
                    "\(reference) refund of \(amount) under \(key) beyond the capture (\(hold.refunded) of "
                        + "\(hold.captured) refunded)")
                throw refuse(books: &books, key, "refund above what is left")
            }
            books.holds[reference]?.refunded += amount
            books.effects.append(Effect(call: .refund, key: key, reference: reference, amount: amount))
        }
    }

    func status(idempotencyKey key: String) async throws(ProviderError) -> ProviderCallStatus {
        let fault = try await before(.status, key)
        if fault == .timeoutAfterActing || fault == .unknownOutcome {
            throw ProviderError("status: no answer", kind: .unknown)
        }
        return books.withLock { books in
            if let left = books.processing[key], left > 0 {
                books.processing[key] = left - 1
                return .processing
            }
            return books.results[key] ?? .notFound
        }
    }

    func verifyWebhook(signature: String?, body: [UInt8], now: Int64) throws(ProviderError) -> ProviderEvent {
        try webhooks.verifyWebhook(signature: signature, body: body, now: now)
    }

    // MARK: - Faults

    /// Counts the call and applies what happens before the provider acts; returns the fault for `after`.
    private func before(_ call: Call, _ key: String) async throws(ProviderError) -> Fault? {
        let fault = books.withLock { books -> Fault? in
            let counter = "\(call.rawValue) \(key)"
            let made = books.calls[counter, default: 0]
            books.calls[counter] = made + 1
            let fault = plan.withLock { $0 }(call, key, made)
            if let fault { books.faults["\(fault)".prefix { $0 != "(" }.description, default: 0] += 1 }
            return fault
        }
        switch fault {
        case .serverError: throw ProviderError("503 service unavailable", kind: .unavailable)
        case .timeoutBeforeActing: throw ProviderError("timed out before the provider got it", kind: .unknown)
        case .slow(let delay): try? await Task.sleep(for: delay)
        default: break
        }
        return fault
    }

    /// What happens after the provider acted.
    private func after(_ fault: Fault?, _ key: String) throws(ProviderError) {
        switch fault {
        case .timeoutAfterActing: throw ProviderError("timed out after the provider acted", kind: .unknown)
        case .unknownOutcome:
            books.withLock { $0.processing[key] = 2 }
            throw ProviderError("accepted; the outcome is not known yet", kind: .unknown)
        default: break
        }
    }

    /// A capture, void or refund: answered from the first call with the key, else `body` acts (a decline fault
    /// refuses instead).
    private func act(_ key: String, _ fault: Fault?, _ body: (inout Books) throws(ProviderError) -> Void)
        throws(ProviderError)
    {
        let outcome: Result<Void, ProviderError> = books.withLock { books in
            switch books.results[key] {
            case .succeeded: return .success(())
            case .refused(let reason): return .failure(ProviderError(reason, kind: .refused))
            default: break
            }
            if fault == .decline { return .failure(refuse(books: &books, key, "declined by the issuer")) }
            do throws(ProviderError) {
                try body(&books)
                books.results[key] = .succeeded
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try outcome.get()
        try after(fault, key)
    }

    private func refuse(books: inout Books, _ key: String, _ reason: String) -> ProviderError {
        books.results[key] = .refused(reason: reason)
        return ProviderError(reason, kind: .refused)
    }
}
