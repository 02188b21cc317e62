/// A service area: restaurants and drop points inside its polygon are served, at its delivery fee.
package struct Zone: Sendable, Codable, Equatable {
    package var id: String
    package var name: String
    /// The ring, open (without the closing point); GeoJSON-like `[lon, lat]` pairs on the wire, closed there.
    package var polygon: [GeoPoint]
    /// Delivery fee in minor units of `currency`.
    package var deliveryFee: Int64
    package var currency: String
    /// Inactive zones serve nothing (`zone(containing:)` skips them).
    package var active: Bool

    package init(
        id: String, name: String, polygon: [GeoPoint], deliveryFee: Int64, currency: String, active: Bool = true
    ) {
        self.id = id
        self.name = name
        self.polygon = Geo.open(polygon)
        self.deliveryFee = deliveryFee
        self.currency = currency
        self.active = active
    }

    /// Whether `point` is inside the polygon (points on its boundary are inside; see `Geo.contains`).
    package func contains(_ point: GeoPoint) -> Bool { Geo.contains(polygon, point) }

    /// Approximate area in square metres (the tie-breaker between overlapping zones).
    package var area: Double { Geo.area(polygon) }

    /// The most vertices a zone may have.
    package static let maxVertices = 1000

    /// Checks the polygon (3…1000 distinct points, valid coordinates, auto-closed, spanning less than 5 degrees
    /// either way so no antimeridian crossing or continent-sized zones, non-zero area, no crossing edges), name, fee
    /// and currency.
    package func validated() throws(MarketError) -> Zone {
        var zone = self
        zone.name = try MarketValidation.name(name, field: "name")
        zone.deliveryFee = try MarketValidation.amount(deliveryFee, field: "deliveryFee")
        zone.currency = try MarketValidation.currency(currency)
        let ring = Geo.open(polygon)
        guard ring.count <= Self.maxVertices else { throw MarketError("polygon", "at most \(Self.maxVertices) points") }
        for (i, p) in ring.enumerated() { _ = try MarketValidation.point(p, field: "polygon[\(i)]") }
        guard Set(ring).count >= 3 else { throw MarketError("polygon", "at least 3 distinct points") }
        for i in ring.indices where ring[i] == ring[(i + 1) % ring.count] {
            throw MarketError("polygon[\(i + 1)]", "repeats the previous point")
        }
        let b = Geo.bounds(ring)
        guard b.maxLat - b.minLat < 5, b.maxLon - b.minLon < 5 else {
            throw MarketError("polygon", "a zone spans less than 5 degrees of latitude and of longitude")
        }
        guard zone.area > 1 else { throw MarketError("polygon", "the points enclose no area (collinear?)") }
        guard !Geo.selfIntersects(ring) else { throw MarketError("polygon", "edges cross each other") }
        zone.polygon = ring
        return zone
    }
}
