/// The knobs of the dispatch policies. Costs are in seconds: one second of an order's pickup delay weighs 1.
///
/// The batch policy's cost of giving order `o` to agent `a` at time `now` (all in seconds) is
///
///     eta      = distance(a, o.pickup) × detourFactor / speed(a)
///     readyIn  = max(0, o.readyAt − now)
///     pickup   = max(eta, readyIn) + lateWeight × max(0, eta − readyIn) + earlyWeight × max(0, readyIn − eta)
///     cost     = pickup − fairnessWeight × min(idle(a), idleCap) − waitingWeight × min(waited(o), waitingCap)
///
/// `pickup` is when the food leaves the restaurant: an agent arriving before the food is ready costs the same as
/// one arriving just in time (apart from `earlyWeight`, the agent's wasted wait), so among the agents that make it
/// in time the fairness term decides, and longer-idle agents win. `idle(a)` is `now − lastDeliveryAt` (an agent
/// that never delivered counts as idle for `idleCap`). `waited(o)` is `now − placedAt`: subtracting it means an
/// order left unserved costs its waiting time, so when agents are scarce the oldest orders are served first.
public struct DispatchSettings: Sendable, Equatable {
    /// Travel speed, m/s, for agents without a usable recent speed. Default 5 m/s (18 km/h, a scooter in traffic).
    public var defaultSpeed: Double
    /// Recent speeds below this (m/s) are ignored (a parked agent's speed says nothing). Default 1.
    public var minimumSpeed: Double
    /// Road distance over straight-line distance. Default 1.35.
    public var detourFactor: Double
    /// Weight of arriving after the food is ready, on top of the delay itself. Default 0.5.
    public var lateWeight: Double
    /// Weight of an agent waiting at the restaurant for the food (its wasted time). Default 0.25.
    public var earlyWeight: Double
    /// Cost seconds taken off per second the agent has been idle. Default 0.3 (an hour idle is worth 18 minutes).
    public var fairnessWeight: Double
    /// Idle time counted at most (s); also the idle time of agents that never delivered. Default 3600.
    public var idleCap: Double
    /// Cost seconds taken off per second the order has waited. Default 1.
    public var waitingWeight: Double
    /// Waiting time counted at most (s). Default 3600.
    public var waitingCap: Double
    /// Candidates kept per decision (best first). Default 3.
    public var candidateCount: Int

    public init(
        defaultSpeed: Double = 5, minimumSpeed: Double = 1, detourFactor: Double = 1.35, lateWeight: Double = 0.5,
        earlyWeight: Double = 0.25, fairnessWeight: Double = 0.3, idleCap: Double = 3600, waitingWeight: Double = 1,
        waitingCap: Double = 3600, candidateCount: Int = 3
    ) {
        self.defaultSpeed = defaultSpeed
        self.minimumSpeed = minimumSpeed
        self.detourFactor = detourFactor
        self.lateWeight = lateWeight
        self.earlyWeight = earlyWeight
        self.fairnessWeight = fairnessWeight
        self.idleCap = idleCap
        self.waitingWeight = waitingWeight
        self.waitingCap = waitingCap
        self.candidateCount = candidateCount
    }

    /// The speed used for `agent`'s ETA (m/s).
    public func speed(of agent: DispatchAgent) -> Double {
        if let speed = agent.speed, speed >= minimumSpeed { return speed }
        return defaultSpeed
    }

    /// Seconds for `agent` to reach `point` along roads (straight line × detour at the agent's speed).
    public func etaSeconds(from agent: DispatchAgent, to point: GeoCoordinate) -> Double {
        agent.position.distance(to: point) * detourFactor / speed(of: agent)
    }

    /// The pickup part of the batch cost (see the type's documentation), in seconds.
    @inline(__always)
    public func pickupCost(eta: Double, readyIn: Double) -> Double {
        eta >= readyIn ? eta + lateWeight * (eta - readyIn) : readyIn + earlyWeight * (readyIn - eta)
    }

    /// The fairness bonus (seconds, ≥ 0) of `agent` at `now`.
    public func idleBonus(of agent: DispatchAgent, now: Int64) -> Double {
        guard let last = agent.lastDeliveryAt else { return fairnessWeight * idleCap }
        return fairnessWeight * min(idleCap, max(0, Double(now - last) / 1000))
    }

    /// The waiting bonus (seconds, ≥ 0) of `order` at `now`.
    public func waitingBonus(of order: DispatchOrder, now: Int64) -> Double {
        waitingWeight * min(waitingCap, max(0, Double(now - order.placedAt) / 1000))
    }

    /// Seconds until `order`'s food is ready (0 when it already is).
    public func readyIn(_ order: DispatchOrder, now: Int64) -> Double {
        max(0, Double(order.readyAt - now) / 1000)
    }
}
