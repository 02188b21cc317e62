import DabbaCore
@testable import DabbaDispatch
import Testing

extension DispatchAlgorithmTests {
    /// The fast path's pickup groups, ETA table, per-group bound and candidate lists (`BatchGeometry.swift`,
    /// `BatchFastPath.swift`) against the entries themselves.
    @Suite struct BatchGeometryTests {
        static func problem(orders: Int, agents: Int, seed: UInt64, settings: DispatchSettings = DispatchSettings())
            -> BatchProblem
        {
            let (o, a) = BatchFastPathTests.city(orders: orders, agents: agents, seed: seed, zoned: false)
            return BatchProblem(orders: o, agents: a, now: 600_000, settings: settings)
        }

        /// Every row is in one group of rows sharing its pickup point; the table grows by blocks up to every rank, and
        /// its ETA is the very value `cost(row:agent:)` uses, its bucket the number of the group's readyIn values ≤ it.
        @Test(arguments: [1, 2, 3] as [UInt64])
        func groupsAndETAsAreExact(seed: UInt64) {
            let problem = Self.problem(orders: 80, agents: 1200, seed: seed)
            var groups = BatchProblem.PickupGroups(problem: problem)
            let n = problem.slotAgents.count
            #expect(groups.rowStart.last == problem.rowOrder.count)
            #expect(Set(groups.rows) == Set(0..<problem.rowOrder.count))
            #expect(groups.count < problem.rowOrder.count)  // 40 restaurants: rows do share pickups
            #expect(groups.bonus == groups.byBonus.map { problem.agentBonus[$0] })
            #expect(zip(groups.bonus, groups.bonus.dropFirst()).allSatisfy { $0 >= $1 })
            var mismatches = 0
            for g in 0..<groups.count {
                #expect(groups.tables[g].etas.isEmpty)
                groups.extend(group: g, to: 1)
                #expect(groups.tables[g].etas.count == BatchProblem.PickupGroups.block)
                groups.extend(group: g, to: n)
                #expect(groups.tables[g].etas.count == n && groups.tables[g].buckets.count == n)
                let rows = groups.rows(of: g)
                let readyIns = Set(rows.map { problem.rowReadyIn[$0] })
                for row in rows {
                    #expect(groups.groupOf[row] == g)
                    #expect(problem.rowPickup[row].x == problem.rowPickup[rows.first!].x)
                    for k in 0..<n {
                        let rank = groups.rankOf[k]
                        #expect(groups.byBonus[rank] == k)
                        let eta = groups.tables[g].etas[rank]
                        if eta != problem.pickupETA(row: row, agent: k) { mismatches += 1 }
                        if problem.cost(row: row, agent: k, eta: eta) != problem.cost(row: row, agent: k) {
                            mismatches += 1
                        }
                        if Int(groups.tables[g].buckets[rank]) != readyIns.filter({ $0 <= eta }).count {
                            mismatches += 1
                        }
                    }
                }
            }
            #expect(mismatches == 0)
        }

        /// `GroupBound.least` is the least `P(eta) − reach` over all agents (brute force, within the slack) when every
        /// rank is counted, and at most that when only the first ranks are (the rest by the bonus of the first left
        /// out, reaches being at most bonuses), for random reaches, with the default weights and with the early and
        /// late weights at their limits.
        @Test(arguments: [1, 2, 3] as [UInt64])
        func groupBoundIsTheLeastOverAllAgents(seed: UInt64) {
            var random = SplitMix64(seed: seed)
            for settings in [DispatchSettings(), DispatchSettings(lateWeight: -1, earlyWeight: 0)] {
                let problem = Self.problem(orders: 80, agents: 400, seed: seed, settings: settings)
                var groups = BatchProblem.PickupGroups(problem: problem)
                let n = problem.slotAgents.count
                let reach = (0..<n).map { problem.agentBonus[$0] - Double.random(in: 0...300, using: &random) }
                let maxReach = reach.map(abs).max()!
                for g in 0..<groups.count {
                    groups.extend(group: g, to: n)
                    for ranks in [n, n / 3] {
                        let bound = BatchProblem.GroupBound(
                            group: g, ranks: ranks, groups: groups, reach: groups.byBonus.map { reach[$0] },
                            maxReach: maxReach, settings: settings)
                        for row in groups.rows(of: g) {
                            let r = problem.rowReadyIn[row]
                            var least = Double.infinity
                            for k in 0..<n {
                                let eta = groups.tables[g].etas[groups.rankOf[k]]
                                least = min(least, settings.pickupCost(eta: eta, readyIn: r) - reach[k])
                            }
                            let slack = bound.slack(readyIn: r, wait: 0, u: 0)
                            let got = bound.least(readyIn: r)
                            if ranks == n {
                                #expect(abs(got - least) <= slack, "group \(g) row \(row)")
                            } else {
                                #expect(got <= least + slack, "group \(g) row \(row)")
                            }
                        }
                    }
                }
            }
        }

        /// How idle the agents of `listsAreTheCheapestThenTheBestByCappedCost` are.
        enum Idleness: Sendable {
            /// As the city has them: bonuses differ.
            case varied
            /// Every agent as idle as every other (a fleet that started its shift together and has delivered
            /// nothing yet): the scan's bounds never clear, and the rows scan one long run by ETA.
            case equal
            /// Half the fleet has delivered nothing yet: a long run of one bonus first, then varied bonuses.
            case half
            /// Equal, and the agents stand on 12 points: many agents share each ETA (ties go by index).
            case equalStacked
        }

        /// Each row's list is its `count` cheapest feasible agents by (cost, index), then its `capped` best by (cost
        /// with the bonus capped, index) that are not already in (brute force over every agent), with their exact
        /// costs; zones, loads and exclusions make some pairs infeasible.
        @Test(
            arguments: [(1, .varied), (2, .varied), (3, .equal), (4, .equal), (5, .half), (6, .equalStacked)]
                as [(UInt64, Idleness)])
        func listsAreTheCheapestThenTheBestByCappedCost(seed: UInt64, idleness: Idleness) {
            // 1,500 agents: scans that need more than the first table block start again on a longer one.
            var (o, a) = BatchFastPathTests.city(orders: 300, agents: 1500, seed: seed, zoned: true)
            let points = a.prefix(12).map(\.position)
            for i in a.indices {
                switch idleness {
                case .varied: break
                case .equal: a[i].lastDeliveryAt = nil
                case .half: if i % 2 == 0 { a[i].lastDeliveryAt = nil }
                case .equalStacked:
                    a[i].lastDeliveryAt = nil
                    a[i].position = points[i % points.count]
                }
            }
            let equalBonus = idleness == .equal || idleness == .equalStacked
            let problem = BatchProblem(orders: o, agents: a, now: 600_000, settings: DispatchSettings())
            var groups = BatchProblem.PickupGroups(problem: problem)
            let cap = problem.bonusCap(rows: problem.rowOrder.count, groups: groups)
            if equalBonus {
                #expect(Set(problem.agentBonus).count == 1 && cap == problem.agentBonus[0])
            } else if idleness == .half {
                // The 750 who delivered nothing hold enough slots for every row.
                #expect(cap == problem.agentBonus.max()! && Set(problem.agentBonus).count > 2)
            } else {
                #expect(cap > 0 && cap < problem.agentBonus.max()!)
            }
            let lists = problem.candidateLists(count: 5, capped: 7, cap: cap, groups: &groups)
            for row in 0..<problem.rowOrder.count {
                let feasible = problem.slotAgents.indices.filter { problem.feasible(row: row, agent: $0) }
                /// The `count` best by (key, index); each key computed once.
                func best(_ key: (Int) -> Double, _ count: Int) -> [Int] {
                    feasible.map { (key: key($0), agent: $0) }
                        .sorted { x, y in x.key != y.key ? x.key < y.key : x.agent < y.agent }
                        .prefix(count).map(\.agent)
                }
                let cheapest = best({ problem.cost(row: row, agent: $0) }, 5)
                let capped = best(
                    { problem.cost(row: row, agent: $0) + problem.agentBonus[$0] - min(problem.agentBonus[$0], cap) }, 7
                )
                let expected = cheapest + capped.filter { !cheapest.contains($0) }
                #expect(lists[row].map(\.agent) == expected, "row \(row)")
                for (k, c) in lists[row] { #expect(c == problem.cost(row: row, agent: k)) }
            }
            if idleness != .half {  // (there the scans stop soon after the run of 750)
                #expect(groups.tables.contains { $0.etas.count > 2 * BatchProblem.PickupGroups.block })
            }
            // The runs of one bonus the scans visit by ETA.
            #expect(groups.longRuns.count == (idleness == .varied ? 0 : 1))
            if idleness != .varied { #expect(groups.tables.contains { !$0.runs.isEmpty }) }
        }
    }
}
