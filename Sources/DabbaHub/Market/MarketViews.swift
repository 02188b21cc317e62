import HubModel
import Hummingbird

/// A restaurant as the REST API writes it. `ownerUserID` only for operators and the owner; `distanceM` only in
/// listings near a point; `zoneID` always (null when no zone serves it).
struct RestaurantView: ResponseEncodable, Equatable {
    var restaurant: Restaurant
    var showOwner: Bool
    var openNow: Bool
    var distanceM: Double?

    init(_ restaurant: Restaurant, caller: Identity?, now: Int64, distance: Double? = nil) {
        self.restaurant = restaurant
        showOwner = caller.map { $0.role == .operator || $0.userID == restaurant.ownerUserID } ?? false
        openNow = restaurant.isOpen(at: now)
        distanceM = distance.map { ($0 * 10).rounded() / 10 }
    }

    enum CodingKeys: String, CodingKey {
        case id, name, address, location, zoneID, ownerUserID, currency, paused, hours, openNow, distanceM
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        let r = restaurant
        try c.encode(r.id, forKey: .id)
        try c.encode(r.name, forKey: .name)
        try c.encode(r.address, forKey: .address)
        try c.encode(r.location, forKey: .location)
        try c.encode(r.zoneID, forKey: .zoneID)
        if showOwner { try c.encode(r.ownerUserID, forKey: .ownerUserID) }
        try c.encode(r.currency, forKey: .currency)
        try c.encode(r.paused, forKey: .paused)
        try c.encode(r.hours, forKey: .hours)
        try c.encode(openNow, forKey: .openNow)
        try c.encodeIfPresent(distanceM, forKey: .distanceM)
    }
}

/// A page of restaurants; `next` is always present (null on the last page).
struct RestaurantPage: ResponseEncodable {
    var restaurants: [RestaurantView]
    var next: String?

    enum CodingKeys: String, CodingKey { case restaurants, next }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(restaurants, forKey: .restaurants)
        try c.encode(next, forKey: .next)
    }
}

/// A zone on the wire: the polygon as a closed ring of `[lon, lat]` pairs (GeoJSON order).
struct ZoneView: ResponseEncodable, Equatable {
    var id: String
    var name: String
    var polygon: [[Double]]
    var deliveryFee: Int64
    var currency: String
    var active: Bool

    init(_ zone: Zone) {
        id = zone.id
        name = zone.name
        polygon = Geo.closed(zone.polygon).map { [$0.lon, $0.lat] }
        deliveryFee = zone.deliveryFee
        currency = zone.currency
        active = zone.active
    }
}

struct ZonePage: ResponseEncodable {
    var zones: [ZoneView]
    var next: String?

    enum CodingKeys: String, CodingKey { case zones, next }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(zones, forKey: .zones)
        try c.encode(next, forKey: .next)
    }
}

/// `GET /v1/zones/lookup`: the zone serving a point, without its polygon.
struct ZoneLookupView: ResponseEncodable {
    var id: String
    var name: String
    var deliveryFee: Int64
    var currency: String
}

extension Menu: ResponseEncodable {}
extension MenuItem: ResponseEncodable {}
extension MenuSection: ResponseEncodable {}

extension APIError {
    /// 422 `invalid` naming the field.
    static func invalid(_ error: MarketError) -> APIError { .invalid(error.description) }
    /// 422 `not_served`: no active zone serves the point.
    static var notServed: APIError {
        APIError(.unprocessableContent, code: "not_served", "no active zone serves this point")
    }
}

/// Runs a validation, turning `MarketError` into 422.
func validating<T>(_ body: () throws(MarketError) -> T) throws(APIError) -> T {
    do throws(MarketError) { return try body() } catch { throw .invalid(error) }
}

/// Generates an id with a kind prefix: `r-`, `s-`, `i-`, `z-` and 9 random bytes (12 base64url characters).
enum MarketID {
    static func make(_ prefix: String) -> String { prefix + "-" + AuthRandom.token(bytes: 9) }
    /// Ids in paths longer than this are unknown without asking the store.
    static func plausible(_ id: String) -> Bool { (1...64).contains(id.utf8.count) }
}

extension MarketRepository {
    /// The restaurant `id` as `caller` may manage it: any for operators, their own for restaurant users; 404
    /// otherwise (a foreign restaurant looks like an unknown one).
    func managedRestaurant(_ id: String, by caller: Identity) async throws -> Restaurant {
        // Written as two steps: Swift 6.3.1's release build crashed (signal 11, LLVM CoroSplit "While splitting
        // coroutine …managedRestaurant…") on the single guard with `try await` among its conditions.
        guard MarketID.plausible(id) else { throw APIError.notFound("no restaurant \(id)") }
        let found: Restaurant? = try await restaurant(id: id)
        guard let restaurant = found,
            caller.role == .operator || (caller.role == .restaurant && restaurant.ownerUserID == caller.userID)
        else { throw APIError.notFound("no restaurant \(id)") }
        return restaurant
    }
}
