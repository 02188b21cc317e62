import DabbaCore
import HubModel
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

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
package final class TestPaymentProvider: PaymentProvider {
    package static let succeeds = "4242424242424242"
    package static let declines = "4000000000000002"
    package static let insufficientFunds = "4000000000009995"
    package static let requiresVerification = "4000000000003220"

    package let name = "test"
    let secret: String
    let tolerance: Int64
    /// Provider-side memory of calls by idempotency key (a retried authorization gets the same reference; the
    /// status of any call can be asked). In memory: after a restart every key is unknown again, which is safe,
    /// since calling again with a key is.
    private let calls = Mutex<[String: ProviderCallStatus]>([:])

    package init(webhookSecret: String, tolerance: Int64 = 300) {
        self.secret = webhookSecret
        self.tolerance = tolerance
    }

    package func authorize(_ request: ProviderAuthorization) async throws(ProviderError) -> ProviderAuthorizationResult
    {
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

    package func capture(reference: String, amount: Int64, currency: String, idempotencyKey: String)
        async throws(ProviderError)
    { succeed(idempotencyKey) }

    package func void(reference: String, idempotencyKey: String) async throws(ProviderError) { succeed(idempotencyKey) }

    package func refund(reference: String, amount: Int64, currency: String, idempotencyKey: String)
        async throws(ProviderError)
    { succeed(idempotencyKey) }

    package func status(idempotencyKey: String) async throws(ProviderError) -> ProviderCallStatus {
        calls.withLock { $0[idempotencyKey] ?? .notFound }
    }

    private func succeed(_ key: String) { calls.withLock { $0[key] = .succeeded } }

    package func verifyWebhook(signature: String?, body: [UInt8], now: Int64) throws(ProviderError) -> ProviderEvent {
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
    package func signedWebhook(_ event: ProviderEvent, timestamp: Int64) -> (signature: String, body: [UInt8]) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let body = Array((try? encoder.encode(event)) ?? Data())
        return (WebhookSignature.sign(body: body, secret: secret, timestamp: timestamp), body)
    }
}

/// The providers a hub knows, by name.
package struct PaymentProviders: Sendable {
    package let all: [String: any PaymentProvider]
    package init(_ providers: [any PaymentProvider]) {
        all = Dictionary(providers.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    }
    package subscript(name: String) -> (any PaymentProvider)? { all[name] }
}

/// Card numbers: 12 to 19 digits passing the Luhn check.
package enum CardNumber {
    /// True for 12 to 19 ASCII digits whose Luhn sum is a multiple of 10.
    package static func isValid(_ number: String) -> Bool {
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
