import DabbaCore
import HubModel

/// The bodies and query parameters of the payment and ledger routes (``PaymentsController``) and their checks, kept
/// outside the generic controller so that the `payment` and `query` fuzz targets run exactly these functions.
package enum PaymentRequests {
    /// `POST /v1/orders/{id}/payments`.
    package struct Authorize: Decodable {
        /// The card number (only its last four digits are kept).
        package var card: String
    }

    /// `POST /v1/payments/{id}/refunds`.
    package struct Refund: Decodable {
        package var amount: Int64
        package var reason: String?
    }

    /// `POST /v1/ledger/cash-handins`.
    package struct HandIn: Decodable {
        package var agent: String
        package var amount: Int64
        package var currency: String
        package var note: String?
    }

    /// A free-text `reason` or `note`: at most 500 characters (422 naming the field).
    package static func checkNote(_ text: String?, field: String) throws(APIError) {
        try APIError.checkFreeText(text, field: field)
    }

    /// A refund's amount: 1 … ``Money/maxAmount`` minor units (422).
    package static func checkRefundAmount(_ amount: Int64) throws(APIError) {
        guard amount > 0, amount <= Money.maxAmount else { throw .invalid("amount: a positive number of minor units") }
    }

    /// A cash hand-in's amount (1 … ``Money/maxAmount`` minor units) and currency (an ISO 4217 code).
    package static func checkHandIn(amount: Int64, currency: String) throws(PaymentServiceError) {
        guard amount > 0, amount <= Money.maxAmount else { throw .invalid("amount: a positive number of minor units") }
        guard Money.isCurrency(currency) else { throw .invalid("currency: expected an ISO 4217 code such as INR") }
    }

    /// The `currency` query parameter of the ledger routes: required, an ISO 4217 code (400).
    package static func currency(_ text: String?) throws(APIError) -> String {
        guard let text, Money.isCurrency(text) else {
            throw .badRequest("currency: expected an ISO 4217 code such as INR")
        }
        return text
    }

    /// The `date` query parameter of the reconciliation: `YYYY-MM-DD`.
    package static func isDate(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        return text.utf8.count == 10 && parts.count == 3 && parts[0].count == 4 && parts[1].count == 2
            && parts[2].count == 2 && parts.allSatisfy { $0.allSatisfy(\.isNumber) }
    }

    /// The `amount` query parameter of an agent's cash view: 0 … ``Money/maxAmount`` minor units, 0 when absent (400).
    package static func cashAmount(_ text: String?) throws(APIError) -> Int64 {
        guard let text else { return 0 }
        guard let value = Int64(text), (0...Money.maxAmount).contains(value) else {
            throw .badRequest("amount: expected minor units")
        }
        return value
    }
}
