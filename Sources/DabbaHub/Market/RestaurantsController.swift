import DabbaCore
import HubModel
import Hummingbird

/// `/v1/restaurants`: browsing is public; operators manage every restaurant (creating them for a restaurant
/// user), restaurant users create and manage their own. A restaurant another user owns is "not found" to a
/// restaurant user, like an unknown id.
struct RestaurantsController<Repository: MarketRepository> {
    let repository: Repository
    /// The current time in UTC milliseconds (open-now checks); tests may pin it.
    var now: @Sendable () -> Int64 = { wallClockMilliseconds() }

    struct HoursInput: Decodable {
        var timezone: String
        var hours: [String: [[String]]]?
    }
    struct CreateRequest: Decodable {
        var name: String
        var address: String
        var location: GeoPoint
        var currency: String
        var hours: HoursInput
        var ownerUserID: Int64?
        var paused: Bool?
    }
    struct UpdateRequest: Decodable {
        var name: String?
        var address: String?
        var location: GeoPoint?
        var currency: String?
        var hours: HoursInput?
        var ownerUserID: Int64?
        var paused: Bool?
    }

    func addRoutes(to router: some RouterMethods<HubRequestContext>) {
        let browse = router.group("v1", access: .public)
        browse.get("restaurants", use: list)
        browse.get("restaurants/:id", use: show)
        let manage = router.group("v1", access: .roles([.operator, .restaurant]))
        manage.post("restaurants", use: create)
        manage.patch("restaurants/:id", use: update)
        manage.post("restaurants/:id/pause", use: pause)
        manage.post("restaurants/:id/unpause", use: unpause)
    }

    @Sendable func list(_ request: Request, context: HubRequestContext) async throws -> RestaurantPage {
        let q = QueryReader(query: request.uri.queryParameters)
        let now = self.now()
        var query = try RestaurantQuery(reading: q, now: now)
        if let owner = q.query.get("owner") {
            let caller = try context.caller()
            if owner == "me" {
                query.owner = caller.userID
            } else {
                guard caller.role == .operator else { throw APIError.forbidden("owner: only operators name an owner") }
                guard let id = Int64(owner) else { throw APIError.badRequest("owner: me or a user id") }
                query.owner = id
            }
        }
        let near = query.near
        let request = try PageRequest(q.query, limit: 1...100, default: 20) { ListingCursor.restaurant($0, near: near) }
        let page = try await request.read { after, limit in
            query.after = after
            query.limit = limit
            return try await repository.restaurants(matching: query)
        }
        return RestaurantPage(
            restaurants: page.rows.map {
                RestaurantView($0.restaurant, caller: context.identity, now: now, distance: $0.distance)
            },
            next: page.next(\.cursor.encoded))
    }

    @Sendable func show(_ request: Request, context: HubRequestContext) async throws -> RestaurantView {
        let id = try context.parameters.require("id")
        // Two steps, not `try await` among guard conditions: Swift 6.3.1 -O crashed in LLVM CoroSplit on that.
        guard MarketID.plausible(id) else { throw APIError.notFound("no restaurant \(id)") }
        guard let restaurant = try await repository.restaurant(id: id) else {
            throw APIError.notFound("no restaurant \(id)")
        }
        return RestaurantView(restaurant, caller: context.identity, now: now())
    }

    @Sendable func create(_ request: Request, context: HubRequestContext) async throws -> EditedResponse<RestaurantView>
    {
        let caller = try context.caller()
        let body = try await request.decode(as: CreateRequest.self, context: context)
        let owner: Int64
        if caller.role == .operator {
            guard let id = body.ownerUserID else {
                throw APIError.invalid("ownerUserID: operators name the restaurant user who owns it")
            }
            owner = id
        } else {
            guard body.ownerUserID == nil || body.ownerUserID == caller.userID else {
                throw APIError.invalid("ownerUserID: restaurant users create restaurants for themselves")
            }
            owner = caller.userID
        }
        let restaurant = try validating { () throws(MarketError) in
            Restaurant(
                id: MarketID.make("r"), name: try MarketValidation.name(body.name, field: "name"),
                address: try MarketValidation.name(body.address, field: "address", max: 300),
                location: try MarketValidation.point(body.location, field: "location"), ownerUserID: owner,
                currency: try MarketValidation.currency(body.currency), paused: body.paused ?? false,
                hours: try OpeningHours(timezone: body.hours.timezone, hours: body.hours.hours ?? [:]))
        }
        let stored: Restaurant
        do throws(StoreError) {
            stored = try await repository.createRestaurant(restaurant)
        } catch {
            // The one not-found here is the owner: a field of the body.
            if error.code == .notFound { throw APIError.invalid("ownerUserID: no restaurant user \(owner)") }
            throw error
        }
        context.logger.notice("Restaurant created", metadata: ["restaurant.id": "\(stored.id)", "user.id": "\(owner)"])
        return EditedResponse(status: .created, response: RestaurantView(stored, caller: caller, now: now()))
    }

    @Sendable func update(_ request: Request, context: HubRequestContext) async throws -> RestaurantView {
        let caller = try context.caller()
        var restaurant = try await repository.managedRestaurant(try context.parameters.require("id"), by: caller)
        let body = try await request.decode(as: UpdateRequest.self, context: context)
        if let owner = body.ownerUserID, owner != restaurant.ownerUserID {
            guard caller.role == .operator else {
                throw APIError.invalid("ownerUserID: only operators change the owner")
            }
            restaurant.ownerUserID = owner
        }
        try validating { () throws(MarketError) in
            if let name = body.name { restaurant.name = try MarketValidation.name(name, field: "name") }
            if let address = body.address {
                restaurant.address = try MarketValidation.name(address, field: "address", max: 300)
            }
            if let location = body.location {
                restaurant.location = try MarketValidation.point(location, field: "location")
            }
            if let currency = body.currency { restaurant.currency = try MarketValidation.currency(currency) }
            if let hours = body.hours {
                restaurant.hours = try OpeningHours(timezone: hours.timezone, hours: hours.hours ?? [:])
            }
            if let paused = body.paused { restaurant.paused = paused }
        }
        let stored: Restaurant
        do throws(StoreError) {
            stored = try await repository.updateRestaurant(restaurant)
        } catch {
            if error.code == .notFound, try await repository.restaurant(id: restaurant.id) != nil {
                throw APIError.invalid("ownerUserID: no restaurant user \(restaurant.ownerUserID)")
            }
            throw error
        }
        return RestaurantView(stored, caller: caller, now: now())
    }

    @Sendable func pause(_ request: Request, context: HubRequestContext) async throws -> RestaurantView {
        try await setPaused(true, context: context)
    }

    @Sendable func unpause(_ request: Request, context: HubRequestContext) async throws -> RestaurantView {
        try await setPaused(false, context: context)
    }

    private func setPaused(_ paused: Bool, context: HubRequestContext) async throws -> RestaurantView {
        let caller = try context.caller()
        var restaurant = try await repository.managedRestaurant(try context.parameters.require("id"), by: caller)
        if restaurant.paused != paused {
            restaurant.paused = paused
            restaurant = try await repository.updateRestaurant(restaurant)
            context.logger.notice(
                paused ? "Restaurant paused" : "Restaurant unpaused", metadata: ["restaurant.id": "\(restaurant.id)"])
        }
        return RestaurantView(restaurant, caller: caller, now: now())
    }
}
