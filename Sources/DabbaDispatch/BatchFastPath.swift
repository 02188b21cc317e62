/// The batch round without the full cost matrix: candidate lists from each pickup group's ETAs with lower bounds
/// (`BatchGeometry.swift`), an exact matching on them (`SparseAssignment`), and a pricing check of its dual
/// potentials against every feasible pair, also pruned by lower bounds. The answer is optimal for the whole matrix
/// (see `solveFast`).
extension BatchProblem {
    /// Row `row`'s list (see `candidateLists`) from its group's table (ETAs by rank), in one scan of the agents in
    /// descending bonus order that stops where both bounds clear: `readyIn − bonus − wait` the `count`-th cost,
    /// `readyIn − min(bonus, cap) − wait` the `capped`-th capped cost; nil when it needs more ranks than `etas` has
    /// (or a long run its table has not indexed, `runs`).
    /// An agent is only checked for feasibility and costed (`cost(row:agent:eta:)`) when a branch-free estimate of
    /// its cost (the pickup part as the larger of its late and early forms, equal to it when `earlyWeight ≥ 0`,
    /// `lateWeight ≥ −1`) could enter one of the lists, with a margin against rounding (`admitting`).
    ///
    /// A long run of one bonus (`PickupGroups.longRuns`), where the bonus cannot stop the scan, is visited by ETA
    /// instead: its buckets (`RunIndex`) in ascending order of the least estimate they can hold (the estimate falls
    /// to `readyIn − wait` at an ETA of `readyIn` and rises on both sides), until that bound clears both lists. The
    /// lists are the same whatever the order: an agent is left out only when its cost cannot enter the final lists.
    func candidateList(
        row: Int, count: Int, capped: Int, cap: Double, etas: UnsafeBufferPointer<Double>,
        runs: [PickupGroups.RunIndex], groups: PickupGroups, bonus: UnsafeBufferPointer<Double>
    ) -> [(agent: Int, cost: Double)]? {
        let readyIn = rowReadyIn[row]
        let floor = readyIn - rowWait[row]
        let late = settings.lateWeight
        let early = settings.earlyWeight
        var cheapest = CandidateHeap(limit: count)
        var best = CandidateHeap(limit: capped)
        // Each list's worst key once full (else +∞), raised by a rounding margin (`admitting`).
        var cheapestLimit = Double.infinity
        var bestLimit = Double.infinity
        let wait = rowWait[row]
        @inline(__always)
        func estimate(_ e: Double) -> Double {
            max(e + late * (e - readyIn), readyIn + early * (readyIn - e)) - wait
        }
        /// Offers the agent of `rank` to the lists it may enter.
        @inline(__always)
        func consider(rank: Int, eta e: Double, wantCheapest: Bool, wantBest: Bool, bonus b: Double) {
            let k = groups.byBonus[rank]
            guard feasible(row: row, agent: k) else { return }
            let cost = cost(row: row, agent: k, eta: e)
            if wantCheapest {
                cheapest.offer(agent: k, key: cost, cost: cost)
                if cheapest.isFull { cheapestLimit = BatchProblem.admitting(cheapest.top) }
            }
            if wantBest {
                best.offer(agent: k, key: b > cap ? cost + (b - cap) : cost, cost: cost)
                if best.isFull { bestLimit = BatchProblem.admitting(best.top) }
            }
        }
        var rank = 0
        var nextRun = 0
        while rank < bonus.count {
            let b = bonus[rank]
            let cappedBonus = min(b, cap)
            let cheapestDone = floor - b > cheapestLimit
            let bestDone = floor - cappedBonus > bestLimit
            if cheapestDone && bestDone { break }
            if nextRun < groups.longRuns.count && groups.longRuns[nextRun].lowerBound == rank {
                guard nextRun < runs.count else { return nil }
                let index = runs[nextRun]
                var right = index.firstBucket(reaching: readyIn)
                var left = right - 1
                while left >= 0 || right < index.count {
                    let rightBound = right < index.count ? estimate(max(readyIn, index.least[right])) : .infinity
                    let leftBound = left >= 0 ? estimate(min(readyIn, index.greatest[left])) : .infinity
                    let takeRight = rightBound <= leftBound
                    let bound = BatchProblem.loosened(takeRight ? rightBound : leftBound)
                    guard bound - b <= cheapestLimit || bound - cappedBonus <= bestLimit else { break }
                    let bucket = takeRight ? right : left
                    if takeRight { right += 1 } else { left -= 1 }
                    for i in Int(index.start[bucket])..<Int(index.start[bucket + 1]) {
                        let r = Int(index.ranks[i])
                        let e = etas[r]
                        let x = estimate(e)
                        let wantCheapest = x - b <= cheapestLimit
                        let wantBest = x - cappedBonus <= bestLimit
                        guard wantCheapest || wantBest else { continue }
                        consider(rank: r, eta: e, wantCheapest: wantCheapest, wantBest: wantBest, bonus: b)
                    }
                }
                rank = groups.longRuns[nextRun].upperBound
                nextRun += 1
                continue
            }
            guard rank < etas.count else { return nil }
            let e = etas[rank]
            let x = estimate(e)
            let wantCheapest = !cheapestDone && x - b <= cheapestLimit
            let wantBest = !bestDone && x - cappedBonus <= bestLimit
            rank += 1
            guard wantCheapest || wantBest else { continue }
            consider(rank: rank - 1, eta: e, wantCheapest: wantCheapest, wantBest: wantBest, bonus: b)
        }
        var list = cheapest.sorted()
        for entry in best.sorted() where !list.contains(where: { $0.agent == entry.agent }) { list.append(entry) }
        return list
    }

    /// The bonus the capped lists use: that of the most idle agents, by slots, enough for every row (the agent
    /// whose slots, counted in descending bonus order, reach `rows`).
    ///
    /// At the optimum the prices even out the matched agents' bonus + price (`v`) at about that value: every order
    /// can reach the most idle agents across the city, so their extra bonus is bid away (measured on the benchmark's
    /// rounds: 5–99 % of the matched agents within 965–982 s, the cap 966–970 s). Lists of the cheapest agents by
    /// the true cost hold only the most idle agents, whose prices then rule most of them out, and the first pricing
    /// pass added ~37 entries to ~75 % of the rows; lists by the capped cost hold what the prices will make cheap.
    func bonusCap(rows: Int, groups: PickupGroups) -> Double {
        var slots = 0
        for k in groups.byBonus {
            slots += agentSlots[k]
            if slots >= rows { return agentBonus[k] }
        }
        return -.infinity
    }

    /// Every row's list, group by group: its `count` cheapest feasible agents by (cost, index), cheapest first (the
    /// decisions' candidates come from them), then its `capped` best by (cost with the bonus capped at `cap`, index)
    /// that are not already in. Each group's table grows as its rows' scans need. Groups are independent (each
    /// reads what all share and writes its own rows' lists and its own table), so they are spread over the cores
    /// (`concurrently`); the lists do not depend on which core took a group.
    func candidateLists(count: Int, capped: Int, cap: Double, groups: inout PickupGroups)
        -> [[(agent: Int, cost: Double)]]
    {
        var lists = [[(agent: Int, cost: Double)]](repeating: [], count: rowOrder.count)
        var tables = groups.takeTables()
        let shared = groups
        lists.withUnsafeMutableBufferPointer { lists in
            tables.withUnsafeMutableBufferPointer { tables in
                let lists = DisjointWrites(base: lists)
                let tables = DisjointWrites(base: tables)
                BatchProblem.concurrently(shared.count) { g in
                    // A scan that runs out of ranks starts again with twice as many.
                    shared.extend(&tables[g], group: g, to: 2 * PickupGroups.block)
                    for row in shared.rows(of: g) {
                        while true {
                            let list = tables[g].etas.withUnsafeBufferPointer { etas in
                                shared.bonus.withUnsafeBufferPointer { bonus in
                                    candidateList(
                                        row: row, count: count, capped: capped, cap: cap, etas: etas,
                                        runs: tables[g].runs, groups: shared, bonus: bonus)
                                }
                            }
                            if let list {
                                lists[row] = list
                                break
                            }
                            shared.extend(&tables[g], group: g, to: 2 * tables[g].etas.count)
                        }
                    }
                }
            }
        }
        groups.putTables(tables)
        return lists
    }

    /// The auction's ε phases (seconds of cost) before the first pass, and on later passes from the prices already
    /// found (they are then close).
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
    /// (row, column) of the full matrix (exactly where the bound cannot rule it out, by the bound elsewhere). Then
    /// (u, v) is dual feasible for the full problem (within tol) and satisfies complementary slackness with the
    /// matching, so the matching has the least total cost among assignments of all assignable rows (within rows·tol,
    /// i.e. floating-point rounding); as it assigns every assignable row it is also of maximum size, which the dense
    /// path puts first. Entries that fail the check join the rows' candidate lists and the matching is solved again,
    /// warm: the matching and (u, v) are kept and only the rows with violations are released. A pass costs a few
    /// milliseconds and the dense matrix ~1 s, so up to `maxPasses` are tried (3–5 on the benchmark's rounds).
    func solveFast(candidates: Int, maxPasses: Int = 16, stats: inout FastStats)
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
        var groups = PickupGroups(problem: self)
        let cap = bonusCap(rows: rows, groups: groups)
        var lists = candidateLists(count: count, capped: BatchPolicy.cappedListLength, cap: cap, groups: &groups)
        stats.candidateSeconds += lap()
        var state: SparseAssignment?
        var largest = 0.0
        for _ in 0..<maxPasses {
            stats.passes += 1
            var start = [0]
            start.reserveCapacity(rows + 1)
            var column: [Int] = []
            var weight: [Double] = []
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
            if state == nil {
                state = SparseAssignment(rows: rows, cols: cols, start: start, column: column, weight: weight)
                state!.auctionStart(epsilons: BatchProblem.auctionEpsilons, maxBids: 200 * rows)
            } else {
                // Kept: the matching and the potentials, with the rows that had violations released.
                state!.replaceGraph(start: start, column: column, weight: weight)
                // Many rows released: new prices from an auction started at the current ones are cheaper than
                // repairing them one shortest path at a time.
                if state!.col4row.lazy.filter({ $0 < 0 }).count > rows / 20 {
                    state!.auctionStart(epsilons: BatchProblem.auctionRefineEpsilons, maxBids: 200 * rows)
                }
            }
            let matched = state!.solve(maxBids: 10 * rows)
            stats.matchingSeconds += lap()
            guard matched else {
                // Too few columns in the lists for every row to get one: longer lists, then solve again (cold: every
                // row's list changes).
                state = nil
                guard count < cols else { return nil }
                count = min(cols, count * 2)
                lists = candidateLists(count: count, capped: count, cap: cap, groups: &groups)
                stats.candidateSeconds += lap()
                continue
            }
            guard
                let violations = price(
                    lists: &lists, state: &state!, tolerance: 1e-9 * (1 + largest), groups: &groups)
            else { return nil }
            stats.pricingSeconds += lap()
            if violations == 0 {
                stats.succeeded = true
                return (state!.col4row.map { $0 >= 0 ? $0 : nil }, lists)
            }
        }
        return nil
    }

    /// The pricing check of `state`'s potentials against every feasible pair: entries with a reduced cost below
    /// −tolerance join their row's list, and the row is released. Returns the number added; nil when an entry
    /// already in a list is violated (rounding: give up). Rows are taken pickup group by pickup group.
    ///
    /// With reach(k) = bonus(k) + max over k's slots of v, the least reduced cost of a row over agent k's slots is
    /// P(eta) − reach(k) − wait − u. Per group, `GroupBound` gives every row's least `P − reach` over all agents:
    /// a row whose bound clears u has no violation and is done. The others (a few dozen per pass) are scanned
    /// exactly, agents by rank, stopping where `readyIn − bonus − wait` clears u (P ≥ readyIn, reach ≤ bonus).
    func price(
        lists: inout [[(agent: Int, cost: Double)]], state: inout SparseAssignment, tolerance: Double,
        groups: inout PickupGroups
    ) -> Int? {
        let n = slotAgents.count
        var reach = [Double](repeating: 0, count: n)
        for k in 0..<n {
            var best = -Double.infinity
            for s in 0..<agentSlots[k] { best = max(best, state.v[agentFirstColumn[k] + s]) }
            reach[k] = agentBonus[k] + best
        }
        let maxReach = reach.lazy.map(abs).max() ?? 0
        let reachByRank = groups.byBonus.map { reach[$0] }
        var listed = [Int](repeating: -1, count: n)
        var violations = 0
        var added: [(agent: Int, cost: Double)] = []
        for g in 0..<groups.count {
            let rows = groups.rows(of: g).filter { !lists[$0].isEmpty }
            guard !rows.isEmpty else { continue }
            // Ranks whose bonus is above every row's readyIn − wait − u (by a second) are counted one by one, the
            // others by the bonus of the first of them.
            var threshold = Double.infinity
            for row in rows { threshold = min(threshold, rowReadyIn[row] - rowWait[row] - state.u[row]) }
            var ranks = 0
            while ranks < n && groups.bonus[ranks] >= threshold - 1 { ranks += 1 }
            if ranks > groups.tables[g].etas.count { groups.extend(group: g, to: ranks) }
            let bound = GroupBound(
                group: g, ranks: ranks, groups: groups, reach: reachByRank, maxReach: maxReach, settings: settings)
            let etas = groups.tables[g].etas
            for row in rows {
                let ui = state.u[row]
                let wait = rowWait[row]
                let readyIn = rowReadyIn[row]
                if bound.least(readyIn: readyIn) - wait - ui >= bound.slack(readyIn: readyIn, wait: wait, u: ui)
                    - tolerance
                {
                    continue
                }
                for (k, _) in lists[row] { listed[k] = row }
                added.removeAll(keepingCapacity: true)
                for (rank, k) in groups.byBonus.enumerated() {
                    if BatchProblem.loosened(readyIn - wait - groups.bonus[rank]) >= ui { break }
                    guard feasible(row: row, agent: k) else { continue }
                    let eta = rank < etas.count ? etas[rank] : pickupETA(row: row, agent: k)
                    let cost = cost(row: row, agent: k, eta: eta)
                    let first = agentFirstColumn[k]
                    var least = Double.infinity
                    for s in 0..<agentSlots[k] { least = min(least, cost - ui - state.v[first + s]) }
                    guard least < -tolerance else { continue }
                    // An edge already in the graph cannot be violated but by rounding: give up then.
                    if listed[k] == row { return nil }
                    added.append((k, cost))
                }
                if !added.isEmpty {
                    lists[row].append(contentsOf: added)
                    violations += added.count
                    state.release(row: row)
                }
            }
        }
        return violations
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

/// The best `limit` (key, agent) entries offered so far, with their costs: a max-heap on (key, agent index).
struct CandidateHeap {
    typealias Entry = (agent: Int, key: Double, cost: Double)
    let limit: Int
    private var items: [Entry] = []

    init(limit: Int) {
        self.limit = limit
        items.reserveCapacity(limit)
    }

    var isFull: Bool { items.count >= limit }
    /// The worst key kept (only when full).
    var top: Double { items[0].key }

    @inline(__always)
    private static func above(_ a: Entry, _ b: Entry) -> Bool { a.key != b.key ? a.key > b.key : a.agent > b.agent }

    mutating func offer(agent: Int, key: Double, cost: Double) {
        guard limit > 0 else { return }
        let entry = (agent: agent, key: key, cost: cost)
        if items.count < limit {
            var i = items.count
            items.append(entry)
            while i > 0 {
                let parent = (i - 1) / 2
                guard CandidateHeap.above(entry, items[parent]) else { break }
                items[i] = items[parent]
                i = parent
            }
            items[i] = entry
        } else if CandidateHeap.above(items[0], entry) {
            var i = 0
            while true {
                let left = 2 * i + 1
                guard left < limit else { break }
                var child = left
                if left + 1 < limit && CandidateHeap.above(items[left + 1], items[left]) { child = left + 1 }
                guard CandidateHeap.above(items[child], entry) else { break }
                items[i] = items[child]
                i = child
            }
            items[i] = entry
        }
    }

    /// The entries by (key, agent), best first.
    func sorted() -> [(agent: Int, cost: Double)] {
        items.sorted { a, b in a.key != b.key ? a.key < b.key : a.agent < b.agent }.map { ($0.agent, $0.cost) }
    }
}
