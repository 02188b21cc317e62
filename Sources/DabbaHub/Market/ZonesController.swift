import HubModel
import Hummingbird

/// `/v1/zones`: operators manage service areas; anyone may ask which zone serves a point.
struct ZonesController<Repository: MarketRepository> {
    let repository: Repository

    struct ZoneRequest: Decodable {
        var name: String?
        /// A ring of `[lon, lat]` pairs, closed or not.
        var polygon: [[Double]]?
        var deliveryFee: Int64?
        var currency: String?
        var active: Bool?
    }

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
        let body = try await request.decode(as: ZoneRequest.self, context: context)
        guard let name = body.name, let polygon = body.polygon, let fee = body.deliveryFee, let currency = body.currency
        else { throw APIError.invalid("name, polygon, deliveryFee and currency are required") }
        let zone = try validating { () throws(MarketError) in
            try Zone(
                id: MarketID.make("z"), name: name, polygon: try Self.ring(polygon), deliveryFee: fee,
                currency: currency,
                active: body.active ?? true
            ).validated()
        }
        let stored = try await repository.createZone(zone)
        context.logger.notice("Zone created", metadata: ["zone.id": "\(stored.id)"])
        return EditedResponse(status: .created, response: ZoneView(stored))
    }

    @Sendable func show(_ request: Request, context: HubRequestContext) async throws -> ZoneView {
        ZoneView(try await existing(context))
    }

    @Sendable func update(_ request: Request, context: HubRequestContext) async throws -> ZoneView {
        var zone = try await existing(context)
        let body = try await request.decode(as: ZoneRequest.self, context: context)
        zone = try validating { () throws(MarketError) in
            var next = zone
            if let name = body.name { next.name = name }
            if let polygon = body.polygon { next.polygon = try Self.ring(polygon) }
            if let fee = body.deliveryFee { next.deliveryFee = fee }
            if let currency = body.currency { next.currency = currency }
            if let active = body.active { next.active = active }
            return try next.validated()
        }
        return ZoneView(try await repository.updateZone(zone))
    }

    private func existing(_ context: HubRequestContext) async throws -> Zone {
        let id = try context.parameters.require("id")
        // Two steps, not `try await` among guard conditions: Swift 6.3.1 -O crashed in LLVM CoroSplit on that.
        guard MarketID.plausible(id) else { throw APIError.notFound("no zone \(id)") }
        guard let zone = try await repository.zone(id: id) else { throw APIError.notFound("no zone \(id)") }
        return zone
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
