import HubModel

/// The query parameters of `GET /v1/orders` that are read the same for every role (400 naming the parameter), kept
/// outside the generic controller so that the `query` fuzz target runs exactly these functions.
package enum OrderListQuery {
    /// `customer`: a user id, nil when absent.
    package static func customer(_ text: String?) throws(APIError) -> Int64? {
        guard let text else { return nil }
        guard let id = Int64(text) else { throw .badRequest("customer: expected a user id") }
        return id
    }

    /// `status`: comma-separated order statuses, nil when absent or empty (no filter).
    package static func statuses(_ text: String?) throws(APIError) -> Set<OrderStatus>? {
        guard let text, !text.isEmpty else { return nil }
        var statuses = Set<OrderStatus>()
        for name in text.split(separator: ",") {
            guard let status = OrderStatus(rawValue: String(name)) else {
                throw .badRequest("status: unknown status \(name)")
            }
            statuses.insert(status)
        }
        // Only commas (`status=,,,`) names no status: refused, not read as "every status" (found by the `query` fuzz
        // target, whose invariant is that an accepted filter is never empty).
        guard !statuses.isEmpty else { throw .badRequest("status: name at least one status, comma-separated") }
        return statuses
    }
}
