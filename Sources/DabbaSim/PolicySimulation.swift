import DabbaCore
import DabbaDispatch

/// Runs a generated day through one dispatch policy in simulated time.
///
/// Every `roundSeconds` the waiting orders and the available agents (on shift, holding no offer, and idle or on the
/// way to a restaurant with a free slot) go to the policy, with each agent's last delivery, shift start and last
/// lapse. An agent offered an order rejects it with `rejectRate` (the order then excludes it and waits for the next
/// round), lets it lapse with `lapseRate` (the order waits `offerTimeoutSeconds`, then excludes it and is queued
/// again; the agent holds the offer until then, and its lapse counts from then), else it rides in a straight line ×
/// detour at its own speed to the restaurant, waits for the food of everything it carries, and drops the orders
/// nearest-first; then it stays idle where it is. A trip under way when a shift ends is finished. Orders still
/// waiting for an agent after `timeoutMinutes` time out.
public struct PolicySimulation {
    struct Trip {
        var restaurant: Int
        var orders: [Int]
        var from: GeoCoordinate
        var departAt: Int64
        var arriveAt: Int64
        /// Drop time of each order (same order as `orders`), and when the last drop ends.
        var drops: [Int64]
        var finishAt: Int64
    }

    struct AgentState {
        var position: GeoCoordinate
        var lastDeliveryAt: Int64?
        var trip: Trip?
        var busyMilliseconds: Int64 = 0
        var busySince: Int64 = 0
        var deliveries = 0
        var shiftStartedAt: Int64?
        var lastLapseAt: Int64?
        /// Holding an offer it will let lapse, until then.
        var holdingUntil: Int64?
    }

    /// An offer being let lapse: its order waits until `until`.
    struct Lapse {
        var order: Int
        var agent: Int
        var until: Int64
    }

    let day: SimDay
    let policy: any DispatchPolicy
    /// The agents' shift starts and lapses are not shown to the policy (least-recent as it was before issue 14:
    /// by last delivery alone, never-delivered agents first). For comparison only.
    let deliveriesOnly: Bool

    public init(day: SimDay, policy: any DispatchPolicy, deliveriesOnly: Bool = false) {
        self.day = day
        self.policy = policy
        self.deliveriesOnly = deliveriesOnly
    }

    public func run() -> PolicyOutcome {
        let configuration = day.configuration
        var random = SplitMix64(seed: configuration.seed ^ 0x5EED_0FD1_5BA7_C0DE)
        var agents = day.agents.map { AgentState(position: $0.home) }
        var excluded = [Set<String>](repeating: [], count: day.orders.count)
        var assignedAt = [Int64?](repeating: nil, count: day.orders.count)
        var deliveredAt = [Int64?](repeating: nil, count: day.orders.count)
        var timedOut = 0
        var queue: [Int] = []
        var lapses: [Lapse] = []
        var nextOrder = 0
        let step = Int64(configuration.roundSeconds) * 1000
        let timeout = Int64(configuration.timeoutMinutes * 60_000)
        let offerTimeout = Int64(configuration.offerTimeoutSeconds) * 1000
        var now = day.start
        while now <= day.end || !queue.isEmpty || !lapses.isEmpty || agents.contains(where: { $0.trip != nil }) {
            // Shifts that began, and offers that lapsed (their orders wait again).
            for a in agents.indices {
                if let shift = day.agents[a].shift(at: now), agents[a].shiftStartedAt ?? Int64.min < shift.start {
                    agents[a].shiftStartedAt = shift.start
                }
            }
            lapses.removeAll { lapse in
                guard lapse.until <= now else { return false }
                agents[lapse.agent].holdingUntil = nil
                agents[lapse.agent].lastLapseAt = lapse.until
                queue.append(lapse.order)
                return true
            }
            // Finished trips.
            for a in agents.indices {
                guard let trip = agents[a].trip, trip.finishAt <= now else { continue }
                for (k, o) in trip.orders.enumerated() { deliveredAt[o] = trip.drops[k] }
                agents[a].position = day.orders[trip.orders.last!].customer
                agents[a].lastDeliveryAt = trip.finishAt
                agents[a].busyMilliseconds += trip.finishAt - agents[a].busySince
                agents[a].deliveries += trip.orders.count
                agents[a].trip = nil
            }
            // New orders, then timeouts.
            while nextOrder < day.orders.count, day.orders[nextOrder].placedAt <= now {
                queue.append(nextOrder)
                nextOrder += 1
            }
            queue.removeAll { o in
                guard now - day.orders[o].placedAt > timeout else { return false }
                timedOut += 1
                return true
            }
            if !queue.isEmpty {
                let decisions = dispatchRound(queue: queue, agents: agents, excluded: excluded, now: now)
                var taken = Set<Int>()
                for (o, a) in decisions {
                    let answer = random.nextUnit()
                    if answer < configuration.rejectRate {
                        excluded[o].insert(day.agents[a].id)
                        continue
                    }
                    if answer < configuration.rejectRate + configuration.lapseRate {
                        excluded[o].insert(day.agents[a].id)
                        agents[a].holdingUntil = now + offerTimeout
                        lapses.append(Lapse(order: o, agent: a, until: now + offerTimeout))
                        taken.insert(o)
                        continue
                    }
                    take(order: o, agent: a, now: now, agents: &agents)
                    assignedAt[o] = now
                    taken.insert(o)
                }
                queue.removeAll { taken.contains($0) }
            }
            now += step
        }
        return PolicyOutcome(
            policy: deliveriesOnly ? policy.name + " (deliveries only)" : policy.name, day: day, assignedAt: assignedAt,
            deliveredAt: deliveredAt, timedOut: timedOut,
            deliveries: agents.map(\.deliveries), busyMilliseconds: agents.map(\.busyMilliseconds),
            shiftMilliseconds: day.agents.map { $0.shifts.reduce(0) { $0 + $1.end - $1.start } })
    }

    /// One call of the policy; returns (order index, agent index) pairs.
    func dispatchRound(queue: [Int], agents: [AgentState], excluded: [Set<String>], now: Int64) -> [(Int, Int)] {
        var available: [DispatchAgent] = []
        var agentIndex: [String: Int] = [:]
        for (a, state) in agents.enumerated() {
            let info = day.agents[a]
            guard info.shift(at: now) != nil, state.holdingUntil == nil else { continue }
            var agent = DispatchAgent(
                id: info.id, position: state.position, lastDeliveryAt: state.lastDeliveryAt, load: 0,
                capacity: info.capacity, carryingFrom: nil, zones: info.zones, speed: info.speed,
                shiftStartedAt: deliveriesOnly ? nil : state.shiftStartedAt,
                lastLapseAt: deliveriesOnly ? nil : state.lastLapseAt)
            if let trip = state.trip {
                // Stackable only on the way to (or waiting at) the restaurant, before pickup.
                guard trip.orders.count < info.capacity, now < pickupTime(trip) else { continue }
                agent.position = position(of: trip, at: now)
                agent.load = trip.orders.count
                agent.carryingFrom = day.restaurants[trip.restaurant].id
            }
            agentIndex[info.id] = a
            available.append(agent)
        }
        guard !available.isEmpty else { return [] }
        let orders = queue.map { o in
            let order = day.orders[o]
            let restaurant = day.restaurants[order.restaurant]
            return DispatchOrder(
                id: order.id, restaurantID: restaurant.id, pickup: restaurant.position, zoneID: restaurant.zone,
                placedAt: order.placedAt, readyAt: order.readyAt, excludedAgents: excluded[o])
        }
        let orderIndex = Dictionary(uniqueKeysWithValues: queue.map { (day.orders[$0].id, $0) })
        return policy.assign(orders: orders, agents: available, now: now).compactMap { decision in
            guard let agent = decision.agent, let a = agentIndex[agent], let o = orderIndex[decision.order] else {
                return nil
            }
            return (o, a)
        }
    }

    /// Gives order `o` to agent `a`: a new trip, or one more order on its trip to the same restaurant.
    func take(order o: Int, agent a: Int, now: Int64, agents: inout [AgentState]) {
        let restaurant = day.orders[o].restaurant
        if var trip = agents[a].trip {
            precondition(trip.restaurant == restaurant, "stacked orders from two restaurants")
            trip.orders.append(o)
            plan(&trip, agent: a)
            agents[a].trip = trip
            return
        }
        let from = agents[a].position
        let travel = seconds(from: from, to: day.restaurants[restaurant].position, agent: a)
        var trip = Trip(
            restaurant: restaurant, orders: [o], from: from, departAt: now, arriveAt: now + Int64(travel * 1000),
            drops: [], finishAt: 0)
        plan(&trip, agent: a)
        agents[a].trip = trip
        agents[a].busySince = now
    }

    /// Pickup when the agent is there and all its food is ready, then the drops nearest-first.
    func plan(_ trip: inout Trip, agent a: Int) {
        var time = pickupTime(trip) + Int64(day.configuration.handoverSeconds * 1000)
        var here = day.restaurants[trip.restaurant].position
        var left = trip.orders
        var ordered: [Int] = []
        var drops: [Int64] = []
        while !left.isEmpty {
            let next = left.indices.min { x, y in
                let dx = here.distance(to: day.orders[left[x]].customer)
                let dy = here.distance(to: day.orders[left[y]].customer)
                return dx != dy ? dx < dy : left[x] < left[y]
            }!
            let o = left.remove(at: next)
            time += Int64(seconds(from: here, to: day.orders[o].customer, agent: a) * 1000)
            drops.append(time)
            time += Int64(day.configuration.handoverSeconds * 1000)
            here = day.orders[o].customer
            ordered.append(o)
        }
        trip.orders = ordered
        trip.drops = drops
        trip.finishAt = time
    }

    func pickupTime(_ trip: Trip) -> Int64 {
        trip.orders.reduce(trip.arriveAt) { max($0, day.orders[$1].readyAt) }
    }

    func seconds(from: GeoCoordinate, to: GeoCoordinate, agent a: Int) -> Double {
        from.distance(to: to) * day.configuration.detourFactor / day.agents[a].speed
    }

    func position(of trip: Trip, at now: Int64) -> GeoCoordinate {
        let target = day.restaurants[trip.restaurant].position
        guard trip.arriveAt > trip.departAt, now < trip.arriveAt else { return target }
        let f = Double(now - trip.departAt) / Double(trip.arriveAt - trip.departAt)
        return GeoCoordinate(
            lat: trip.from.lat + f * (target.lat - trip.from.lat), lon: trip.from.lon + f * (target.lon - trip.from.lon)
        )
    }
}
