import HubModel

/// How each paged listing reads the cursor a client passes back (the `decode` of its ``PageRequest``): nil for a
/// text that is not a cursor of that listing (400). Named here, outside the generic controllers, so that the
/// `cursor` fuzz target runs exactly these functions.
package enum ListingCursor {
    /// `GET /v1/agents/{id}/positions`: the last row's time and seq.
    package static func position(_ text: String) -> (time: Int64, seq: Int64)? {
        guard let fields = PageCursor.decode(text, fields: 2), let time = Int64(fields[0]), let seq = Int64(fields[1])
        else { return nil }
        return (time, seq)
    }

    /// `GET /v1/orders`: the last row's creation time and id.
    package static func order(_ text: String) -> (createdAt: Int64, id: String)? {
        guard let fields = PageCursor.decode(text, fields: 2), let time = Int64(fields[0]) else { return nil }
        return (time, fields[1])
    }

    /// `GET /v1/zones`: the last zone's id.
    package static func zone(_ text: String) -> String? { PageCursor.decode(text, fields: 1)?[0] }

    /// `GET /v1/restaurants`: a cursor of the same kind of listing (by distance exactly when `near` is given).
    package static func restaurant(_ text: String, near: GeoPoint?) -> RestaurantCursor? {
        RestaurantCursor(encoded: text).flatMap { ($0.distance != nil) == (near != nil) ? $0 : nil }
    }

    /// `GET /v1/agents/{id}/seq-conflicts`: the last conflict's id, at least 0.
    package static func seqConflict(_ text: String) -> Int64? { Int64(text).flatMap { $0 >= 0 ? $0 : nil } }

    /// `GET /v1/ledger/statement?before=`: an entry id.
    package static func statementBefore(_ text: String) -> Int64? { Int64(text) }

    /// `GET /v1/webhooks/{id}/deliveries?before=`: a delivery id, at least 1.
    package static func deliveryBefore(_ text: String) -> Int64? { Int64(text).flatMap { $0 > 0 ? $0 : nil } }
}
