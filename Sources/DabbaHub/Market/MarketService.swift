import DabbaCore
import HubModel
import Logging

/// The marketplace's writes: who may change a restaurant, its menu or a zone, every field's validation (422 naming
/// the field), then the repository. Controllers decode requests and call this; they never write to the repository.
///
/// Access: operators manage every restaurant; a restaurant user manages the restaurants they own, and another's
/// restaurant is "not found" to them, like an unknown id (``MarketRepository/managedRestaurant(_:by:)``). Zones are
/// the operators' (the route's access rule says so).
struct MarketService<Repository: MarketRepository>: Sendable {
    let repository: Repository

    /// Creates a restaurant for its owner: the operator names a restaurant user, a restaurant user creates their own.
    func createRestaurant(_ input: RestaurantInput, by caller: Identity, logger: Logger) async throws -> Restaurant {
        let owner: Int64
        if caller.role == .operator {
            guard let id = input.ownerUserID else {
                throw APIError.invalid("ownerUserID: operators name the restaurant user who owns it")
            }
            owner = id
        } else {
            guard input.ownerUserID == nil || input.ownerUserID == caller.userID else {
                throw APIError.invalid("ownerUserID: restaurant users create restaurants for themselves")
            }
            owner = caller.userID
        }
        let restaurant = try validating { () throws(MarketError) in
            Restaurant(
                id: MarketID.make("r"), name: try MarketValidation.name(input.name, field: "name"),
                address: try MarketValidation.name(input.address, field: "address", max: 300),
                location: try MarketValidation.point(input.location, field: "location"), ownerUserID: owner,
                currency: try MarketValidation.currency(input.currency), paused: input.paused ?? false,
                hours: try OpeningHours(timezone: input.hours.timezone, hours: input.hours.hours ?? [:]))
        }
        let stored: Restaurant
        do throws(StoreError) {
            stored = try await repository.createRestaurant(restaurant)
        } catch {
            // The one not-found here is the owner: a field of the body.
            if error.code == .notFound { throw APIError.invalid("ownerUserID: no restaurant user \(owner)") }
            throw error
        }
        logger.notice("Restaurant created", metadata: ["restaurant.id": "\(stored.id)", "user.id": "\(owner)"])
        return stored
    }

    /// Applies `change` to the restaurant `id` the caller manages.
    func updateRestaurant(_ id: String, _ change: RestaurantChange, by caller: Identity) async throws -> Restaurant {
        var restaurant = try await repository.managedRestaurant(id, by: caller)
        if let owner = change.ownerUserID, owner != restaurant.ownerUserID {
            guard caller.role == .operator else {
                throw APIError.invalid("ownerUserID: only operators change the owner")
            }
            restaurant.ownerUserID = owner
        }
        try validating { () throws(MarketError) in
            if let name = change.name { restaurant.name = try MarketValidation.name(name, field: "name") }
            if let address = change.address {
                restaurant.address = try MarketValidation.name(address, field: "address", max: 300)
            }
            if let location = change.location {
                restaurant.location = try MarketValidation.point(location, field: "location")
            }
            if let currency = change.currency { restaurant.currency = try MarketValidation.currency(currency) }
            if let hours = change.hours {
                restaurant.hours = try OpeningHours(timezone: hours.timezone, hours: hours.hours ?? [:])
            }
            if let paused = change.paused { restaurant.paused = paused }
        }
        do throws(StoreError) {
            return try await repository.updateRestaurant(restaurant)
        } catch {
            if error.code == .notFound, try await repository.restaurant(id: restaurant.id) != nil {
                throw APIError.invalid("ownerUserID: no restaurant user \(restaurant.ownerUserID)")
            }
            throw error
        }
    }

    /// Pauses (no new orders) or unpauses the restaurant `id`; a no-op when it already is.
    func setPaused(_ paused: Bool, restaurant id: String, by caller: Identity, logger: Logger) async throws
        -> Restaurant
    {
        var restaurant = try await repository.managedRestaurant(id, by: caller)
        guard restaurant.paused != paused else { return restaurant }
        restaurant.paused = paused
        restaurant = try await repository.updateRestaurant(restaurant)
        logger.notice(
            paused ? "Restaurant paused" : "Restaurant unpaused", metadata: ["restaurant.id": "\(restaurant.id)"])
        return restaurant
    }

    /// Creates a zone (operators).
    func createZone(_ input: ZoneInput, logger: Logger) async throws -> Zone {
        guard let name = input.name, let polygon = input.polygon, let fee = input.deliveryFee,
            let currency = input.currency
        else { throw APIError.invalid("name, polygon, deliveryFee and currency are required") }
        let zone = try validating { () throws(MarketError) in
            try Zone(
                id: MarketID.make("z"), name: name, polygon: try Self.ring(polygon), deliveryFee: fee,
                currency: currency, active: input.active ?? true
            ).validated()
        }
        let stored = try await repository.createZone(zone)
        logger.notice("Zone created", metadata: ["zone.id": "\(stored.id)"])
        return stored
    }

    /// Applies `change` to `zone` (operators) and stores it.
    func updateZone(_ zone: Zone, _ change: ZoneInput) async throws -> Zone {
        let next = try validating { () throws(MarketError) in
            var next = zone
            if let name = change.name { next.name = name }
            if let polygon = change.polygon { next.polygon = try Self.ring(polygon) }
            if let fee = change.deliveryFee { next.deliveryFee = fee }
            if let currency = change.currency { next.currency = currency }
            if let active = change.active { next.active = active }
            return try next.validated()
        }
        return try await repository.updateZone(next)
    }

    /// `[[lon, lat]…]` → points; each pair must have exactly two numbers.
    static func ring(_ pairs: [[Double]]) throws(MarketError) -> [GeoPoint] {
        guard pairs.count <= Zone.maxVertices + 1 else {
            throw MarketError("polygon", "at most \(Zone.maxVertices) points")
        }
        return try pairs.enumerated().map { (i, pair) throws(MarketError) in
            guard pair.count == 2 else { throw MarketError("polygon[\(i)]", "expected [lon, lat]") }
            return GeoPoint(lat: pair[1], lon: pair[0])
        }
    }
}
