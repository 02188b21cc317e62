import DabbaCore
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// What a card authorization asks a provider.
public struct ProviderAuthorization: Sendable, Equatable {
    /// Our payment id.
    public var paymentID: String
    /// The provider's idempotency key for this authorization (``PaymentOperation/authorizeKey(payment:)``): a
    /// repeated call with it returns the first call's answer and places no second hold.
    public var idempotencyKey: String
    public var amount: Int64
    public var currency: String
    public var cardNumber: String

    public init(paymentID: String, amount: Int64, currency: String, cardNumber: String) {
        self.paymentID = paymentID
        self.idempotencyKey = PaymentOperation.authorizeKey(payment: paymentID)
        self.amount = amount
        self.currency = currency
        self.cardNumber = cardNumber
    }
}

/// A provider's answer to an authorization.
public enum ProviderAuthorizationResult: Sendable, Equatable {
    case authorized(reference: String)
    case declined(reference: String?, reason: String)
    /// The card needs verification (3-D Secure and the like); a webhook reports the outcome later.
    case pendingVerification(reference: String)
}

/// What a provider knows about one call, asked by its idempotency key (``PaymentProvider/status(idempotencyKey:)``):
/// how the hub reconciles a call whose outcome it does not know before it calls again.
public enum ProviderCallStatus: Sendable, Equatable {
    /// The provider has no call with this key: it never acted on it, and calling again with the key is safe.
    case notFound
    /// The provider has the call and has not finished it: ask again later.
    case processing
    /// An authorization finished with this result.
    case authorization(ProviderAuthorizationResult)
    /// A capture, void or refund took effect.
    case succeeded
    /// A capture, void or refund was refused: nothing happened.
    case refused(reason: String)
}

/// A verified provider webhook event.
public struct ProviderEvent: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable {
        /// Verification succeeded: the payment is authorized.
        case authorized = "payment.authorized"
        /// Verification failed: the payment failed.
        case failed = "payment.failed"
        /// Verification is still running (informational).
        case processing = "payment.processing"
    }
    /// Unique per provider: each is applied exactly once.
    public var id: String
    public var type: Kind
    /// The provider's payment reference.
    public var payment: String
    /// Order of events of one payment at the provider: an event older than one already applied is ignored.
    public var sequence: Int64
    public var reason: String?

    public init(id: String, type: Kind, payment: String, sequence: Int64, reason: String? = nil) {
        self.id = id
        self.type = type
        self.payment = payment
        self.sequence = sequence
        self.reason = reason
    }
}

/// Why a provider call failed, and what that says about its effect. Every call carries an idempotency key derived
/// from our own stored state, so repeating a call with its key is always safe; the kind says whether the hub must
/// first ask the provider what happened (``PaymentProvider/status(idempotencyKey:)``).
public struct ProviderError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Kind: RawRepresentable, Hashable, Sendable {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The provider answered that it did not and will not do it (a capture of a voided hold, a refund above what
        /// is left): final, nothing happened.
        public static let refused = Kind(rawValue: "refused")
        /// The provider answered with an error of its own (5xx, overloaded): it did not act; the call may be
        /// repeated with the same key later.
        public static let unavailable = Kind(rawValue: "unavailable")
        /// No answer, or one that does not say (a timeout, a connection lost after the request was sent): the
        /// provider may or may not have acted. Reconciled with a status query before anything else.
        public static let unknown = Kind(rawValue: "unknown")
    }
    public var kind: Kind
    public var message: String
    /// An error whose effect is `kind` (by default unknown: what is not known to have failed may have happened).
    public init(_ message: String, kind: Kind = .unknown) {
        self.kind = kind
        self.message = message
    }
    public var description: String { message }
}

/// A card payment gateway. Real gateways are adapters behind this protocol. Every call carries an idempotency key
/// derived from durable state (``PaymentOperation``: `authorize-<payment>`, `capture-<payment>`, `void-<payment>`,
/// `refund-<payment>-<event or refund>`), never a fresh random id: a call repeated after a crash, a timeout or on
/// another hub is deduplicated by the provider, and ``status(idempotencyKey:)`` tells what became of a call whose
/// answer was lost.
public protocol PaymentProvider: Sendable {
    /// The name in URLs (`/v1/payments/webhooks/{name}`) and in ledger accounts.
    var name: String { get }
    func authorize(_ request: ProviderAuthorization) async throws(ProviderError) -> ProviderAuthorizationResult
    func capture(reference: String, amount: Int64, currency: String, idempotencyKey: String)
        async throws(ProviderError)
    func void(reference: String, idempotencyKey: String) async throws(ProviderError)
    func refund(reference: String, amount: Int64, currency: String, idempotencyKey: String)
        async throws(ProviderError)
    /// What became of the call made with `idempotencyKey` (reconciliation of unknown outcomes).
    func status(idempotencyKey: String) async throws(ProviderError) -> ProviderCallStatus
    /// Verifies a webhook request (signature over timestamp and the raw body, timestamp tolerance) and decodes it.
    /// `now` is unix seconds.
    func verifyWebhook(signature: String?, body: [UInt8], now: Int64) throws(ProviderError) -> ProviderEvent
}

/// The built-in test provider: everything runs on one machine. Test card numbers (any other valid number is
/// authorized):
///
/// | number | outcome |
/// |---|---|
/// | `4242424242424242` | authorized |
/// | `4000000000000002` | declined (`card_declined`) |
/// | `4000000000009995` | declined (`insufficient_funds`) |
/// | `4000000000003220` | needs verification: `requires_payment` until a `payment.authorized` or `payment.failed` webhook |
///
/// Webhooks: `POST /v1/payments/webhooks/test` with `Dabba-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
/// "<t>." + body>` (the same scheme as the hub's own outgoing webhooks, ``WebhookSignature``), keyed with
/// `payment-webhook-secret`, 5 minutes' tolerance; body `{"id","type","payment","sequence","reason"?}`.
public final class TestPaymentProvider: PaymentProvider {
    public static let succeeds = "4242424242424242"
    public static let declines = "4000000000000002"
    public static let insufficientFunds = "4000000000009995"
    public static let requiresVerification = "4000000000003220"

    public let name = "test"
    let secret: String
    let tolerance: Int64
    /// Provider-side memory of calls by idempotency key (a retried authorization gets the same reference; the
    /// status of any call can be asked). In memory: after a restart every key is unknown again, which is safe,
    /// since calling again with a key is.
    private let calls = Mutex<[String: ProviderCallStatus]>([:])

    public init(webhookSecret: String, tolerance: Int64 = 300) {
        self.secret = webhookSecret
        self.tolerance = tolerance
    }

    public func authorize(_ request: ProviderAuthorization) async throws(ProviderError) -> ProviderAuthorizationResult {
        calls.withLock { calls in
            if case .authorization(let known) = calls[request.idempotencyKey] { return known }
            let reference = "tp_" + AuthRandom.token(bytes: 12)
            let result: ProviderAuthorizationResult
            switch request.cardNumber {
            case Self.declines: result = .declined(reference: reference, reason: "card_declined")
            case Self.insufficientFunds: result = .declined(reference: reference, reason: "insufficient_funds")
            case Self.requiresVerification: result = .pendingVerification(reference: reference)
            default: result = .authorized(reference: reference)
            }
            calls[request.idempotencyKey] = .authorization(result)
            return result
        }
    }

    public func capture(reference: String, amount: Int64, currency: String, idempotencyKey: String)
        async throws(ProviderError)
    { succeed(idempotencyKey) }

    public func void(reference: String, idempotencyKey: String) async throws(ProviderError) { succeed(idempotencyKey) }

    public func refund(reference: String, amount: Int64, currency: String, idempotencyKey: String)
        async throws(ProviderError)
    { succeed(idempotencyKey) }

    public func status(idempotencyKey: String) async throws(ProviderError) -> ProviderCallStatus {
        calls.withLock { $0[idempotencyKey] ?? .notFound }
    }

    private func succeed(_ key: String) { calls.withLock { $0[key] = .succeeded } }

    public func verifyWebhook(signature: String?, body: [UInt8], now: Int64) throws(ProviderError) -> ProviderEvent {
        guard let signature else { throw ProviderError("missing \(WebhookSignature.header) header") }
        do {
            try WebhookSignature.verify(header: signature, body: body, secret: secret, now: now, tolerance: tolerance)
        } catch {
            throw ProviderError("signature: \(error.message)")
        }
        do {
            return try JSONDecoder().decode(ProviderEvent.self, from: Data(body))
        } catch {
            throw ProviderError("body: expected {\"id\",\"type\",\"payment\",\"sequence\"}")
        }
    }

    /// A signed webhook as the test provider would send it (tests, demos): the header value and the body.
    public func signedWebhook(_ event: ProviderEvent, timestamp: Int64) -> (signature: String, body: [UInt8]) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let body = Array((try? encoder.encode(event)) ?? Data())
        return (WebhookSignature.sign(body: body, secret: secret, timestamp: timestamp), body)
    }
}

/// The providers a hub knows, by name.
public struct PaymentProviders: Sendable {
    public let all: [String: any PaymentProvider]
    public init(_ providers: [any PaymentProvider]) {
        all = Dictionary(providers.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    }
    public subscript(name: String) -> (any PaymentProvider)? { all[name] }
}

/// Card numbers: 12 to 19 digits passing the Luhn check.
enum CardNumber {
    static func isValid(_ number: String) -> Bool {
        let digits = number.utf8.map { Int($0) - 48 }
        guard (12...19).contains(digits.count), digits.allSatisfy({ (0...9).contains($0) }) else { return false }
        var sum = 0
        for (index, digit) in digits.reversed().enumerated() {
            if index % 2 == 1 {
                let doubled = digit * 2
                sum += doubled > 9 ? doubled - 9 : doubled
            } else {
                sum += digit
            }
        }
        return sum % 10 == 0
    }
}
