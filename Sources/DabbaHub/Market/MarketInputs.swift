import HubModel

/// Opening hours as requests carry them: an IANA time zone and, per weekday, `[["HH:MM","HH:MM"]…]`.
struct HoursInput: Decodable, Sendable {
    var timezone: String
    var hours: [String: [[String]]]?
}

/// A new restaurant. Operators name its owner (a restaurant user); restaurant users create their own.
struct RestaurantInput: Decodable, Sendable {
    var name: String
    var address: String
    var location: GeoPoint
    var currency: String
    var hours: HoursInput
    var ownerUserID: Int64?
    var paused: Bool?
}

/// Changes to a restaurant; absent fields stay as they are. Only operators change the owner.
struct RestaurantChange: Decodable, Sendable {
    var name: String?
    var address: String?
    var location: GeoPoint?
    var currency: String?
    var hours: HoursInput?
    var ownerUserID: Int64?
    var paused: Bool?
}

/// A delivery zone, new (name, polygon, fee and currency required) or changed (absent fields stay).
struct ZoneInput: Decodable, Sendable {
    var name: String?
    /// A ring of `[lon, lat]` pairs, closed or not.
    var polygon: [[Double]]?
    var deliveryFee: Int64?
    var currency: String?
    var active: Bool?
}
