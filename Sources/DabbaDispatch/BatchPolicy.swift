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
        var stats = BatchProblem.FastStats()
        return assign(orders: orders, agents: agents, now: now, fastPath: nil, stats: &stats)
    }

    /// Rounds with at least this many (order, agent) pairs take the fast path (candidate lists and pricing by lower
    /// bounds, no full matrix); smaller ones solve the whole matrix.
    static let fastPathPairs = 20_000

    /// `fastPath`: nil chooses by size; true tries it on any size (tests), false never.
    func assign(
        orders: [DispatchOrder], agents: [DispatchAgent], now: Int64, fastPath: Bool?,
        stats: inout BatchProblem.FastStats
    ) -> [DispatchDecision] {
        var problem = BatchProblem(orders: orders, agents: agents, now: now, settings: settings)
        let rows = problem.rowOrder.count
        let cols = problem.columnAgent.count
        if fastPath ?? (rows * cols >= BatchPolicy.fastPathPairs) {
            let count = max(BatchPolicy.candidateListLength, settings.candidateCount)
            if let (assignment, lists) = problem.solveFast(candidates: count, stats: &stats) {
                return problem.decisions(assignment: assignment, lists: lists, policy: name)
            }
        }
        problem.fillCosts()
        let assignment = AssignmentSolver.solve(costs: problem.costs, rows: rows, cols: cols)
        return problem.decisions(assignment: assignment, policy: name)
    }

    /// Agents first kept per order on the fast path: the cheapest, then the best by the cost with a capped bonus
    /// (`BatchProblem.bonusCap`). Longer lists need fewer pricing passes but make every list scan and solve slower
    /// (measured on the benchmark, 100 rounds: 8 + 8 took 3–5 solves and the fastest rounds, 8 + 12 2–4 solves and
    /// ~3 ms more, 8 + 24 matching twice as slow; 8 + 4 needed more than 8 passes on some rounds).
    static let candidateListLength = 8
    static let cappedListLength = 8
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
        var problem = BatchProblem(orders: orders, agents: agents, now: now, settings: settings)
        problem.fillCosts()
        return BatchCostMatrix(
            orderIDs: problem.rowOrder.map { orders[$0].id }, agentIDs: problem.columnAgent.map { agents[$0].id },
            costs: problem.costs)
    }
}

/// The cost matrix of one batch round and the bookkeeping to turn its solution into decisions.
///
/// The flat per-row and per-agent data (`rowPickup`, `agentVector`, …) give any entry by `cost(row:agent:)`; the full
/// row-major matrix `costs` is only built when asked for (`fillCosts()`: `costMatrix`, and the dense fallback).
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
    /// Row-major, `.infinity` for forbidden pairs; empty until `fillCosts()`.
    var costs: [Double] = []

    // Per row.
    let rowPickup: [UnitVector]
    let rowReadyIn: [Double]
    let rowWait: [Double]
    let rowRestaurant: [Int]
    let rowZone: [Int]
    /// Slot-holding agents (`slotAgents` indices) the row's order excludes, sorted.
    let rowExcluded: [[Int]]
    // Per slot-holding agent, in id order (the column order): k-th such agent is `slotAgents[k]`.
    let slotAgents: [Int]
    let agentVector: [UnitVector]
    let agentSecondsPerMetre: [Double]
    let agentBonus: [Double]
    /// -1 empty (any restaurant), else the restaurant index of what it carries.
    let agentCarry: [Int]
    let agentZoned: [Bool]
    let agentFirstColumn: [Int]
    let agentSlots: [Int]
    let zoneAllowed: [Bool]
    let zoneCount: Int

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
            if restaurantIndex[order.restaurantID] == nil {
                restaurantIndex[order.restaurantID] = restaurantIndex.count
            }
            if let zone = order.zoneID, zoneIndex[zone] == nil { zoneIndex[zone] = zoneIndex.count }
        }
        let zoneCount = zoneIndex.count
        self.zoneCount = zoneCount

        var columns: [Int] = []
        var first = [Int](repeating: -1, count: agents.count)
        var slotAgents: [Int] = []
        var agentCarry: [Int] = []
        var agentSlots: [Int] = []
        var agentFirstColumn: [Int] = []
        var zoneAllowed: [Bool] = []
        for a in agentOrder {
            let agent = agents[a]
            guard agent.load < agent.capacity else { continue }
            var carrying = -1
            if agent.load > 0 {
                guard let from = agent.carryingFrom, let r = restaurantIndex[from] else { continue }
                carrying = r
            }
            let slots = agent.load == 0 ? 1 : agent.capacity - agent.load
            first[a] = columns.count
            agentFirstColumn.append(columns.count)
            columns.append(contentsOf: repeatElement(a, count: slots))
            slotAgents.append(a)
            agentCarry.append(carrying)
            agentSlots.append(slots)
            var allowed = [Bool](repeating: true, count: zoneCount)
            if let zones = agent.zones {
                for (zone, z) in zoneIndex { allowed[z] = zones.contains(zone) }
            }
            zoneAllowed.append(contentsOf: allowed)
        }
        columnAgent = columns
        firstColumn = first
        self.slotAgents = slotAgents
        self.agentCarry = agentCarry
        self.agentSlots = agentSlots
        self.agentFirstColumn = agentFirstColumn
        self.zoneAllowed = zoneAllowed
        agentVector = slotAgents.map { UnitVector(agents[$0].position) }
        agentSecondsPerMetre = slotAgents.map { settings.detourFactor / settings.speed(of: agents[$0]) }
        agentBonus = slotAgents.map { settings.idleBonus(of: agents[$0], now: now) }
        agentZoned = slotAgents.map { agents[$0].zones != nil && zoneCount > 0 }

        var slotIndexByID: [String: Int] = [:]
        for (k, a) in slotAgents.enumerated() where slotIndexByID[agents[a].id] == nil {
            slotIndexByID[agents[a].id] = k
        }
        rowPickup = rowOrder.map { UnitVector(orders[$0].pickup) }
        rowReadyIn = rowOrder.map { settings.readyIn(orders[$0], now: now) }
        rowWait = rowOrder.map { settings.waitingBonus(of: orders[$0], now: now) }
        rowRestaurant = rowOrder.map { restaurantIndex[orders[$0].restaurantID]! }
        rowZone = rowOrder.map { orders[$0].zoneID.flatMap { zoneIndex[$0] } ?? -1 }
        rowExcluded = rowOrder.map { o in orders[o].excludedAgents.compactMap { slotIndexByID[$0] }.sorted() }
    }

    /// Whether row `row` may take agent `k` (a `slotAgents` index): restaurant, zone, exclusions.
    @inline(__always)
    func feasible(row: Int, agent k: Int) -> Bool {
        let carrying = agentCarry[k]
        if carrying != -1 && carrying != rowRestaurant[row] { return false }
        let zone = rowZone[row]
        if zone >= 0 && agentZoned[k] && !zoneAllowed[k * zoneCount + zone] { return false }
        if !rowExcluded[row].isEmpty && rowExcluded[row].contains(k) { return false }
        return true
    }

    /// The cost of a feasible pair (see `DispatchSettings`); every path computes entries with this one expression
    /// (the fast path from a cached `pickupETA`, which depends on the pickup point only, so the value is the same).
    @inline(__always)
    func cost(row: Int, agent k: Int) -> Double {
        cost(row: row, agent: k, eta: pickupETA(row: row, agent: k))
    }

    /// Seconds for agent `k` to reach row `row`'s pickup (the `eta` of the cost).
    @inline(__always)
    func pickupETA(row: Int, agent k: Int) -> Double {
        BatchProblem.eta(from: agentVector[k], to: rowPickup[row], secondsPerMetre: agentSecondsPerMetre[k])
    }

    /// The one expression of every `pickupETA` (also the fast path's table of them).
    @inline(__always)
    static func eta(from agent: UnitVector, to pickup: UnitVector, secondsPerMetre: Double) -> Double {
        let metres = 2 * GeoCoordinate.earthRadius * UnitVector.arcsine(pickup.halfChord(to: agent))
        return metres * secondsPerMetre
    }

    /// The cost of a feasible pair from its `pickupETA`.
    @inline(__always)
    func cost(row: Int, agent k: Int, eta: Double) -> Double {
        settings.pickupCost(eta: eta, readyIn: rowReadyIn[row]) - agentBonus[k] - rowWait[row]
    }

    /// Builds the full row-major matrix (`.infinity` for forbidden pairs).
    mutating func fillCosts() {
        guard costs.isEmpty else { return }
        let rows = rowOrder.count
        let cols = columnAgent.count
        var costs = [Double](repeating: .infinity, count: rows * cols)
        for row in 0..<rows {
            let base = row * cols
            for k in slotAgents.indices where feasible(row: row, agent: k) {
                let c = cost(row: row, agent: k)
                for s in 0..<agentSlots[k] { costs[base + agentFirstColumn[k] + s] = c }
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

/// Where one batch round's time went (for `dabba-bench-dispatch`).
public struct BatchRoundProfile: Sendable {
    /// Whether the round took the fast path (no full matrix); false: the whole matrix was built and solved.
    public var fastPath: Bool
    /// Solves of the sparse matching (1 + rounds of pricing that found entries to add).
    public var passes: Int
    /// Edges of the last sparse graph.
    public var edges: Int
    /// Seconds: candidate lists (the needed part of the cost matrix), matching, pricing check.
    public var candidateSeconds: Double
    public var matchingSeconds: Double
    public var pricingSeconds: Double
}

extension BatchPolicy {
    /// `assign`, with where the time went.
    public func assignProfiled(orders: [DispatchOrder], agents: [DispatchAgent], now: Int64)
        -> (decisions: [DispatchDecision], profile: BatchRoundProfile)
    {
        var stats = BatchProblem.FastStats()
        let decisions = assign(orders: orders, agents: agents, now: now, fastPath: nil, stats: &stats)
        let profile = BatchRoundProfile(
            fastPath: stats.succeeded, passes: stats.passes, edges: stats.edges,
            candidateSeconds: stats.candidateSeconds, matchingSeconds: stats.matchingSeconds,
            pricingSeconds: stats.pricingSeconds)
        return (decisions, profile)
    }
}
