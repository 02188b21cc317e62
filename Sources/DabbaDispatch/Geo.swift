#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension GeoCoordinate {
    /// Mean earth radius, metres (IUGG).
    public static let earthRadius = 6_371_008.8

    /// Great-circle (haversine) distance in metres.
    public func distance(to other: GeoCoordinate) -> Double {
        UnitVector(self).distance(to: UnitVector(other))
    }
}

/// A point as a unit vector, so that many distances from one point cost a few multiplications each.
///
/// The great-circle distance is 2R·asin(c/2) with c the chord between the unit vectors; this equals the haversine
/// formula (its `a` is (c/2)²). For city-scale chords asin is evaluated by its Taylor series (error < 1e-15 relative
/// below c/2 = 0.05, i.e. ~640 km), which keeps a 1,000 × 5,000 cost matrix cheap.
struct UnitVector: Sendable {
    var x: Double
    var y: Double
    var z: Double

    init(_ point: GeoCoordinate) {
        let phi = point.lat * .pi / 180
        let lambda = point.lon * .pi / 180
        let cosPhi = cos(phi)
        x = cosPhi * cos(lambda)
        y = cosPhi * sin(lambda)
        z = sin(phi)
    }

    init(x: Double, y: Double, z: Double) {
        self.x = x
        self.y = y
        self.z = z
    }

    @inline(__always)
    func distance(to other: UnitVector) -> Double {
        2 * GeoCoordinate.earthRadius * UnitVector.arcsine(halfChord(to: other))
    }

    /// Half the chord to `other` (the sine of half the central angle).
    @inline(__always)
    func halfChord(to other: UnitVector) -> Double {
        let dx = x - other.x
        let dy = y - other.y
        let dz = z - other.z
        return (dx * dx + dy * dy + dz * dz).squareRoot() / 2
    }

    @inline(__always)
    static func arcsine(_ s: Double) -> Double {
        guard s < 0.05 else { return asin(min(1, s)) }
        let s2 = s * s
        // Below 0.01 (~127 km) three terms leave a relative error under 5e-13.
        if s < 0.01 { return s * (1 + s2 * (1.0 / 6 + s2 * (3.0 / 40))) }
        // asin(s) = s + s³/6 + 3s⁵/40 + 5s⁷/112 + 35s⁹/1152 + 63s¹¹/2816 + …
        return s * (1 + s2 * (1.0 / 6 + s2 * (3.0 / 40 + s2 * (5.0 / 112 + s2 * (35.0 / 1152 + s2 * (63.0 / 2816))))))
    }
}
