/// One order at a time, first come first served (by `placedAt`, then id); each order goes to the feasible agent
/// with the lowest rank, ties by agent id. The agents' loads and restaurants are updated as orders are handed out,
/// so an agent gets at most `capacity - load` orders in a round, all from one restaurant.
struct SequentialPolicy: DispatchPolicy {
    enum Rule: Sendable {
        /// The original rule: the agent that has waited longest goes first — waiting since its last delivery or
        /// its shift start, whichever is later, or since its last lapse (an agent that lets an offer lapse goes to
        /// the back of the line); ties (and agents with none of these) by id.
        /// Cost shown: ``DispatchAgent/waitingSince`` in seconds since 1970 (none known: −1e18, before any time).
        case leastRecent
        /// The lowest ETA to the restaurant (haversine × detour / speed). Cost shown: that ETA in seconds.
        case nearest
    }

    let rule: Rule
    let settings: DispatchSettings

    var name: String {
        switch rule {
        case .leastRecent: "least-recent"
        case .nearest: "nearest"
        }
    }

    func assign(orders: [DispatchOrder], agents: [DispatchAgent], now: Int64) -> [DispatchDecision] {
        // Flat per-agent arrays: the scan below reads no strings or sets except where a rule needs them.
        var load = agents.map(\.load)
        let capacity = agents.map(\.capacity)
        var carrying = agents.map(\.carryingFrom)
        let zoned = agents.map { $0.zones != nil }
        let lastKey = agents.map { $0.waitingSince.map { Double($0) / 1000 } ?? -1e18 }
        // Nearest ranks every agent by its ETA; least-recent needs one only for the few agents its candidate list
        // admits, so it computes them then (the trigonometry for 10,000 agents was most of a one-order call).
        let ranksByETA = rule == .nearest
        let vectors = ranksByETA ? agents.map { UnitVector($0.position) } : []
        let secondsPerMetre = ranksByETA ? agents.map { settings.detourFactor / settings.speed(of: $0) } : []
        let twoR = 2 * GeoCoordinate.earthRadius
        var decisions: [DispatchDecision] = []
        decisions.reserveCapacity(orders.count)
        for orderIndex in firstComeFirstServed(orders) {
            let order = orders[orderIndex]
            let pickup = UnitVector(order.pickup)
            let checksExclusions = !order.excludedAgents.isEmpty
            @inline(__always) func eta(_ index: Int) -> Double {
                guard ranksByETA else {
                    let agent = agents[index]
                    return twoR * UnitVector.arcsine(pickup.halfChord(to: UnitVector(agent.position)))
                        * (settings.detourFactor / settings.speed(of: agent))
                }
                return twoR * UnitVector.arcsine(pickup.halfChord(to: vectors[index])) * secondsPerMetre[index]
            }
            var list = CandidateList(limit: max(1, settings.candidateCount))
            var bestIndex = -1
            var bestCost = Double.infinity
            for index in 0..<agents.count {
                guard load[index] < capacity[index] else { continue }
                if load[index] > 0 && carrying[index] != order.restaurantID { continue }
                if checksExclusions && order.excludedAgents.contains(agents[index].id) { continue }
                if zoned[index], let zone = order.zoneID, !agents[index].zones!.contains(zone) { continue }
                let cost = rule == .nearest ? eta(index) : lastKey[index]
                if cost < bestCost || (cost == bestCost && agents[index].id < agents[bestIndex].id) {
                    bestCost = cost
                    bestIndex = index
                }
                if list.admits(cost: cost) {
                    let seconds = rule == .nearest ? cost : eta(index)
                    list.offer(DispatchCandidate(agent: agents[index].id, cost: cost, etaSeconds: seconds))
                }
            }
            var chosen: String?
            if bestIndex >= 0 {
                chosen = agents[bestIndex].id
                load[bestIndex] += 1
                carrying[bestIndex] = order.restaurantID
            }
            decisions.append(
                DispatchDecision(
                    order: order.id, agent: chosen, policy: name,
                    candidates: Array(list.items.prefix(settings.candidateCount))))
        }
        return decisions
    }
}
