import DabbaCore
import DabbaProtocol

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// How simulated riders behave (`dabba-sim fleet`'s options).
public struct SimAgentBehaviour: Sendable, Equatable {
    /// Probability of accepting an offer (0…1); the rest are rejected with a reason.
    public var acceptProbability = 0.9
    /// Seconds between an offer arriving and the rider's answer: uniform in this range.
    public var thinkSeconds: ClosedRange<Double> = 2...6
    /// Riding speed in m/s between the restaurant and the door (uniform per trip).
    public var rideSpeed: ClosedRange<Double> = 5...9
    /// Cruising speed in m/s while waiting for work.
    public var idleSpeed: ClosedRange<Double> = 1...3
    /// Seconds at the restaurant before the food is picked up.
    public var pickupWaitSeconds: ClosedRange<Double> = 15...45
    /// Metres from a place that count as arrived.
    public var arrivalMetres = 30.0
    /// How far (metres) from its starting point an idle rider wanders.
    public var wanderMetres = 1500.0

    public init() {}
}

/// One simulated rider speaking the agent's protocol: it reports a fix each tick, answers offers after a think time
/// (accepting with a probability), rides to the restaurant, waits, reports the pickup, rides to the door and reports
/// the delivery with the cash to collect. Pure logic over an injected clock and random source (no I/O): the fleet
/// publishes what `tick` and `receive` return.
public struct SimAgent: Sendable {
    /// What the rider is doing.
    public enum Phase: Sendable, Equatable {
        case idle
        /// Riding to the restaurant of `order`.
        case toPickup(order: String)
        /// At the restaurant until `until` (Unix ms).
        case atPickup(order: String, until: Int64)
        /// Riding to the door.
        case toDropoff(order: String)
    }

    /// A message for the hub.
    public enum Output: Sendable, Equatable {
        case fix(Fix)
        case event(AgentEvent)
    }

    struct Job: Sendable, Equatable {
        var order: String
        var pickup: (lat: Double, lon: Double)
        var dropoff: (lat: Double, lon: Double)
        var cash: Int64?
        var speed: Double

        static func == (a: Job, b: Job) -> Bool { a.order == b.order }
    }

    public let id: String
    public private(set) var phase: Phase = .idle
    public private(set) var lat: Double
    public private(set) var lon: Double
    public private(set) var seq: Int64
    let home: (lat: Double, lon: Double)
    var track = 0.0
    var speed = 0.0
    var job: Job?
    /// Offers waiting for the rider's answer: order → (answer time, the offer).
    var pending: [String: (at: Int64, offer: TaskMessage)] = [:]
    let behaviour: SimAgentBehaviour

    /// A rider at (`lat`, `lon`) whose first message carries seq `firstSeq` (seqs must grow across runs: the hub
    /// ignores a seq it has seen).
    public init(id: String, lat: Double, lon: Double, firstSeq: Int64, behaviour: SimAgentBehaviour) {
        self.id = id
        self.lat = lat
        self.lon = lon
        self.home = (lat, lon)
        self.seq = firstSeq
        self.behaviour = behaviour
    }

    /// A task from the hub: an offer is answered later (in `tick`); an assignment not asked for (an operator's)
    /// starts the trip; a cancellation ends it.
    public mutating func receive(_ task: TaskMessage, now: Int64, random: inout SplitMix64) {
        switch task.type {
        case .offer:
            guard job?.order != task.order, pending[task.order] == nil else { return }
            let think = Double.random(in: behaviour.thinkSeconds, using: &random)
            pending[task.order] = (now + Int64(think * 1000), task)
        case .assigned:
            pending[task.order] = nil
            if job == nil { start(task, random: &random) }
        case .cancelled:
            pending[task.order] = nil
            if job?.order == task.order {
                job = nil
                phase = .idle
            }
        }
    }

    /// Advances `seconds` to `now`: answers due offers, moves, reports a fix, and the pickup or delivery when it
    /// arrives.
    public mutating func tick(now: Int64, seconds: Double, random: inout SplitMix64) -> [Output] {
        var out: [Output] = []
        for (order, entry) in pending.sorted(by: { $0.key < $1.key }) where entry.at <= now {
            pending[order] = nil
            if job == nil, Double.random(in: 0..<1, using: &random) < behaviour.acceptProbability {
                out.append(event(.accepted, order: order, now: now))
                start(entry.offer, random: &random)
            } else {
                out.append(event(.rejected, order: order, now: now, reason: job == nil ? "not now" : "on a delivery"))
            }
        }
        switch phase {
        case .idle:
            wander(seconds: seconds, random: &random)
        case .toPickup(let order):
            guard let job else { break }
            if ride(to: job.pickup, speed: job.speed, seconds: seconds) {
                let wait = Double.random(in: behaviour.pickupWaitSeconds, using: &random)
                phase = .atPickup(order: order, until: now + Int64(wait * 1000))
            }
        case .atPickup(let order, let until):
            speed = 0
            if now >= until {
                out.append(event(.pickedUp, order: order, now: now))
                phase = .toDropoff(order: order)
            }
        case .toDropoff(let order):
            guard let job else { break }
            if ride(to: job.dropoff, speed: job.speed, seconds: seconds) {
                out.append(event(.delivered, order: order, now: now, cash: job.cash))
                self.job = nil
                phase = .idle
            }
        }
        out.append(.fix(fix(now: now)))
        return out
    }

    /// The shift's start or end, as the device's CLI reports it.
    public mutating func shift(_ kind: AgentEvent.Kind, now: Int64) -> AgentEvent {
        guard case .event(let e) = event(kind, order: "", now: now) else { preconditionFailure() }
        return e
    }

    // MARK: - Moving

    mutating func start(_ task: TaskMessage, random: inout SplitMix64) {
        let pickup = (task.pickup?.lat ?? lat, task.pickup?.lon ?? lon)
        let dropoff = (task.dropoff?.lat ?? pickup.0, task.dropoff?.lon ?? pickup.1)
        job = Job(
            order: task.order, pickup: pickup, dropoff: dropoff, cash: task.cashToCollect,
            speed: Double.random(in: behaviour.rideSpeed, using: &random))
        phase = .toPickup(order: task.order)
    }

    /// Moves toward `target` at `speed`; true once within the arrival distance.
    mutating func ride(to target: (lat: Double, lon: Double), speed: Double, seconds: Double) -> Bool {
        let (north, east) = Self.offset(from: (lat, lon), to: target)
        let distance = (north * north + east * east).squareRoot()
        track = Self.bearing(north: north, east: east)
        if distance <= behaviour.arrivalMetres {
            self.speed = 0
            return true
        }
        let step = min(distance, speed * seconds)
        move(north: north / distance * step, east: east / distance * step)
        self.speed = speed
        return distance - step <= behaviour.arrivalMetres
    }

    /// A slow random walk that drifts back toward home beyond the wander radius.
    mutating func wander(seconds: Double, random: inout SplitMix64) {
        let (north, east) = Self.offset(from: (lat, lon), to: home)
        if (north * north + east * east).squareRoot() > behaviour.wanderMetres {
            track = Self.bearing(north: north, east: east)
        } else {
            track = (track + Double.random(in: -25...25, using: &random) + 360).truncatingRemainder(dividingBy: 360)
        }
        speed = Double.random(in: behaviour.idleSpeed, using: &random)
        let radians = track * .pi / 180
        move(north: cos(radians) * speed * seconds, east: sin(radians) * speed * seconds)
    }

    mutating func move(north: Double, east: Double) {
        (lat, lon) = Route.offset((lat, lon), north: north, east: east)
    }

    static func offset(from a: (lat: Double, lon: Double), to b: (lat: Double, lon: Double)) -> (Double, Double) {
        ((b.lat - a.lat) * Route.metresPerDegree, (b.lon - a.lon) * Route.metresPerDegree * cos(a.lat * .pi / 180))
    }

    static func bearing(north: Double, east: Double) -> Double {
        let degrees = atan2(east, north) * 180 / .pi
        return degrees < 0 ? degrees + 360 : degrees
    }

    // MARK: - Messages

    mutating func nextSeq() -> Int64 {
        defer { seq += 1 }
        return seq
    }

    mutating func fix(now: Int64) -> Fix {
        Fix(
            agent: id, seq: nextSeq(), time: Timestamp.format(milliseconds: now), lat: lat, lon: lon, alt: 30,
            speed: speed, track: track, hacc: 4, mode: 3)
    }

    mutating func event(
        _ kind: AgentEvent.Kind, order: String, now: Int64, cash: Int64? = nil, reason: String? = nil
    ) -> Output {
        .event(
            AgentEvent(
                agent: id, seq: nextSeq(), time: Timestamp.format(milliseconds: now), order: order, type: kind,
                cashCollected: cash, reason: reason))
    }
}
