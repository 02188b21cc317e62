import Foundation

/// A point on the Earth in WGS 84 degrees.
package struct GeoPoint: Sendable, Codable, Equatable, Hashable {
    package var lat: Double
    package var lon: Double

    package init(lat: Double, lon: Double) {
        self.lat = lat
        self.lon = lon
    }

    /// Finite, latitude in -90…90 and longitude in -180…180.
    package var isValid: Bool {
        lat.isFinite && lon.isFinite && (-90...90).contains(lat) && (-180...180).contains(lon)
    }
}

/// Plane and sphere geometry for zones and "restaurants near me".
///
/// Polygons are rings of points in degrees, treated as planar in (lon, lat): fine for city-sized zones that do not
/// cross the antimeridian (zone validation refuses those). A ring may be given closed (last point = first) or open.
package enum Geo {
    /// Mean Earth radius (IUGG), metres.
    package static let earthRadius = 6_371_008.8

    /// Great-circle distance between `a` and `b` in metres (haversine).
    package static func distance(_ a: GeoPoint, _ b: GeoPoint) -> Double {
        let rad = Double.pi / 180
        let dLat = (b.lat - a.lat) * rad
        let dLon = (b.lon - a.lon) * rad
        let h = sin(dLat / 2) * sin(dLat / 2) + cos(a.lat * rad) * cos(b.lat * rad) * sin(dLon / 2) * sin(dLon / 2)
        return 2 * earthRadius * asin(min(1, sqrt(h)))
    }

    /// Whether `point` lies in `polygon` (ray casting, even-odd rule, so concave rings work).
    ///
    /// Boundary: a point exactly on an edge or a vertex counts as **inside** (checked before the ray cast, so the
    /// answer does not depend on floating-point luck). Two zones sharing an edge therefore both contain the points
    /// of that edge; `zone(containing:)` then picks one deterministically. Holes are not supported.
    package static func contains(_ polygon: [GeoPoint], _ point: GeoPoint) -> Bool {
        let ring = open(polygon)
        guard ring.count >= 3 else { return false }
        var inside = false
        var j = ring.count - 1
        for i in 0..<ring.count {
            let a = ring[i]
            let b = ring[j]
            if onSegment(point, a, b) { return true }
            // Edge (b, a) straddles the horizontal line through the point: does it cross to the point's right?
            if (a.lat > point.lat) != (b.lat > point.lat) {
                let crossLon = a.lon + (point.lat - a.lat) / (b.lat - a.lat) * (b.lon - a.lon)
                if point.lon < crossLon { inside.toggle() }
            }
            j = i
        }
        return inside
    }

    /// The approximate area of `polygon` in square metres (shoelace on an equirectangular projection around the
    /// ring's mean latitude): good enough to rank zones by size.
    package static func area(_ polygon: [GeoPoint]) -> Double {
        let ring = open(polygon)
        guard ring.count >= 3 else { return 0 }
        let meanLat = ring.map(\.lat).reduce(0, +) / Double(ring.count)
        let metresPerDegree = earthRadius * Double.pi / 180
        let kx = metresPerDegree * cos(meanLat * Double.pi / 180)
        var twice = 0.0
        for i in 0..<ring.count {
            let a = ring[i]
            let b = ring[(i + 1) % ring.count]
            twice += (a.lon * kx) * (b.lat * metresPerDegree) - (b.lon * kx) * (a.lat * metresPerDegree)
        }
        return abs(twice) / 2
    }

    /// Whether two edges of the ring cross (adjacent edges sharing their common vertex do not count).
    package static func selfIntersects(_ polygon: [GeoPoint]) -> Bool {
        let ring = open(polygon)
        let n = ring.count
        guard n >= 4 else { return false }
        for i in 0..<n {
            let a1 = ring[i]
            let a2 = ring[(i + 1) % n]
            for j in (i + 1)..<n {
                // Skip the same edge and neighbours (they share a vertex).
                if j == i + 1 || (i == 0 && j == n - 1) { continue }
                if segmentsIntersect(a1, a2, ring[j], ring[(j + 1) % n]) { return true }
            }
        }
        return false
    }

    /// The ring without its closing point (when the last point repeats the first).
    package static func open(_ polygon: [GeoPoint]) -> [GeoPoint] {
        if polygon.count > 1, polygon.first == polygon.last { return Array(polygon.dropLast()) }
        return polygon
    }

    /// The ring with its closing point (the first point repeated at the end).
    package static func closed(_ polygon: [GeoPoint]) -> [GeoPoint] {
        let ring = open(polygon)
        guard let first = ring.first else { return ring }
        return ring + [first]
    }

    /// The smallest latitude/longitude box holding `polygon`.
    package static func bounds(_ polygon: [GeoPoint]) -> (
        minLat: Double, maxLat: Double, minLon: Double, maxLon: Double
    ) {
        (
            polygon.map(\.lat).min() ?? 0, polygon.map(\.lat).max() ?? 0, polygon.map(\.lon).min() ?? 0,
            polygon.map(\.lon).max() ?? 0
        )
    }

    /// A box around `center` holding every point within `radius` metres (for a cheap prefilter before `distance`).
    package static func box(around center: GeoPoint, radius: Double) -> (
        minLat: Double, maxLat: Double, minLon: Double, maxLon: Double
    ) {
        let dLat = radius / earthRadius * 180 / Double.pi
        let cosLat = cos(center.lat * Double.pi / 180)
        let dLon = cosLat > 1e-6 ? min(180, dLat / cosLat) : 180
        return (center.lat - dLat, center.lat + dLat, center.lon - dLon, center.lon + dLon)
    }

    private static func cross(_ o: GeoPoint, _ a: GeoPoint, _ b: GeoPoint) -> Double {
        (a.lon - o.lon) * (b.lat - o.lat) - (a.lat - o.lat) * (b.lon - o.lon)
    }

    /// `p` on the closed segment `a`–`b` (exactly collinear and within its box).
    static func onSegment(_ p: GeoPoint, _ a: GeoPoint, _ b: GeoPoint) -> Bool {
        cross(a, b, p) == 0 && min(a.lon, b.lon) <= p.lon && p.lon <= max(a.lon, b.lon)
            && min(a.lat, b.lat) <= p.lat && p.lat <= max(a.lat, b.lat)
    }

    static func segmentsIntersect(_ p1: GeoPoint, _ p2: GeoPoint, _ q1: GeoPoint, _ q2: GeoPoint) -> Bool {
        let d1 = cross(q1, q2, p1)
        let d2 = cross(q1, q2, p2)
        let d3 = cross(p1, p2, q1)
        let d4 = cross(p1, p2, q2)
        if ((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0)) { return true }
        return (d1 == 0 && onSegment(p1, q1, q2)) || (d2 == 0 && onSegment(p2, q1, q2))
            || (d3 == 0 && onSegment(q1, p1, p2)) || (d4 == 0 && onSegment(q2, p1, p2))
    }
}
