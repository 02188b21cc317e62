@testable import DabbaDispatch
import Testing

/// The fast path's lower bounds and ETA cache (`BatchGeometry.swift`) against the entries themselves.
@Suite struct BatchGeometryTests {
    static func problem(orders: Int, agents: Int, seed: UInt64, settings: DispatchSettings = DispatchSettings())
        -> BatchProblem
    {
        let (o, a) = BatchFastPathTests.city(orders: orders, agents: agents, seed: seed, zoned: false)
        return BatchProblem(orders: o, agents: a, now: 600_000, settings: settings)
    }

    /// Every (row, cell) bound is at most the pickup part of the cost of every agent of the cell, and the cached
    /// ETA is the very value `cost(row:agent:)` uses, whichever order the rows come in.
    @Test(arguments: [1, 2, 3] as [UInt64])
    func boundsHoldAndCachedETAsAreExact(seed: UInt64) {
        // Early and late weights at their limits too, where the pickup cost is flattest.
        for settings in [DispatchSettings(), DispatchSettings(lateWeight: -1, earlyWeight: 0)] {
            let problem = Self.problem(orders: 80, agents: 400, seed: seed, settings: settings)
            let grid = problem.makeGrid()
            var cache = problem.makePickupCache(grid: grid)
            #expect(cache.rowStart.last == problem.rowOrder.count)
            #expect(Set(cache.rows) == Set(0..<problem.rowOrder.count))
            // Rows sharing a group share the pickup point.
            for row in 0..<problem.rowOrder.count {
                let first = cache.rows[cache.rowStart[cache.groupOf[row]]]
                #expect(problem.rowPickup[row].x == problem.rowPickup[first].x)
            }
            var violations = 0
            var mismatches = 0
            // Rows in a shuffled order: the cache is cleared and refilled between groups.
            var random = SeededRandom(seed: seed)
            for row in (0..<problem.rowOrder.count).shuffled(using: &random) {
                for c in grid.cells.indices {
                    let bound = problem.pickupLowerBound(row: row, cell: c, cache: cache)
                    for position in grid.cells[c].begin..<grid.cells[c].end {
                        let k = grid.agents[position]
                        let eta = problem.pickupETA(row: row, position: position, grid: grid, cache: &cache)
                        if eta != problem.pickupETA(row: row, agent: k) { mismatches += 1 }
                        let pickup = settings.pickupCost(eta: eta, readyIn: problem.rowReadyIn[row])
                        if BatchProblem.loosened(bound) > pickup { violations += 1 }
                        // The cost from the cached ETA is the cost.
                        if problem.cost(row: row, agent: k, eta: eta) != problem.cost(row: row, agent: k) {
                            mismatches += 1
                        }
                    }
                }
            }
            #expect(violations == 0)
            #expect(mismatches == 0)
        }
    }

    /// The bound is never below the ready time (the pickup cost's floor) and is exactly the ready time when the
    /// cell's ETA range contains it.
    @Test func boundIsReadyInWhenTheCellCoversThePickupsTime() {
        let problem = Self.problem(orders: 40, agents: 300, seed: 9)
        let grid = problem.makeGrid()
        let cache = problem.makePickupCache(grid: grid)
        var tight = 0
        for row in 0..<problem.rowOrder.count {
            for c in grid.cells.indices {
                let i = cache.groupOf[row] * cache.cellCount + c
                #expect(cache.etaLo[i] <= cache.etaHi[i])
                let ready = problem.rowReadyIn[row]
                let bound = problem.pickupLowerBound(row: row, cell: c, cache: cache)
                #expect(bound >= ready - 1e-9 * (1 + ready))
                if cache.etaLo[i] <= ready && ready <= cache.etaHi[i] {
                    #expect(bound == ready)
                    tight += 1
                }
            }
        }
        #expect(tight > 0)
    }
}
