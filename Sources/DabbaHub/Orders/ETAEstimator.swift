import Foundation

/// Estimates an agent's time of arrival from its latest fixes: the straight-line (great-circle) distance to the
/// target times a detour factor, over the agent's recent speed, with floors so a parked or jittering agent does
/// not produce absurd figures.
package struct ETAEstimator: Sendable, Equatable {
    /// Road distance over straight-line distance (city streets: ~1.3–1.4).
    package var detourFactor: Double = 1.35
    /// Speed assumed when the recent speed is unknown or slower than this, m/s (walking pace through traffic).
    package var minimumSpeed: Double = 2.5
    /// Speed assumed when no recent speed is known at all, m/s (~22 km/h, a scooter in town).
    package var defaultSpeed: Double = 6.0
    /// Speeds above this are treated as GPS noise, m/s.
    package var maximumSpeed: Double = 25.0
    /// Within this straight-line distance of the target the agent counts as arrived, metres.
    package var arrivalRadius: Double = 75.0
    /// Never promise less than this while not arrived, seconds.
    package var minimumSeconds: Double = 60

    package init(detourFactor: Double = 1.35, arrivalRadius: Double = 75.0) {
        self.detourFactor = detourFactor
        self.arrivalRadius = arrivalRadius
    }

    /// One estimate.
    package struct Estimate: Sendable, Equatable, Codable {
        /// Straight-line distance to the target, metres.
        package var distanceMeters: Double
        /// Seconds to arrival (0 when arrived).
        package var seconds: Int
        /// Within ``ETAEstimator/arrivalRadius`` of the target.
        package var arrived: Bool
    }

    /// The estimate from `position` to `target`, with `recentSpeed` (m/s, e.g. the mean over the last fixes; nil
    /// when unknown).
    package func estimate(
        from position: (lat: Double, lon: Double), to target: (lat: Double, lon: Double),
        recentSpeed: Double?
    ) -> Estimate {
        let distance = Self.haversineMeters(position, target)
        if distance <= arrivalRadius { return Estimate(distanceMeters: distance, seconds: 0, arrived: true) }
        var speed = defaultSpeed
        if let recentSpeed, recentSpeed.isFinite, recentSpeed >= 0 {
            speed = min(max(recentSpeed, minimumSpeed), maximumSpeed)
        }
        let seconds = max(minimumSeconds, distance * detourFactor / speed)
        return Estimate(distanceMeters: distance, seconds: Int(seconds.rounded()), arrived: false)
    }

    /// Great-circle distance in metres (mean Earth radius).
    package static func haversineMeters(_ a: (lat: Double, lon: Double), _ b: (lat: Double, lon: Double)) -> Double {
        let r = 6_371_008.8
        let toRad = Double.pi / 180
        let dLat = (b.lat - a.lat) * toRad
        let dLon = (b.lon - a.lon) * toRad
        let h = sin(dLat / 2) * sin(dLat / 2) + cos(a.lat * toRad) * cos(b.lat * toRad) * sin(dLon / 2) * sin(dLon / 2)
        return 2 * r * asin(min(1, sqrt(h)))
    }
}

/// The agent's recent speed from its latest fixes: reported speeds when present, else distance over time between
/// consecutive fixes; a short window so it follows the agent's current pace.
package struct RecentSpeed: Sendable {
    struct Sample {
        var time: Int64
        var lat: Double
        var lon: Double
        var speed: Double?
    }
    private var samples: [Sample] = []
    /// Fixes kept.
    package var window = 10

    package init() {}

    /// Adds a fix (older or repeated fixes are ignored).
    package mutating func add(time: Int64, lat: Double, lon: Double, speed: Double?) {
        if let last = samples.last, time <= last.time { return }
        samples.append(Sample(time: time, lat: lat, lon: lon, speed: speed))
        if samples.count > window { samples.removeFirst(samples.count - window) }
    }

    /// Mean speed over the window, m/s; nil with fewer than two fixes and no reported speed.
    package var metersPerSecond: Double? {
        let reported = samples.compactMap(\.speed).filter { $0.isFinite && $0 >= 0 }
        if reported.count >= max(1, samples.count / 2) { return reported.reduce(0, +) / Double(reported.count) }
        guard let first = samples.first, let last = samples.last, last.time > first.time else { return nil }
        var distance = 0.0
        for (a, b) in zip(samples, samples.dropFirst()) {
            distance += ETAEstimator.haversineMeters((a.lat, a.lon), (b.lat, b.lon))
        }
        return distance / (Double(last.time - first.time) / 1000)
    }
}
