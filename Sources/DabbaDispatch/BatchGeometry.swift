/// Lower bounds for the fast path: agents in a spatial grid, and per pickup point the ETA range of every grid cell
/// and the ETAs of the agents of the cells looked at.
///
/// With `earlyWeight ≥ 0` and `lateWeight ≥ −1` the pickup part `P(eta)` of the cost falls (slope −earlyWeight) until
/// `eta = readyIn`, where `P = readyIn`, then rises (slope 1 + lateWeight); so over `etaLo ≤ eta ≤ etaHi` its minimum
/// is `P(clamp(readyIn, etaLo, etaHi))`. For the agents of one grid cell, `etaLo` = (great-circle distance from the
/// pickup to the cell's bounding box of unit vectors, a lower bound of every agent's distance as the distance grows
/// with the chord) × (the cell's smallest seconds per metre), and `etaHi` = (distance to the box's farthest corner) ×
/// (the largest). So for any agent k of the cell: cost ≥ P(clamp) − bonus(k) − wait(row); agents are kept in
/// descending bonus order per cell, so a scan stops at the first agent whose bound clears the threshold, and a cell
/// whose best bound (largest bonus) clears it is skipped. Bounds are compared with a relative slack of 1e-9
/// against rounding.
///
/// Orders of one restaurant share a pickup point (≈ 5 per restaurant in a busy round): the cell bounds and the
/// agents' ETAs depend on the pickup only, so they are computed once per pickup and round (`PickupCache`), and an
/// entry is then `cost(row:agent:eta:)` — the same expression, on the same ETA value, as `cost(row:agent:)`.
extension BatchProblem {
    struct Grid {
        struct Cell {
            var lo: UnitVector
            var hi: UnitVector
            var fastest: Double
            var slowest: Double
            var maxBonus: Double
            var begin: Int
            var end: Int
        }
        var cells: [Cell]
        /// Agents (`slotAgents` indices) by cell, each cell's in descending bonus (then index) order; an agent's
        /// place here is its "grid position".
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
            var fastest = Double.infinity
            var slowest = 0.0
            for k in order[begin[c]..<begin[c + 1]] {
                let v = agentVector[k]
                lo = UnitVector(x: min(lo.x, v.x), y: min(lo.y, v.y), z: min(lo.z, v.z))
                hi = UnitVector(x: max(hi.x, v.x), y: max(hi.y, v.y), z: max(hi.z, v.z))
                fastest = min(fastest, agentSecondsPerMetre[k])
                slowest = max(slowest, agentSecondsPerMetre[k])
            }
            cells.append(
                Grid.Cell(
                    lo: lo, hi: hi, fastest: fastest, slowest: slowest, maxBonus: agentBonus[order[begin[c]]],
                    begin: begin[c], end: begin[c + 1]))
        }
        return Grid(cells: cells, agents: order)
    }

    /// Rows grouped by pickup point, with each (pickup, cell)'s ETA range and a cache of the agents' ETAs, each
    /// computed when first needed.
    struct PickupCache {
        /// Row → its pickup group.
        let groupOf: [Int]
        /// Rows by group: group g's are `rows[rowStart[g]..<rowStart[g + 1]]` (scans go group by group, so that the
        /// group's ETAs stay in the processor's cache).
        let rowStart: [Int]
        let rows: [Int]
        let cellCount: Int
        /// (group · cellCount + cell) → bounds of the ETA of every agent of the cell to the group's pickup.
        let etaLo: [Double]
        let etaHi: [Double]
        /// Grid position → the agent's `pickupETA` to the pickup of `group`, NaN until computed; the scans take the
        /// rows group by group, so one group's ETAs at a time are enough (and stay in the processor's cache).
        var etas: [Double]
        var group = -1
        var computed: [Int] = []
    }

    func makePickupCache(grid: Grid) -> PickupCache {
        struct Key: Hashable {
            var x: UInt64
            var y: UInt64
            var z: UInt64
        }
        var groupIndex: [Key: Int] = [:]
        var representative: [Int] = []
        var groupOf = [Int](repeating: 0, count: rowPickup.count)
        for (row, p) in rowPickup.enumerated() {
            let key = Key(x: p.x.bitPattern, y: p.y.bitPattern, z: p.z.bitPattern)
            if let g = groupIndex[key] {
                groupOf[row] = g
            } else {
                groupOf[row] = representative.count
                groupIndex[key] = representative.count
                representative.append(row)
            }
        }
        let cellCount = grid.cells.count
        var etaLo = [Double](repeating: 0, count: representative.count * cellCount)
        var etaHi = etaLo
        let metresPerUnit = 2 * GeoCoordinate.earthRadius
        for (g, row) in representative.enumerated() {
            let p = rowPickup[row]
            for (c, cell) in grid.cells.enumerated() {
                let dx = max(cell.lo.x - p.x, 0, p.x - cell.hi.x)
                let dy = max(cell.lo.y - p.y, 0, p.y - cell.hi.y)
                let dz = max(cell.lo.z - p.z, 0, p.z - cell.hi.z)
                let near = (dx * dx + dy * dy + dz * dz).squareRoot() / 2
                let fx = max(p.x - cell.lo.x, cell.hi.x - p.x)
                let fy = max(p.y - cell.lo.y, cell.hi.y - p.y)
                let fz = max(p.z - cell.lo.z, cell.hi.z - p.z)
                let far = (fx * fx + fy * fy + fz * fz).squareRoot() / 2
                etaLo[g * cellCount + c] = metresPerUnit * UnitVector.arcsine(near) * cell.fastest
                etaHi[g * cellCount + c] = metresPerUnit * UnitVector.arcsine(far) * cell.slowest
            }
        }
        var rowStart = [Int](repeating: 0, count: representative.count + 1)
        for g in groupOf { rowStart[g + 1] += 1 }
        for g in 0..<representative.count { rowStart[g + 1] += rowStart[g] }
        var fill = rowStart
        var rows = [Int](repeating: 0, count: groupOf.count)
        for (row, g) in groupOf.enumerated() {
            rows[fill[g]] = row
            fill[g] += 1
        }
        return PickupCache(
            groupOf: groupOf, rowStart: rowStart, rows: rows, cellCount: cellCount, etaLo: etaLo, etaHi: etaHi,
            etas: [Double](repeating: .nan, count: slotAgents.count))
    }

    /// A lower bound of the pickup part of the cost for `row` and any agent of cell `c`.
    @inline(__always)
    func pickupLowerBound(row: Int, cell c: Int, cache: PickupCache) -> Double {
        let i = cache.groupOf[row] * cache.cellCount + c
        let readyIn = rowReadyIn[row]
        return settings.pickupCost(eta: min(max(readyIn, cache.etaLo[i]), cache.etaHi[i]), readyIn: readyIn)
    }

    /// `pickupETA(row:agent:)` for the agent at grid position `position`, from the cache when it has it (the cache
    /// is cleared when a row of another group comes).
    @inline(__always)
    func pickupETA(row: Int, position: Int, grid: Grid, cache: inout PickupCache) -> Double {
        let g = cache.groupOf[row]
        if g != cache.group {
            for p in cache.computed { cache.etas[p] = .nan }
            cache.computed.removeAll(keepingCapacity: true)
            cache.group = g
        }
        let known = cache.etas[position]
        if !known.isNaN { return known }
        let eta = pickupETA(row: row, agent: grid.agents[position])
        cache.etas[position] = eta
        cache.computed.append(position)
        return eta
    }

    @inline(__always)
    static func loosened(_ bound: Double) -> Double { bound - 1e-9 * (1 + abs(bound)) }
}
