@testable import DabbaDispatch
import Testing

/// The fast path's pickup groups, ETA table and per-group bound (`BatchGeometry.swift`) against the entries
/// themselves.
@Suite struct BatchGeometryTests {
    static func problem(orders: Int, agents: Int, seed: UInt64, settings: DispatchSettings = DispatchSettings())
        -> BatchProblem
    {
        let (o, a) = BatchFastPathTests.city(orders: orders, agents: agents, seed: seed, zoned: false)
        return BatchProblem(orders: o, agents: a, now: 600_000, settings: settings)
    }

    /// Every row is in one group of rows sharing its pickup point, every agent in exactly one bucket of its group,
    /// and the table's ETA is the very value `cost(row:agent:)` uses.
    @Test(arguments: [1, 2, 3] as [UInt64])
    func groupsAndETAsAreExact(seed: UInt64) {
        let problem = Self.problem(orders: 80, agents: 400, seed: seed)
        let groups = problem.makePickupGroups()
        let n = problem.slotAgents.count
        #expect(groups.rowStart.last == problem.rowOrder.count)
        #expect(Set(groups.rows) == Set(0..<problem.rowOrder.count))
        #expect(groups.count < problem.rowOrder.count)  // 40 restaurants: rows do share pickups
        var mismatches = 0
        for g in 0..<groups.count {
            let rows = groups.rows(of: g)
            for row in rows {
                #expect(groups.groupOf[row] == g)
                #expect(problem.rowPickup[row].x == problem.rowPickup[rows.first!].x)
                for k in 0..<n {
                    #expect(groups.byBonus[groups.rankOf[k]] == k)
                    let eta = groups.etas[g * n + groups.rankOf[k]]
                    if eta != problem.pickupETA(row: row, agent: k) { mismatches += 1 }
                    if problem.cost(row: row, agent: k, eta: eta) != problem.cost(row: row, agent: k) { mismatches += 1 }
                }
            }
            let b = groups.thresholdStart[g] + 2 * g
            let m = groups.thresholdStart[g + 1] - groups.thresholdStart[g]
            let agents = groups.bucketed[g * n + groups.bucketStart[b]..<g * n + groups.bucketStart[b + m + 1]]
            #expect(Set(agents.map(Int.init)) == Set(0..<n))
        }
        #expect(mismatches == 0)
    }

    /// `GroupBound.least` is the least `P(eta) − reach` over all agents (brute force, within the slack), for random
    /// reaches, with the default weights and with the early and late weights at their limits.
    @Test(arguments: [1, 2, 3] as [UInt64])
    func groupBoundIsTheLeastOverAllAgents(seed: UInt64) {
        var random = SeededRandom(seed: seed)
        for settings in [DispatchSettings(), DispatchSettings(lateWeight: -1, earlyWeight: 0)] {
            let problem = Self.problem(orders: 80, agents: 400, seed: seed, settings: settings)
            let groups = problem.makePickupGroups()
            let n = problem.slotAgents.count
            let reach = (0..<n).map { _ in Double.random(in: -200...1080, using: &random) }
            let maxReach = reach.map(abs).max()!
            for g in 0..<groups.count {
                let bound = BatchProblem.GroupBound(
                    group: g, groups: groups, reach: groups.byBonus.map { reach[$0] }, maxReach: maxReach,
                    settings: settings)
                for row in groups.rows(of: g) {
                    let r = problem.rowReadyIn[row]
                    var least = Double.infinity
                    for k in 0..<n {
                        let eta = groups.etas[g * n + groups.rankOf[k]]
                        least = min(least, settings.pickupCost(eta: eta, readyIn: r) - reach[k])
                    }
                    let slack = bound.slack(readyIn: r, wait: 0, u: 0)
                    #expect(abs(bound.least(readyIn: r) - least) <= slack, "group \(g) row \(row)")
                }
            }
        }
    }

    /// Each row's list is its `count` cheapest feasible agents by (cost, index), then its `capped` best by (cost with
    /// the bonus capped, index) that are not already in (brute force over every agent), with their exact costs; zones,
    /// loads and exclusions make some pairs infeasible.
    @Test(arguments: [1, 2] as [UInt64])
    func listsAreTheCheapestThenTheBestByCappedCost(seed: UInt64) {
        let (o, a) = BatchFastPathTests.city(orders: 60, agents: 300, seed: seed, zoned: true)
        let problem = BatchProblem(orders: o, agents: a, now: 600_000, settings: DispatchSettings())
        let groups = problem.makePickupGroups()
        let cap = problem.bonusCap(rows: problem.rowOrder.count)
        #expect(cap > 0 && cap < problem.agentBonus.max()!)
        let lists = problem.candidateLists(count: 5, capped: 7, cap: cap, groups: groups)
        for row in 0..<problem.rowOrder.count {
            let feasible = problem.slotAgents.indices.filter { problem.feasible(row: row, agent: $0) }
            func best(_ key: (Int) -> Double, _ count: Int, excluding: [Int]) -> [Int] {
                let ranked = feasible.filter { !excluding.contains($0) }.sorted { x, y in
                    key(x) != key(y) ? key(x) < key(y) : x < y
                }
                return Array(ranked.prefix(count))
            }
            let cheapest = best({ problem.cost(row: row, agent: $0) }, 5, excluding: [])
            let capped = best(
                { problem.cost(row: row, agent: $0) + problem.agentBonus[$0] - min(problem.agentBonus[$0], cap) }, 7,
                excluding: [])
            let expected = cheapest + capped.filter { !cheapest.contains($0) }
            #expect(lists[row].map(\.agent) == expected, "row \(row)")
            for (k, c) in lists[row] { #expect(c == problem.cost(row: row, agent: k)) }
        }
    }
}
