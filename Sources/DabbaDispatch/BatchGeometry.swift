/// Pickup groups and lower bounds for the fast path.
///
/// Orders of one restaurant share a pickup point (≈ 5 per restaurant in a busy round), and an entry's ETA depends on
/// the pickup only: every agent's ETA to every group's pickup is computed once per round (`PickupGroups.etas`), with
/// the very expression of `pickupETA(row:agent:)`, so `cost(row:agent:eta:)` on it is bit-identical to
/// `cost(row:agent:)`; the lists and every pricing pass read it.
///
/// With `earlyWeight` E ≥ 0 and `lateWeight` L ≥ −1 the pickup part of the cost is
/// `P(e) = (1 + L)·e − L·r` for `e ≥ r` (late) and `(1 + E)·r − E·e` for `e < r` (early), with `r = readyIn`; it is
/// never below `r` (its value at `e = r`). Two bounds follow:
/// - for any agent k, `cost ≥ r − bonus(k) − wait(row)`: scans in descending bonus order stop where that clears
///   the threshold (`cheapest`, and the pricing's exact scans with bonus + price);
/// - for the rows of one group, whose readyIn values split the agents' ETAs into buckets, the least
///   `(1 + L)·e − reach` and `−E·e − reach` per bucket give every row's least `P(e) − reach` over all agents exactly
///   (up to rounding), in one pass over the agents per group (`GroupBound`).
/// Bounds are compared with a relative slack of 1e-9 against rounding (`loosened`).
extension BatchProblem {
    /// Rows grouped by pickup point, with every slot agent's ETA to each group's pickup and the agents bucketed by
    /// ETA against the group's readyIn values (for `GroupBound`).
    struct PickupGroups {
        /// Row → its group.
        let groupOf: [Int]
        /// Rows by group: group g's are `rows[rowStart[g]..<rowStart[g + 1]]`, in row order.
        let rowStart: [Int]
        let rows: [Int]
        /// Slot agents by rank: descending bonus, then index (`byBonus[rank]` is the agent, `rankOf` the inverse);
        /// the scans take agents in this order, and the tables below are by rank.
        let byBonus: [Int]
        let rankOf: [Int]
        /// Group-major, by rank: `etas[g · agents + rank]` is `pickupETA` of agent `byBonus[rank]` to group g's
        /// pickup (8 bytes per (pickup, agent) pair: at most what the dense path's full matrix takes per
        /// (order, agent)).
        let etas: [Double]
        let agents: Int
        /// Group g's distinct readyIn values, ascending: `thresholds[thresholdStart[g]..<thresholdStart[g + 1]]`.
        let thresholds: [Double]
        let thresholdStart: [Int]
        /// Group-major ranks by bucket (how many of the group's thresholds are ≤ the agent's ETA): group g with m
        /// thresholds has buckets 0...m, bucket q's ranks are `bucketed[g · agents + bucketStart[b + q]
        /// ..< g · agents + bucketStart[b + q + 1]]` with b = `thresholdStart[g] + 2g` (m + 2 offsets per group).
        let bucketed: [Int32]
        let bucketStart: [Int]
        /// Per group, the largest |(1 + L)·e| + |E·e| over its agents (for `GroupBound.slack`).
        let etaMagnitude: [Double]

        var count: Int { rowStart.count - 1 }

        func rows(of group: Int) -> ArraySlice<Int> { rows[rowStart[group]..<rowStart[group + 1]] }

        /// Group `group`'s ETAs, by rank.
        func etas(of group: Int) -> ArraySlice<Double> { etas[group * agents..<(group + 1) * agents] }
    }

    /// Whether the lower bounds hold for these settings and inputs (else the dense path runs).
    var boundsApply: Bool {
        settings.earlyWeight >= 0 && settings.lateWeight >= -1
            && agentSecondsPerMetre.allSatisfy { $0.isFinite && $0 >= 0 } && agentBonus.allSatisfy(\.isFinite)
            && rowReadyIn.allSatisfy(\.isFinite) && rowWait.allSatisfy(\.isFinite)
            && settings.lateWeight.isFinite && settings.earlyWeight.isFinite
    }

    func makePickupGroups() -> PickupGroups {
        struct Key: Hashable {
            var x: UInt64
            var y: UInt64
            var z: UInt64
        }
        var groupIndex: [Key: Int] = [:]
        var groupOf = [Int](repeating: 0, count: rowPickup.count)
        for (row, p) in rowPickup.enumerated() {
            let key = Key(x: p.x.bitPattern, y: p.y.bitPattern, z: p.z.bitPattern)
            if let g = groupIndex[key] {
                groupOf[row] = g
            } else {
                groupOf[row] = groupIndex.count
                groupIndex[key] = groupIndex.count
            }
        }
        var rowStart = [Int](repeating: 0, count: groupIndex.count + 1)
        for g in groupOf { rowStart[g + 1] += 1 }
        for g in 0..<groupIndex.count { rowStart[g + 1] += rowStart[g] }
        var fill = rowStart
        var rows = [Int](repeating: 0, count: groupOf.count)
        for (row, g) in groupOf.enumerated() {
            rows[fill[g]] = row
            fill[g] += 1
        }
        let n = slotAgents.count
        let groupCount = groupIndex.count
        let byBonus = BatchProblem.descending(agentBonus)
        var rankOf = [Int](repeating: 0, count: n)
        for (rank, k) in byBonus.enumerated() { rankOf[k] = rank }
        let rankVector = byBonus.map { agentVector[$0] }
        let rankSecondsPerMetre = byBonus.map { agentSecondsPerMetre[$0] }
        var etas = [Double](repeating: 0, count: groupCount * n)
        var thresholds: [Double] = []
        var thresholdStart = [0]
        var bucketed = [Int32](repeating: 0, count: groupCount * n)
        var bucketStart: [Int] = []
        var etaMagnitude = [Double](repeating: 0, count: groupCount)
        var bucketOf = [Int](repeating: 0, count: n)
        var counts: [Int] = []
        let late = 1 + settings.lateWeight
        let early = settings.earlyWeight
        for g in 0..<groupCount {
            let pickup = rowPickup[rows[rowStart[g]]]
            let t = Array(Set(rows[rowStart[g]..<rowStart[g + 1]].map { rowReadyIn[$0] })).sorted()
            thresholds.append(contentsOf: t)
            thresholdStart.append(thresholds.count)
            counts = [Int](repeating: 0, count: t.count + 1)
            var magnitude = 0.0
            rankVector.withUnsafeBufferPointer { agentVector in
                rankSecondsPerMetre.withUnsafeBufferPointer { secondsPerMetre in
                    etas.withUnsafeMutableBufferPointer { etas in
                        bucketOf.withUnsafeMutableBufferPointer { bucketOf in
                            counts.withUnsafeMutableBufferPointer { counts in
                                t.withUnsafeBufferPointer { t in
                                    for rank in 0..<n {
                                        let e = BatchProblem.eta(
                                            from: agentVector[rank], to: pickup, secondsPerMetre: secondsPerMetre[rank])
                                        etas[g * n + rank] = e
                                        // How many thresholds are ≤ e: the sign bit of e − threshold, without
                                        // branches (the ETAs fall anywhere among the thresholds, so a search or a
                                        // comparison would mispredict).
                                        var bucket: UInt64 = 0
                                        for threshold in t { bucket &+= ((e - threshold).bitPattern >> 63) ^ 1 }
                                        bucketOf[rank] = Int(bucket)
                                        counts[Int(bucket)] += 1
                                        magnitude = max(magnitude, abs(late * e) + abs(early * e))
                                    }
                                }
                            }
                        }
                    }
                }
            }
            etaMagnitude[g] = magnitude
            // Counting sort of the agents by bucket.
            var offset = 0
            for q in 0...t.count {
                bucketStart.append(offset)
                let size = counts[q]
                counts[q] = offset
                offset += size
            }
            bucketStart.append(offset)
            bucketed.withUnsafeMutableBufferPointer { bucketed in
                counts.withUnsafeMutableBufferPointer { counts in
                    for rank in 0..<n {
                        bucketed[g * n + counts[bucketOf[rank]]] = Int32(rank)
                        counts[bucketOf[rank]] += 1
                    }
                }
            }
        }
        return PickupGroups(
            groupOf: groupOf, rowStart: rowStart, rows: rows, byBonus: byBonus, rankOf: rankOf, etas: etas, agents: n,
            thresholds: thresholds,
            thresholdStart: thresholdStart, bucketed: bucketed, bucketStart: bucketStart, etaMagnitude: etaMagnitude)
    }

    /// Slot agents by descending `key` (then index).
    static func descending(_ key: [Double]) -> [Int] {
        key.indices.sorted { a, b in key[a] != key[b] ? key[a] > key[b] : a < b }
    }

    /// The least `P(eta) − reach` over all agents, for each readyIn value of one group's rows (see the
    /// extension's note): the group's distinct readyIn values split the agents into buckets by how many of them are
    /// ≤ their ETA (`PickupGroups.bucketed`); per bucket the least late and early terms, then suffix and prefix
    /// minima.
    struct GroupBound {
        let thresholds: ArraySlice<Double>
        /// lateFrom[q]: least (1 + L)·e − reach over buckets ≥ q; earlyTo[q]: least −E·e − reach over buckets ≤ q.
        let lateFrom: [Double]
        let earlyTo: [Double]
        let lateWeight: Double
        let earlyWeight: Double
        /// The largest magnitude of the terms summed per agent, for `slack`.
        let magnitude: Double

        /// `reach` is by rank (`PickupGroups.byBonus`); `maxReach`: the largest |reach| (for `slack`).
        init(group g: Int, groups: PickupGroups, reach: [Double], maxReach: Double, settings: DispatchSettings) {
            thresholds = groups.thresholds[groups.thresholdStart[g]..<groups.thresholdStart[g + 1]]
            let m = thresholds.count
            let late = 1 + settings.lateWeight
            let early = -settings.earlyWeight
            var lateMin = [Double](repeating: .infinity, count: m + 1)
            var earlyMin = [Double](repeating: .infinity, count: m + 1)
            let n = groups.agents
            let b = groups.thresholdStart[g] + 2 * g
            groups.etas.withUnsafeBufferPointer { etas in
                groups.bucketed.withUnsafeBufferPointer { bucketed in
                    reach.withUnsafeBufferPointer { reach in
                        let etas = UnsafeBufferPointer(rebasing: etas[g * n..<(g + 1) * n])
                        for q in 0...m {
                            var x = Double.infinity
                            var y = Double.infinity
                            for p in groups.bucketStart[b + q]..<groups.bucketStart[b + q + 1] {
                                let rank = Int(bucketed[g * n + p])
                                let e = etas[rank]
                                x = min(x, late * e - reach[rank])
                                y = min(y, early * e - reach[rank])
                            }
                            lateMin[q] = x
                            earlyMin[q] = y
                        }
                    }
                }
            }
            if m > 0 {
                for q in stride(from: m - 1, through: 0, by: -1) { lateMin[q] = min(lateMin[q], lateMin[q + 1]) }
                for q in 1...m { earlyMin[q] = min(earlyMin[q], earlyMin[q - 1]) }
            }
            lateFrom = lateMin
            earlyTo = earlyMin
            lateWeight = settings.lateWeight
            earlyWeight = settings.earlyWeight
            magnitude = groups.etaMagnitude[g] + maxReach
        }

        /// How far `least(readyIn:) − wait − u` may fall below the least computed reduced cost by rounding: the
        /// rearranged sums and the cost expression each round a few times at these magnitudes (1e-12 relative is
        /// far above that, and far below the pricing's tolerance of 1e-9 relative).
        func slack(readyIn r: Double, wait: Double, u: Double) -> Double {
            1e-12 * (1 + magnitude + abs(r) * (1 + abs(lateWeight) + abs(earlyWeight)) + abs(wait) + abs(u))
        }

        /// The least `P(e) − reach` over all agents for a row with this readyIn (one of the group's), up to
        /// rounding: late for the agents with e ≥ readyIn (buckets after its threshold), early for the others.
        func least(readyIn r: Double) -> Double {
            var lo = thresholds.startIndex
            var hi = thresholds.endIndex
            while lo < hi {
                let mid = (lo + hi) / 2
                if thresholds[mid] < r { lo = mid + 1 } else { hi = mid }
            }
            let q = lo - thresholds.startIndex
            let late = lateFrom[q + 1] - lateWeight * r
            let early = earlyTo[q] + (1 + earlyWeight) * r
            return min(late, early)
        }
    }

    @inline(__always)
    static func loosened(_ bound: Double) -> Double { bound - 1e-9 * (1 + abs(bound)) }
}
