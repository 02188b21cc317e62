/// All waiting orders against all available agents in one minimum-cost bipartite matching (`AssignmentSolver`).
///
/// Rows are the orders (first come first served: by `placedAt`, then id), columns the agents' free slots (agents
/// sorted by id), so the input's order does not matter and ties always break the same way. The cost of a pair is
/// documented on `DispatchSettings`; a pair is forbidden when the order's zone is not one of the agent's, the order
/// excludes the agent, or the agent carries orders from another restaurant.
///
/// Stacking (capacity > 1) within one round: an empty agent offers one slot (any restaurant); an agent already
/// carrying from restaurant R offers all its free slots, each only for orders from R. So no agent can receive
/// orders from two restaurants in one round; an empty agent of capacity 2 stacks a second order in a later round.
public struct BatchPolicy: DispatchPolicy {
    public let name = "batch"
    public let settings: DispatchSettings

    public init(settings: DispatchSettings = DispatchSettings()) {
        self.settings = settings
    }

    public func assign(orders: [DispatchOrder], agents: [DispatchAgent], now: Int64) -> [DispatchDecision] {
        let problem = BatchProblem(orders: orders, agents: agents, now: now, settings: settings)
        let assignment = AssignmentSolver.solve(
            costs: problem.costs, rows: problem.rowOrder.count, cols: problem.columnAgent.count)
        return problem.decisions(assignment: assignment, policy: name)
    }
}

/// The cost matrix of one batch round, for inspection and benchmarks.
public struct BatchCostMatrix: Sendable {
    /// Row i is the order `orderIDs[i]` (first come first served).
    public let orderIDs: [String]
    /// Column j is a free slot of `agentIDs[j]` (agents sorted by id; an agent appears once per slot).
    public let agentIDs: [String]
    /// Row-major costs in seconds (see `DispatchSettings`); `.infinity` marks a forbidden pair.
    public let costs: [Double]
}

extension BatchPolicy {
    /// The matrix `assign` solves for this input.
    public func costMatrix(orders: [DispatchOrder], agents: [DispatchAgent], now: Int64) -> BatchCostMatrix {
        let problem = BatchProblem(orders: orders, agents: agents, now: now, settings: settings)
        return BatchCostMatrix(
            orderIDs: problem.rowOrder.map { orders[$0].id }, agentIDs: problem.columnAgent.map { agents[$0].id },
            costs: problem.costs)
    }
}

/// The cost matrix of one batch round and the bookkeeping to turn its solution into decisions.
struct BatchProblem {
    let orders: [DispatchOrder]
    let agents: [DispatchAgent]
    let settings: DispatchSettings
    /// Row → index into `orders`.
    let rowOrder: [Int]
    /// Column → index into `agents`.
    let columnAgent: [Int]
    /// Agent index → its first column (-1: no free slot).
    let firstColumn: [Int]
    /// Row-major, `.infinity` for forbidden pairs.
    var costs: [Double]

    init(orders: [DispatchOrder], agents: [DispatchAgent], now: Int64, settings: DispatchSettings) {
        self.orders = orders
        self.agents = agents
        self.settings = settings
        let rowOrder = firstComeFirstServed(orders)
        self.rowOrder = rowOrder
        let agentOrder = agents.indices.sorted { agents[$0].id < agents[$1].id }

        // Interned restaurants and zones of this round's orders.
        var restaurantIndex: [String: Int] = [:]
        var zoneIndex: [String: Int] = [:]
        for order in orders {
            if restaurantIndex[order.restaurantID] == nil { restaurantIndex[order.restaurantID] = restaurantIndex.count }
            if let zone = order.zoneID, zoneIndex[zone] == nil { zoneIndex[zone] = zoneIndex.count }
        }
        let zoneCount = zoneIndex.count

        var columns: [Int] = []
        var first = [Int](repeating: -1, count: agents.count)
        /// Per agent: -1 empty (any restaurant), -2 carrying from a restaurant with no order here, else that index.
        var carry = [Int](repeating: -1, count: agents.count)
        var zoneAllowed = [Bool](repeating: true, count: agents.count * zoneCount)
        for a in agentOrder {
            let agent = agents[a]
            guard agent.load < agent.capacity else { continue }
            if agent.load > 0 {
                guard let from = agent.carryingFrom, let r = restaurantIndex[from] else { continue }
                carry[a] = r
            }
            let slots = agent.load == 0 ? 1 : agent.capacity - agent.load
            first[a] = columns.count
            columns.append(contentsOf: repeatElement(a, count: slots))
            if let zones = agent.zones {
                for (zone, z) in zoneIndex { zoneAllowed[a * zoneCount + z] = zones.contains(zone) }
            }
        }
        columnAgent = columns
        firstColumn = first
        let agentIndexByID = Dictionary(agents.indices.map { (agents[$0].id, $0) }, uniquingKeysWith: { a, _ in a })

        let rows = rowOrder.count
        let cols = columns.count
        // Per column, everything the inner loop needs, in flat arrays.
        let vectors = columns.map { UnitVector(agents[$0].position) }
        let secondsPerMetre = columns.map { settings.detourFactor / settings.speed(of: agents[$0]) }
        let idleBonus = columns.map { settings.idleBonus(of: agents[$0], now: now) }
        let columnCarry = columns.map { carry[$0] }
        let columnZoned = columns.map { agents[$0].zones != nil && zoneCount > 0 }
        var costs = [Double](repeating: .infinity, count: rows * cols)
        let twoR = 2 * GeoCoordinate.earthRadius
        for (row, o) in rowOrder.enumerated() {
            let order = orders[o]
            let pickup = UnitVector(order.pickup)
            let readyIn = settings.readyIn(order, now: now)
            let waitBonus = settings.waitingBonus(of: order, now: now)
            let restaurant = restaurantIndex[order.restaurantID]!
            let zone = order.zoneID.flatMap { zoneIndex[$0] } ?? -1
            let base = row * cols
            costs.withUnsafeMutableBufferPointer { costs in
                for column in 0..<cols {
                    let carrying = columnCarry[column]
                    if carrying != -1 && carrying != restaurant { continue }
                    if zone >= 0 && columnZoned[column] && !zoneAllowed[columns[column] * zoneCount + zone] { continue }
                    let metres = twoR * UnitVector.arcsine(pickup.halfChord(to: vectors[column]))
                    let eta = metres * secondsPerMetre[column]
                    costs[base + column] =
                        settings.pickupCost(eta: eta, readyIn: readyIn) - idleBonus[column] - waitBonus
                }
            }
            for excluded in order.excludedAgents {
                guard let a = agentIndexByID[excluded], first[a] >= 0 else { continue }
                var column = first[a]
                while column < cols && columns[column] == a {
                    costs[base + column] = .infinity
                    column += 1
                }
            }
        }
        self.costs = costs
    }

    func eta(_ agent: Int, _ order: Int) -> Double {
        settings.etaSeconds(from: agents[agent], to: orders[order].pickup)
    }

    /// Decisions in row order (first come first served), with the best few candidates per order; when the matching
    /// chose an agent outside them (a better-placed agent was needed elsewhere), it is appended to the list.
    func decisions(assignment: [Int?], policy: String) -> [DispatchDecision] {
        let cols = columnAgent.count
        return rowOrder.enumerated().map { row, o in
            var list = CandidateList(limit: max(1, settings.candidateCount))
            for (a, column) in firstColumn.enumerated() where column >= 0 {
                let cost = costs[row * cols + column]
                if cost < .infinity, list.admits(cost: cost) {
                    list.offer(DispatchCandidate(agent: agents[a].id, cost: cost, etaSeconds: eta(a, o)))
                }
            }
            var candidates = Array(list.items.prefix(settings.candidateCount))
            var chosen: String?
            if let column = assignment[row] {
                let a = columnAgent[column]
                chosen = agents[a].id
                if !candidates.contains(where: { $0.agent == chosen }) {
                    let index = row * cols + firstColumn[a]
                    candidates.append(DispatchCandidate(agent: agents[a].id, cost: costs[index], etaSeconds: eta(a, o)))
                }
            }
            return DispatchDecision(order: orders[o].id, agent: chosen, policy: policy, candidates: candidates)
        }
    }
}
