import DabbaCore
import HubModel
import Hummingbird

/// `/v1/restaurants`: browsing is public; operators manage every restaurant (creating them for a restaurant
/// user), restaurant users create and manage their own. A restaurant another user owns is "not found" to a
/// restaurant user, like an unknown id.
struct RestaurantsController<Repository: MarketRepository> {
    let market: MarketService<Repository>
    var repository: Repository { market.repository }
    /// The current time in UTC milliseconds (open-now checks); tests may pin it.
    var now: @Sendable () -> Int64 = { wallClockMilliseconds() }

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
        let input = try await request.decode(as: RestaurantInput.self, context: context)
        let stored = try await market.createRestaurant(input, by: caller, logger: context.logger)
        return EditedResponse(status: .created, response: RestaurantView(stored, caller: caller, now: now()))
    }

    @Sendable func update(_ request: Request, context: HubRequestContext) async throws -> RestaurantView {
        let caller = try context.caller()
        let input = try await request.decode(as: RestaurantChange.self, context: context)
        let stored = try await market.updateRestaurant(try context.parameters.require("id"), input, by: caller)
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
        let restaurant = try await market.setPaused(
            paused, restaurant: try context.parameters.require("id"), by: caller, logger: context.logger)
        return RestaurantView(restaurant, caller: caller, now: now())
    }
}
