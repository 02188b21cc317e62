import DabbaCore
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// What a card authorization asks a provider.
package struct ProviderAuthorization: Sendable, Equatable {
    /// Our payment id.
    package var paymentID: String
    /// The provider's idempotency key for this authorization (``PaymentOperation/authorizeKey(payment:)``): a
    /// repeated call with it returns the first call's answer and places no second hold.
    package var idempotencyKey: String
    package var amount: Int64
    package var currency: String
    package var cardNumber: String

    package init(paymentID: String, amount: Int64, currency: String, cardNumber: String) {
        self.paymentID = paymentID
        self.idempotencyKey = PaymentOperation.authorizeKey(payment: paymentID)
        self.amount = amount
        self.currency = currency
        self.cardNumber = cardNumber
    }
}

/// A provider's answer to an authorization.
package enum ProviderAuthorizationResult: Sendable, Equatable {
    case authorized(reference: String)
    case declined(reference: String?, reason: String)
    /// The card needs verification (3-D Secure and the like); a webhook reports the outcome later.
    case pendingVerification(reference: String)
}

/// What a provider knows about one call, asked by its idempotency key (``PaymentProvider/status(idempotencyKey:)``):
/// how the hub reconciles a call whose outcome it does not know before it calls again.
package enum ProviderCallStatus: Sendable, Equatable {
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
package struct ProviderEvent: Sendable, Equatable, Codable {
    package enum Kind: String, Sendable, Codable {
        /// Verification succeeded: the payment is authorized.
        case authorized = "payment.authorized"
        /// Verification failed: the payment failed.
        case failed = "payment.failed"
        /// Verification is still running (informational).
        case processing = "payment.processing"
    }
    /// Unique per provider: each is applied exactly once.
    package var id: String
    package var type: Kind
    /// The provider's payment reference.
    package var payment: String
    /// Order of events of one payment at the provider: an event older than one already applied is ignored.
    package var sequence: Int64
    package var reason: String?

    package init(id: String, type: Kind, payment: String, sequence: Int64, reason: String? = nil) {
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
package struct ProviderError: Error, Sendable, Equatable, CustomStringConvertible {
    package struct Kind: RawRepresentable, Hashable, Sendable {
        package var rawValue: String
        package init(rawValue: String) { self.rawValue = rawValue }
        /// The provider answered that it did not and will not do it (a capture of a voided hold, a refund above what
        /// is left): final, nothing happened.
        package static let refused = Kind(rawValue: "refused")
        /// The provider answered with an error of its own (5xx, overloaded): it did not act; the call may be
        /// repeated with the same key later.
        package static let unavailable = Kind(rawValue: "unavailable")
        /// No answer, or one that does not say (a timeout, a connection lost after the request was sent): the
        /// provider may or may not have acted. Reconciled with a status query before anything else.
        package static let unknown = Kind(rawValue: "unknown")
    }
    package var kind: Kind
    package var message: String
    /// An error whose effect is `kind` (by default unknown: what is not known to have failed may have happened).
    package init(_ message: String, kind: Kind = .unknown) {
        self.kind = kind
        self.message = message
    }
    package var description: String { message }
}

/// A card payment gateway. Real gateways are adapters behind this protocol. Every call carries an idempotency key
/// derived from durable state (``PaymentOperation``: `authorize-<payment>`, `capture-<payment>`, `void-<payment>`,
/// `refund-<payment>-<event or refund>`), never a fresh random id: a call repeated after a crash, a timeout or on
/// another hub is deduplicated by the provider, and ``status(idempotencyKey:)`` tells what became of a call whose
/// answer was lost.
package protocol PaymentProvider: Sendable {
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
