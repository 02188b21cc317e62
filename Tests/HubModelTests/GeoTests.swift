@testable import HubModel
import Testing

/// Point in polygon (convex, concave, boundary), haversine, area, zone validation and overlap resolution.
struct GeoTests {
    static func p(_ lon: Double, _ lat: Double) -> GeoPoint { GeoPoint(lat: lat, lon: lon) }
    /// A 1°×1° square from (87, 22) to (88, 23), open ring.
    static let square = [p(87, 22), p(88, 22), p(88, 23), p(87, 23)]
    /// A U: the square minus the notch lon 87.4…87.6, lat 22.5…23 (concave).
    static let u = [
        p(87, 22), p(88, 22), p(88, 23), p(87.6, 23), p(87.6, 22.5), p(87.4, 22.5), p(87.4, 23), p(87, 23),
    ]

    @Test func convexInsideOutside() {
        #expect(Geo.contains(Self.square, Self.p(87.5, 22.5)))
        #expect(!Geo.contains(Self.square, Self.p(88.0001, 22.5)))
        #expect(!Geo.contains(Self.square, Self.p(87.5, 21.9999)))
        #expect(!Geo.contains(Self.square, Self.p(-87.5, -22.5)))
        // Closed and open rings answer alike.
        let closed = Geo.closed(Self.square)
        #expect(closed.count == 5 && closed.first == closed.last)
        for point in [Self.p(87.5, 22.5), Self.p(88.5, 22.5), Self.p(87.99, 22.01)] {
            #expect(Geo.contains(closed, point) == Geo.contains(Self.square, point))
        }
    }

    @Test func boundaryPointsCountAsInside() {
        // Every edge (including the horizontal ones, where ray casting alone is unreliable) and every vertex.
        for point in [
            Self.p(87.5, 22), Self.p(88, 22.5), Self.p(87.5, 23), Self.p(87, 22.5), Self.p(87, 22), Self.p(88, 23),
        ] {
            #expect(Geo.contains(Self.square, point), "\(point)")
        }
        // Just outside an edge is outside.
        #expect(!Geo.contains(Self.square, Self.p(87, 23.000001)))
    }

    @Test func concavePolygonExcludesItsNotch() {
        #expect(!Geo.contains(Self.u, Self.p(87.5, 22.8)))  // in the notch
        #expect(Geo.contains(Self.u, Self.p(87.2, 22.8)))  // left arm
        #expect(Geo.contains(Self.u, Self.p(87.8, 22.8)))  // right arm
        #expect(Geo.contains(Self.u, Self.p(87.5, 22.2)))  // base, under the notch
        #expect(Geo.contains(Self.u, Self.p(87.5, 22.5)))  // the notch's floor is boundary
        // A ray from a notch point crosses the right arm twice: still outside (even-odd).
        #expect(!Geo.contains(Self.u, Self.p(87.45, 22.9)))
    }

    @Test func haversineMatchesKnownDistances() {
        let london = GeoPoint(lat: 51.5074, lon: -0.1278)
        let paris = GeoPoint(lat: 48.8566, lon: 2.3522)
        #expect(abs(Geo.distance(london, paris) - 343_560) < 1_000)
        // One degree of latitude ≈ 111.195 km on the mean sphere.
        #expect(abs(Geo.distance(Self.p(87, 22), Self.p(87, 23)) - 111_195) < 1)
        #expect(Geo.distance(paris, paris) == 0)
        #expect(abs(Geo.distance(london, paris) - Geo.distance(paris, london)) < 1e-6)
        // Antipodes: half the circumference, no NaN.
        #expect(abs(Geo.distance(Self.p(0, 0), Self.p(180, 0)) - Double.pi * Geo.earthRadius) < 1)
    }

    @Test func areaAndBoxes() {
        // 1°×1° at 22.5°N ≈ 111.2 km × 102.7 km.
        let area = Geo.area(Self.square)
        #expect(abs(area - 111_195 * 111_195 * 0.9239) / area < 0.01)
        #expect(Geo.area(Self.u) < area)
        let box = Geo.box(around: Self.p(87, 22), radius: 1000)
        #expect(Geo.distance(Self.p(87, 22), Self.p(87, box.maxLat)) > 999)
        #expect(Geo.distance(Self.p(87, 22), Self.p(box.maxLon, 22)) > 999)
    }

    @Test func zoneValidationRefusesAbsurdPolygons() throws {
        func zone(_ ring: [GeoPoint], fee: Int64 = 2500, currency: String = "INR") -> Zone {
            Zone(id: "z-1", name: "Central", polygon: ring, deliveryFee: fee, currency: currency)
        }
        // Auto-closed: stored open, closed on the wire.
        let ok = try zone(Geo.closed(Self.square)).validated()
        #expect(ok.polygon == Self.square)
        let cases: [([GeoPoint], String)] = [
            ([Self.p(87, 22), Self.p(88, 22)], "polygon"),
            ([Self.p(87, 22), Self.p(88, 22), Self.p(87, 22), Self.p(88, 22)], "polygon"),
            ([Self.p(87, 22), Self.p(87.5, 22.5), Self.p(88, 23)], "polygon"),  // collinear
            ([Self.p(87, 22), Self.p(88, 23), Self.p(88, 22), Self.p(87, 23)], "polygon"),  // bow-tie
            ([Self.p(87, 22), Self.p(88, 22), Self.p(88, 95), Self.p(87, 23)], "polygon[2]"),
            ([Self.p(0, 0), Self.p(30, 0), Self.p(30, 30)], "polygon"),  // continent-sized
            ([Self.p(87, 22), Self.p(88, 22), Self.p(88, 22), Self.p(87, 23)], "polygon[2]"),  // repeated point
        ]
        for (ring, field) in cases {
            #expect(throws: MarketError.self, "\(ring)") { try zone(ring).validated() }
            do throws(MarketError) { _ = try zone(ring).validated() } catch {
                #expect(error.field == field, "\(ring): \(error)")
            }
        }
        #expect(Geo.selfIntersects([Self.p(87, 22), Self.p(88, 23), Self.p(88, 22.2), Self.p(87, 22.9)]))
        #expect(!Geo.selfIntersects(Self.u) && !Geo.selfIntersects(Geo.closed(Self.square)))
        #expect(throws: MarketError.self) {
            try zone([Self.p(87, 22), Self.p(88, 23), Self.p(88, 22.2), Self.p(87, 22.9)]).validated()
        }
        #expect(throws: MarketError("deliveryFee", "whole minor units from 0 to 1000000000")) {
            try zone(Self.square, fee: -1).validated()
        }
        #expect(throws: MarketError.self) { try zone(Self.square, currency: "inr").validated() }
    }

    @Test func overlappingZonesResolveToTheSmallestThenTheLowestID() {
        let big = Zone(id: "z-a", name: "Big", polygon: Self.square, deliveryFee: 3000, currency: "INR")
        let small = Zone(
            id: "z-b", name: "Small",
            polygon: [Self.p(87.4, 22.4), Self.p(87.6, 22.4), Self.p(87.6, 22.6), Self.p(87.4, 22.6)],
            deliveryFee: 1000, currency: "INR")
        let twin = Zone(id: "z-0", name: "Twin", polygon: small.polygon, deliveryFee: 900, currency: "INR")
        var inactive = Zone(id: "z-.", name: "Off", polygon: small.polygon, deliveryFee: 0, currency: "INR")
        inactive.active = false
        #expect(Zone.serving(Self.p(87.5, 22.5), among: [big, small])?.id == "z-b")
        #expect(Zone.serving(Self.p(87.1, 22.1), among: [big, small])?.id == "z-a")
        #expect(Zone.serving(Self.p(87.5, 22.5), among: [big, small, twin, inactive])?.id == "z-0")
        #expect(Zone.serving(Self.p(90, 22.5), among: [big, small]) == nil)
        #expect(Zone.serving(Self.p(87.5, 22.5), among: [inactive]) == nil)
    }
}
