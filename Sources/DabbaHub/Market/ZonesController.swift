import HubModel
import Hummingbird

/// `/v1/zones`: operators manage service areas; anyone may ask which zone serves a point.
struct ZonesController<Repository: MarketRepository> {
    let market: MarketService<Repository>
    var repository: Repository { market.repository }

    func addRoutes(to router: some RouterMethods<HubRequestContext>) {
        router.group("v1", access: .public).get("zones/lookup", use: lookup)
        let operators = router.group("v1", access: .roles([.operator]))
        operators.get("zones", use: list)
        operators.post("zones", use: create)
        operators.get("zones/:id", use: show)
        operators.patch("zones/:id", use: update)
    }

    @Sendable func lookup(_ request: Request, context: HubRequestContext) async throws -> ZoneLookupView {
        guard let point = try QueryReader(query: request.uri.queryParameters).point() else {
            throw APIError.badRequest("lat and lon are required")
        }
        guard let zone = try await repository.zone(containing: point) else { throw APIError.notServed }
        return ZoneLookupView(id: zone.id, name: zone.name, deliveryFee: zone.deliveryFee, currency: zone.currency)
    }

    @Sendable func list(_ request: Request, context: HubRequestContext) async throws -> ZonePage {
        let request = try PageRequest(
            request.uri.queryParameters, limit: 1...100, default: 50, decode: ListingCursor.zone)
        let page = try await request.read { try await repository.zones(after: $0, limit: $1) }
        return ZonePage(zones: page.rows.map(ZoneView.init), next: page.next { PageCursor.encode($0.id) })
    }

    @Sendable func create(_ request: Request, context: HubRequestContext) async throws -> EditedResponse<ZoneView> {
        let input = try await request.decode(as: ZoneInput.self, context: context)
        let zone = try await market.createZone(input, logger: context.logger)
        return EditedResponse(status: .created, response: ZoneView(zone))
    }

    @Sendable func show(_ request: Request, context: HubRequestContext) async throws -> ZoneView {
        ZoneView(try await existing(context))
    }

    @Sendable func update(_ request: Request, context: HubRequestContext) async throws -> ZoneView {
        let zone = try await existing(context)
        let input = try await request.decode(as: ZoneInput.self, context: context)
        return ZoneView(try await market.updateZone(zone, input))
    }

    private func existing(_ context: HubRequestContext) async throws -> Zone {
        let id = try context.parameters.require("id")
        // Two steps, not `try await` among guard conditions: Swift 6.3.1 -O crashed in LLVM CoroSplit on that.
        guard MarketID.plausible(id) else { throw APIError.notFound("no zone \(id)") }
        guard let zone = try await repository.zone(id: id) else { throw APIError.notFound("no zone \(id)") }
        return zone
    }
}
