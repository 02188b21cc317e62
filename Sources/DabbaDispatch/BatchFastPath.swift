/// The batch round without the full cost matrix: candidate lists from a spatial grid with lower bounds, an exact
/// matching on them (`SparseAssignment`), and a pricing check of its dual potentials against every feasible pair,
/// also pruned by lower bounds. The answer is optimal for the whole matrix (see `solveFast`).
///
/// Lower bound. With `earlyWeight ≥ 0` and `lateWeight ≥ −1` the pickup part `P(eta)` of the cost falls (slope
/// −earlyWeight) until `eta = readyIn`, where `P = readyIn`, then rises (slope 1 + lateWeight); so over
/// `eta ≥ etaLo` its minimum is `readyIn` if `etaLo ≤ readyIn`, else `P(etaLo)`. For the agents of one grid cell,
/// `etaLo` = (great-circle distance from the pickup to the cell's bounding box of unit vectors, a lower bound of
/// every agent's distance as the distance grows with the chord) × (the cell's smallest seconds per metre). So for
/// any agent k of the cell: cost ≥ Plo(cell) − bonus(k) − wait(row); agents are kept in descending bonus order per
/// cell, so a scan stops at the first agent whose bound clears the threshold, and a cell whose best bound (largest
/// bonus) clears it is skipped. Bounds are compared with a relative slack of 1e-9 against rounding.
extension BatchProblem {
    struct Grid {
        struct Cell {
            var lo: UnitVector
            var hi: UnitVector
            var secondsPerMetre: Double
            var maxBonus: Double
            var begin: Int
            var end: Int
        }
        var cells: [Cell]
        /// Agents (`slotAgents` indices) by cell, each cell's in descending bonus (then index) order.
        var agents: [Int]
    }

    /// Whether the lower bounds hold for these settings and inputs (else the dense path runs).
    var boundsApply: Bool {
        settings.earlyWeight >= 0 && settings.lateWeight >= -1
            && agentSecondsPerMetre.allSatisfy { $0.isFinite && $0 >= 0 } && agentBonus.allSatisfy(\.isFinite)
            && rowReadyIn.allSatisfy(\.isFinite) && rowWait.allSatisfy(\.isFinite)
            && settings.lateWeight.isFinite && settings.earlyWeight.isFinite
    }

    func makeGrid() -> Grid {
        let n = slotAgents.count
        let side = max(1, Int((Double(n) / 32).squareRoot()))
        var minLat = Double.infinity
        var maxLat = -Double.infinity
        var minLon = Double.infinity
        var maxLon = -Double.infinity
        for a in slotAgents {
            let p = agents[a].position
            minLat = min(minLat, p.lat)
            maxLat = max(maxLat, p.lat)
            minLon = min(minLon, p.lon)
            maxLon = max(maxLon, p.lon)
        }
        func index(_ x: Double, _ lo: Double, _ hi: Double) -> Int {
            guard hi > lo, x.isFinite else { return 0 }
            return min(side - 1, max(0, Int((x - lo) / (hi - lo) * Double(side))))
        }
        var cellOf = [Int](repeating: 0, count: n)
        var counts = [Int](repeating: 0, count: side * side)
        for k in 0..<n {
            let p = agents[slotAgents[k]].position
            let c = index(p.lat, minLat, maxLat) * side + index(p.lon, minLon, maxLon)
            cellOf[k] = c
            counts[c] += 1
        }
        var begin = [Int](repeating: 0, count: side * side + 1)
        for c in 0..<side * side { begin[c + 1] = begin[c] + counts[c] }
        var fill = begin
        var order = [Int](repeating: 0, count: n)
        for k in 0..<n {
            order[fill[cellOf[k]]] = k
            fill[cellOf[k]] += 1
        }
        var cells: [Grid.Cell] = []
        for c in 0..<side * side where begin[c] < begin[c + 1] {
            order[begin[c]..<begin[c + 1]].sort { a, b in
                agentBonus[a] != agentBonus[b] ? agentBonus[a] > agentBonus[b] : a < b
            }
            var lo = agentVector[order[begin[c]]]
            var hi = lo
            var spm = Double.infinity
            for k in order[begin[c]..<begin[c + 1]] {
                let v = agentVector[k]
                lo = UnitVector(x: min(lo.x, v.x), y: min(lo.y, v.y), z: min(lo.z, v.z))
                hi = UnitVector(x: max(hi.x, v.x), y: max(hi.y, v.y), z: max(hi.z, v.z))
                spm = min(spm, agentSecondsPerMetre[k])
            }
            cells.append(
                Grid.Cell(
                    lo: lo, hi: hi, secondsPerMetre: spm, maxBonus: agentBonus[order[begin[c]]], begin: begin[c],
                    end: begin[c + 1]))
        }
        return Grid(cells: cells, agents: order)
    }

    /// A lower bound of the pickup part of the cost for `row` and any agent of `cell`.
    @inline(__always)
    func pickupLowerBound(row: Int, cell: Grid.Cell) -> Double {
        let p = rowPickup[row]
        let dx = max(cell.lo.x - p.x, 0, p.x - cell.hi.x)
        let dy = max(cell.lo.y - p.y, 0, p.y - cell.hi.y)
        let dz = max(cell.lo.z - p.z, 0, p.z - cell.hi.z)
        let half = (dx * dx + dy * dy + dz * dz).squareRoot() / 2
        let etaLo = 2 * GeoCoordinate.earthRadius * UnitVector.arcsine(half) * cell.secondsPerMetre
        let readyIn = rowReadyIn[row]
        return etaLo > readyIn ? settings.pickupCost(eta: etaLo, readyIn: readyIn) : readyIn
    }

    @inline(__always)
    static func loosened(_ bound: Double) -> Double { bound - 1e-9 * (1 + abs(bound)) }

    /// Row `row`'s `count` cheapest feasible agents by (cost, agent index), cheapest first.
    func cheapest(row: Int, count: Int, grid: Grid, cellBound: inout [Double], cellOrder: inout [Int])
        -> [(agent: Int, cost: Double)]
    {
        guard count > 0 else { return [] }
        let wait = rowWait[row]
        cellOrder.removeAll(keepingCapacity: true)
        for (c, cell) in grid.cells.enumerated() {
            let p = pickupLowerBound(row: row, cell: cell)
            cellBound[c] = p
            cellOrder.append(c)
        }
        cellOrder.sort { a, b in
            let x = cellBound[a] - grid.cells[a].maxBonus
            let y = cellBound[b] - grid.cells[b].maxBonus
            return x != y ? x < y : a < b
        }
        // A max-heap on (cost, agent) of the best `count` so far.
        var heap: [(agent: Int, cost: Double)] = []
        heap.reserveCapacity(count)
        @inline(__always) func above(_ a: (agent: Int, cost: Double), _ b: (agent: Int, cost: Double)) -> Bool {
            a.cost != b.cost ? a.cost > b.cost : a.agent > b.agent
        }
        for c in cellOrder {
            let cell = grid.cells[c]
            let plo = cellBound[c] - wait
            if heap.count == count && BatchProblem.loosened(plo - cell.maxBonus) > heap[0].cost { break }
            for index in cell.begin..<cell.end {
                let k = grid.agents[index]
                if heap.count == count && BatchProblem.loosened(plo - agentBonus[k]) > heap[0].cost { break }
                guard feasible(row: row, agent: k) else { continue }
                let entry = (agent: k, cost: cost(row: row, agent: k))
                if heap.count < count {
                    var i = heap.count
                    heap.append(entry)
                    while i > 0 {
                        let parent = (i - 1) / 2
                        guard above(entry, heap[parent]) else { break }
                        heap[i] = heap[parent]
                        i = parent
                    }
                    heap[i] = entry
                } else if above(heap[0], entry) {
                    var i = 0
                    while true {
                        let left = 2 * i + 1
                        guard left < count else { break }
                        var child = left
                        if left + 1 < count && above(heap[left + 1], heap[left]) { child = left + 1 }
                        guard above(heap[child], entry) else { break }
                        heap[i] = heap[child]
                        i = child
                    }
                    heap[i] = entry
                }
            }
        }
        heap.sort { a, b in a.cost != b.cost ? a.cost < b.cost : a.agent < b.agent }
        return heap
    }

    /// The auction's ε phases (seconds of cost) before the first exact solve, and before a solve after a pricing
    /// pass that released many rows (the prices are then close already).
    static let auctionEpsilons: [Double] = [64, 16, 4, 1, 0.25, 0.0625, 0.015, 0.004, 0.001]
    static let auctionRefineEpsilons: [Double] = [1, 0.1, 0.01, 0.001]

    /// Statistics of the last fast solve, for the benchmark.
    struct FastStats {
        var passes = 0
        var edges = 0
        var candidateSeconds = 0.0
        var matchingSeconds = 0.0
        var pricingSeconds = 0.0
        var succeeded = false
    }

    /// The exact matching without the full matrix, and each row's cheapest agents (for the decisions); nil when the
    /// fast path does not apply or gives up (the caller then solves the dense matrix).
    ///
    /// Exactness. Rows without any feasible agent stay unassigned in every assignment. Every other row gets a
    /// column in the sparse matching; `SparseAssignment` leaves potentials u (rows), v ≤ 0 (columns, 0 where free)
    /// with every matched edge tight. The pricing check proves c(i, j) − u(i) − v(j) ≥ −tol for every feasible
    /// (row, column) of the full matrix (exactly where the bound cannot rule it out, by the bound elsewhere: as
    /// −v ≥ 0, c − v ≥ c ≥ bound ≥ u). Then (u, v) is dual feasible for the full problem (within tol) and satisfies
    /// complementary slackness with the matching, so the matching has the least total cost among assignments of
    /// all assignable rows (within rows·tol, i.e. floating-point rounding); as it assigns every assignable row it
    /// is also of maximum size, which the dense path puts first. Entries that fail the check join the rows'
    /// candidate lists and the matching is solved again.
    func solveFast(candidates: Int, maxPasses: Int = 8, stats: inout FastStats)
        -> (assignment: [Int?], lists: [[(agent: Int, cost: Double)]])?
    {
        let rows = rowOrder.count
        let cols = columnAgent.count
        guard rows > 0, rows <= cols, boundsApply else { return nil }
        var count = candidates
        let clock = ContinuousClock()
        var mark = clock.now
        func lap() -> Double {
            let now = clock.now
            let d = now - mark
            mark = now
            return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        }
        let grid = makeGrid()
        var cellBound = [Double](repeating: 0, count: grid.cells.count)
        var cellOrder: [Int] = []
        cellOrder.reserveCapacity(grid.cells.count)
        var lists = (0..<rows).map {
            cheapest(row: $0, count: count, grid: grid, cellBound: &cellBound, cellOrder: &cellOrder)
        }
        stats.candidateSeconds += lap()
        var warm: SparseAssignment?
        for _ in 0..<maxPasses {
            stats.passes += 1
            var start = [0]
            start.reserveCapacity(rows + 1)
            var column: [Int] = []
            var weight: [Double] = []
            var largest = 0.0
            for row in 0..<rows {
                for (k, c) in lists[row] {
                    largest = max(largest, abs(c))
                    for s in 0..<agentSlots[k] {
                        column.append(agentFirstColumn[k] + s)
                        weight.append(c)
                    }
                }
                start.append(column.count)
            }
            stats.edges = column.count
            // Warm start: the previous pass's matching and potentials, with the rows that had violations released.
            if warm == nil {
                warm = SparseAssignment(rows: rows, cols: cols, start: start, column: column, weight: weight)
                warm!.auctionStart(epsilons: BatchProblem.auctionEpsilons, maxBids: 200 * rows)
            } else {
                warm!.replaceGraph(start: start, column: column, weight: weight)
                // Many rows released: new prices from an auction started at the current ones are cheaper than
                // repairing them one shortest path at a time.
                if warm!.col4row.lazy.filter({ $0 < 0 }).count > rows / 20 {
                    warm!.auctionStart(epsilons: BatchProblem.auctionRefineEpsilons, maxBids: 200 * rows)
                }
            }
            let matched = warm!.solve(maxBids: 10 * rows)
            let matching = warm!
            stats.matchingSeconds += lap()
            guard matched else {
                // Too few columns in the lists for every row to get one: longer lists, then solve again (cold: every
                // row's list changes).
                warm = nil
                guard count < cols else { return nil }
                count = min(cols, count * 2)
                lists = (0..<rows).map {
                    cheapest(row: $0, count: count, grid: grid, cellBound: &cellBound, cellOrder: &cellOrder)
                }
                stats.candidateSeconds += lap()
                continue
            }
            // Pricing over every feasible pair.
            let tolerance = 1e-9 * (1 + largest)
            var violations = 0
            for row in 0..<rows where !lists[row].isEmpty {
                let ui = matching.u[row]
                let wait = rowWait[row]
                var added: [(agent: Int, cost: Double)] = []
                for cell in grid.cells {
                    let plo = pickupLowerBound(row: row, cell: cell) - wait
                    if BatchProblem.loosened(plo - cell.maxBonus) >= ui { continue }
                    for index in cell.begin..<cell.end {
                        let k = grid.agents[index]
                        if BatchProblem.loosened(plo - agentBonus[k]) >= ui { break }
                        guard feasible(row: row, agent: k) else { continue }
                        let c = cost(row: row, agent: k)
                        let first = agentFirstColumn[k]
                        var violated = false
                        for s in 0..<agentSlots[k] where c - ui - matching.v[first + s] < -tolerance { violated = true }
                        if violated { added.append((k, c)) }
                    }
                }
                if !added.isEmpty {
                    for entry in added {
                        // An edge already in the graph cannot be violated but by rounding: give up then.
                        if lists[row].contains(where: { $0.agent == entry.agent }) { return nil }
                        lists[row].append(entry)
                    }
                    violations += added.count
                    warm!.release(row: row)
                }
            }
            stats.pricingSeconds += lap()
            if violations == 0 {
                stats.succeeded = true
                return (matching.col4row.map { $0 >= 0 ? $0 : nil }, lists)
            }
        }
        return nil
    }

    /// Decisions from the fast path: the candidates are the first of each row's cheapest agents.
    func decisions(assignment: [Int?], lists: [[(agent: Int, cost: Double)]], policy: String) -> [DispatchDecision] {
        rowOrder.enumerated().map { row, o in
            var candidates = lists[row].prefix(settings.candidateCount).map { k, c in
                DispatchCandidate(agent: agents[slotAgents[k]].id, cost: c, etaSeconds: eta(slotAgents[k], o))
            }
            var chosen: String?
            if let column = assignment[row] {
                let a = columnAgent[column]
                chosen = agents[a].id
                if !candidates.contains(where: { $0.agent == chosen }) {
                    let k = lists[row].first { slotAgents[$0.agent] == a }!
                    candidates.append(DispatchCandidate(agent: agents[a].id, cost: k.cost, etaSeconds: eta(a, o)))
                }
            }
            return DispatchDecision(order: orders[o].id, agent: chosen, policy: policy, candidates: candidates)
        }
    }
}

