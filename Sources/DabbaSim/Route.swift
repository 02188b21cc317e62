import DabbaCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One position of a simulated vehicle, as a receiver would report it.
public struct RoutePoint: Sendable, Equatable {
    /// Fix time, UTC milliseconds since the Unix epoch.
    public var timeMilliseconds: Int64
    /// Degrees, WGS84, north positive.
    public var latitude: Double
    /// Degrees, WGS84, east positive.
    public var longitude: Double
    /// Metres above mean sea level.
    public var altitude: Double
    /// Speed over ground, metres per second.
    public var speed: Double
    /// Course over ground, degrees from true north, in [0, 360).
    public var track: Double

    /// Creates a point; every value is taken as given.
    public init(
        timeMilliseconds: Int64, latitude: Double, longitude: Double, altitude: Double, speed: Double, track: Double
    ) {
        self.timeMilliseconds = timeMilliseconds
        self.latitude = latitude
        self.longitude = longitude
        self.altitude = altitude
        self.speed = speed
        self.track = track
    }
}

/// Deterministic simulated routes.
public enum Route {
    /// Metres per degree of latitude (mean; good enough for a simulated city-scale loop).
    static let metresPerDegree = 111_320.0

    /// The point `north` and `east` metres from `origin` (a flat step at the origin's latitude: city scale).
    static func offset(_ origin: (lat: Double, lon: Double), north: Double, east: Double) -> (lat: Double, lon: Double)
    {
        (origin.lat + north / metresPerDegree, origin.lon + east / (metresPerDegree * cos(origin.lat * .pi / 180)))
    }

    /// A deterministic loop route of `count` points at 1 Hz starting at `start` (UTC ms), around a centre
    /// (default Kharagpur 22.3149, 87.3105), realistic scooter speeds (3–12 m/s), seeded.
    ///
    /// The vehicle circles the centre clockwise at a seeded radius (400–900 m) from a seeded starting bearing;
    /// its speed is a bounded random walk (±1 m/s per second, clamped to 3–12 m/s), its track is the tangent of the
    /// circle, and its altitude wanders gently around 30 m. The same arguments always give the same points.
    public static func loop(
        count: Int, start: Int64, centerLatitude: Double = 22.3149, centerLongitude: Double = 87.3105,
        seed: UInt64 = 1
    ) -> [RoutePoint] {
        guard count > 0 else { return [] }
        var random = SplitMix64(seed: seed)
        let radius = 400 + 500 * random.nextUnit()
        var bearing = 2 * Double.pi * random.nextUnit()  // of the vehicle as seen from the centre
        var speed = 3 + 9 * random.nextUnit()
        var altitude = 25 + 10 * random.nextUnit()
        let metresPerDegreeLon = metresPerDegree * cos(centerLatitude * .pi / 180)
        var points: [RoutePoint] = []
        points.reserveCapacity(count)
        for index in 0..<count {
            let north = radius * cos(bearing)
            let east = radius * sin(bearing)
            var track = (bearing * 180 / .pi + 90).truncatingRemainder(dividingBy: 360)
            if track < 0 { track += 360 }
            points.append(
                RoutePoint(
                    timeMilliseconds: start + Int64(index) * 1000,
                    latitude: centerLatitude + north / metresPerDegree,
                    longitude: centerLongitude + east / metresPerDegreeLon,
                    altitude: altitude, speed: speed, track: track))
            bearing += speed / radius
            speed = min(12, max(3, speed + 2 * random.nextUnit() - 1))
            altitude = min(45, max(15, altitude + random.nextUnit() - 0.5))
        }
        return points
    }
}
