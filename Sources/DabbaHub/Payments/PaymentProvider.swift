import DabbaCore
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// What a card authorization asks a provider.
public struct ProviderAuthorization: Sendable, Equatable {
    /// Our payment id: the provider's idempotency key for this authorization.
    public var paymentID: String
    public var amount: Int64
    public var currency: String
    public var cardNumber: String
}

/// A provider's answer to an authorization.
public enum ProviderAuthorizationResult: Sendable, Equatable {
    case authorized(reference: String)
    case declined(reference: String?, reason: String)
    /// The card needs verification (3-D Secure and the like); a webhook reports the outcome later.
    case pendingVerification(reference: String)
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

/// Why a provider call failed (network, provider down, bad webhook).
public struct ProviderError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A card payment gateway. Real gateways are adapters behind this protocol; every call carries our payment (or
/// refund) id so that a retried call after a crash is deduplicated at the provider.
public protocol PaymentProvider: Sendable {
    /// The name in URLs (`/v1/payments/webhooks/{name}`) and in ledger accounts.
    var name: String { get }
    func authorize(_ request: ProviderAuthorization) async throws(ProviderError) -> ProviderAuthorizationResult
    func capture(reference: String, amount: Int64, currency: String, idempotencyKey: String)
        async throws(ProviderError)
    func void(reference: String, idempotencyKey: String) async throws(ProviderError)
    func refund(reference: String, amount: Int64, currency: String, idempotencyKey: String)
        async throws(ProviderError)
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
    /// Provider-side memory of authorizations by our payment id, so a retried call gets the same reference.
    private let references = Mutex<[String: String]>([:])

    public init(webhookSecret: String, tolerance: Int64 = 300) {
        self.secret = webhookSecret
        self.tolerance = tolerance
    }

    public func authorize(_ request: ProviderAuthorization) async throws(ProviderError) -> ProviderAuthorizationResult {
        let reference = references.withLock { refs in
            if let known = refs[request.paymentID] { return known }
            let new = "tp_" + AuthRandom.token(bytes: 12)
            refs[request.paymentID] = new
            return new
        }
        switch request.cardNumber {
        case Self.declines: return .declined(reference: reference, reason: "card_declined")
        case Self.insufficientFunds: return .declined(reference: reference, reason: "insufficient_funds")
        case Self.requiresVerification: return .pendingVerification(reference: reference)
        default: return .authorized(reference: reference)
        }
    }

    public func capture(reference: String, amount: Int64, currency: String, idempotencyKey: String)
        async throws(ProviderError)
    {}

    public func void(reference: String, idempotencyKey: String) async throws(ProviderError) {}

    public func refund(reference: String, amount: Int64, currency: String, idempotencyKey: String)
        async throws(ProviderError)
    {}

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
