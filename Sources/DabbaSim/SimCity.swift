import DabbaCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
import DabbaDispatch

/// The size of a simulated day for `dabba-sim policies`.
public struct SimDayConfiguration: Sendable, Equatable {
    public var seed: UInt64 = 1
    public var agents = 120
    public var restaurants = 60
    public var customers = 3000
    public var orders = 1800
    /// City radius, metres, around the centre (Kharagpur).
    public var radius = 6000.0
    public var centre = GeoCoordinate(lat: 22.3149, lon: 87.3105)
    /// Share of agents that may stack two orders from one restaurant.
    public var stackingShare = 0.2
    /// Share of agents that work in one zone (quadrant) only.
    public var zonedShare = 0.3
    /// Food preparation time, minutes.
    public var prepMinutes = 8.0...20.0
    /// Seconds between dispatch rounds.
    public var roundSeconds = 10
    /// Minutes an order may wait for an agent before it times out.
    public var timeoutMinutes = 45.0
    /// Chance that an agent rejects an offer (the order then excludes it).
    public var rejectRate = 0.05
    /// Chance that an agent lets an offer it received lapse: the order waits `offerTimeoutSeconds`, then excludes
    /// it; the agent holds the offer meanwhile and then goes to the back of least-recent's line.
    public var lapseRate = 0.03
    /// How long an offer stays open (s).
    public var offerTimeoutSeconds = 60
    /// Share of agents on a split shift: 08:00–14:30 and 18:00–23:00 (back after three and a half hours off).
    public var splitShiftShare = 0.25
    /// Share of agents starting late, at a random time between 10:00 and 17:00, until 23:00. The others work
    /// 08:00–23:00.
    public var lateStartShare = 0.25
    /// Seconds at each restaurant pickup and each door.
    public var handoverSeconds = 60.0
    /// Detour factor of the simulated roads (what agents really travel).
    public var detourFactor = 1.35

    public init() {}
}

/// A generated city, fleet and day of orders; the same seed always gives the same day.
public struct SimDay: Sendable {
    public struct Restaurant: Sendable {
        public var id: String
        public var position: GeoCoordinate
        public var zone: String
    }
    /// When an agent is on shift (ms): from `start` until `end`.
    public struct Shift: Sendable, Equatable {
        public var start: Int64
        public var end: Int64
    }
    public struct Agent: Sendable {
        public var id: String
        public var home: GeoCoordinate
        public var speed: Double
        public var capacity: Int
        public var zones: Set<String>?
        /// In time order, not overlapping.
        public var shifts: [Shift] = []

        /// The shift `time` falls in, if any.
        public func shift(at time: Int64) -> Shift? { shifts.first { $0.start <= time && time < $0.end } }
    }
    public struct Order: Sendable {
        public var id: String
        public var restaurant: Int
        public var customer: GeoCoordinate
        public var placedAt: Int64
        public var readyAt: Int64
    }

    public var configuration: SimDayConfiguration
    public var restaurants: [Restaurant]
    public var agents: [Agent]
    /// Sorted by `placedAt`.
    public var orders: [Order]
    /// 2026-11-26 08:00 and 23:00 (IST, as UTC ms): when agents start and orders stop.
    public var start: Int64
    public var end: Int64

    public static let zones = ["ne", "nw", "se", "sw"]

    public static func generate(_ configuration: SimDayConfiguration) -> SimDay {
        var random = SplitMix64(seed: configuration.seed)
        let centre = configuration.centre
        func point(within radius: Double) -> GeoCoordinate {
            let r = radius * random.nextUnit().squareRoot()
            let angle = 2 * Double.pi * random.nextUnit()
            let p = Route.offset((centre.lat, centre.lon), north: r * cos(angle), east: r * sin(angle))
            return GeoCoordinate(lat: p.lat, lon: p.lon)
        }
        func zone(of p: GeoCoordinate) -> String {
            (p.lat >= centre.lat ? "n" : "s") + (p.lon >= centre.lon ? "e" : "w")
        }
        let restaurants = (0..<configuration.restaurants).map { i in
            let p = point(within: configuration.radius * 0.7)
            return Restaurant(id: "r-\(i)", position: p, zone: zone(of: p))
        }
        let customers = (0..<configuration.customers).map { _ in point(within: configuration.radius) }
        var agents = (0..<configuration.agents).map { i in
            let home = point(within: configuration.radius)
            let speed = 4 + 3 * random.nextUnit()
            let capacity = random.nextUnit() < configuration.stackingShare ? 2 : 1
            let zones: Set<String>? = random.nextUnit() < configuration.zonedShare ? [zone(of: home)] : nil
            return Agent(id: "a-" + padded(i, 3), home: home, speed: speed, capacity: capacity, zones: zones)
        }
        let start: Int64 = 1_795_145_400_000  // 2026-11-26T02:30:00Z = 08:00 IST
        let end = start + 15 * 3_600_000
        var orders: [Order] = []
        for _ in 0..<configuration.orders {
            // A fifth spread over the day, the rest in the lunch (13:00 ± 45 min) and dinner (20:30 ± 60 min) peaks.
            let kind = random.nextUnit()
            var hour: Double
            if kind < 0.2 {
                hour = 15 * random.nextUnit()
            } else if kind < 0.55 {
                hour = 5 + 0.75 * normal(&random)
            } else {
                hour = 12.5 + 1.0 * normal(&random)
            }
            hour = min(15 - 1.0 / 60, max(0, hour))
            let placedAt = start + Int64(hour * 3_600_000)
            let restaurant = Int(random.next() % UInt64(restaurants.count))
            // The customer: the nearest of three random addresses (people order from nearby).
            var customer = customers[Int(random.next() % UInt64(customers.count))]
            for _ in 0..<2 {
                let other = customers[Int(random.next() % UInt64(customers.count))]
                let here = restaurants[restaurant].position
                if other.distance(to: here) < customer.distance(to: here) { customer = other }
            }
            let prep =
                configuration.prepMinutes.lowerBound
                + (configuration.prepMinutes.upperBound - configuration.prepMinutes.lowerBound) * random.nextUnit()
            orders.append(
                Order(
                    id: "", restaurant: restaurant, customer: customer, placedAt: placedAt,
                    readyAt: placedAt + Int64(prep * 60_000)))
        }
        orders.sort { $0.placedAt < $1.placedAt }
        for index in orders.indices { orders[index].id = "o-" + padded(index, 5) }
        // Shifts from a stream of their own, so the city and the orders are the same as without them.
        var shiftRandom = SplitMix64(seed: configuration.seed ^ 0x5A1F_75B1_F7C0_FFEE)
        let hour: Int64 = 3_600_000
        for index in agents.indices {
            let kind = shiftRandom.nextUnit()
            if kind < configuration.splitShiftShare {
                agents[index].shifts = [
                    Shift(start: start, end: start + 13 * hour / 2), Shift(start: start + 10 * hour, end: end),
                ]
            } else if kind < configuration.splitShiftShare + configuration.lateStartShare {
                let late = start + 2 * hour + Int64(shiftRandom.nextUnit() * 7 * Double(hour))
                agents[index].shifts = [Shift(start: late, end: end)]
            } else {
                agents[index].shifts = [Shift(start: start, end: end)]
            }
        }
        return SimDay(
            configuration: configuration, restaurants: restaurants, agents: agents, orders: orders, start: start,
            end: end)
    }

    /// A standard normal variate (Box–Muller).
    static func normal(_ random: inout SplitMix64) -> Double {
        let u = max(1e-12, random.nextUnit())
        return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * random.nextUnit())
    }
}

/// `value` in decimal, zero-padded to `width` digits.
func padded(_ value: Int, _ width: Int) -> String {
    let digits = String(value)
    return String(repeating: "0", count: max(0, width - digits.count)) + digits
}
