/// Pickup groups and lower bounds for the fast path.
///
/// Orders of one restaurant share a pickup point (≈ 5 per restaurant in a busy round), and an entry's ETA depends on
/// the pickup only: an agent's ETA to a group's pickup is computed once per round (`PickupGroups.etas`), with the
/// very expression of `pickupETA(row:agent:)` (`BatchProblem.eta`), so `cost(row:agent:eta:)` on it is
/// bit-identical to `cost(row:agent:)`; the lists and every pricing pass read it. Agents go by rank (descending
/// bonus), and each group's table holds the ranks the scans have needed so far: on the benchmark's rounds the lists
/// and the pricing passes stop within the first ~1,000–2,200 of 5,000.
///
/// With `earlyWeight` E ≥ 0 and `lateWeight` L ≥ −1 the pickup part of the cost is
/// `P(e) = (1 + L)·e − L·r` for `e ≥ r` (late) and `(1 + E)·r − E·e` for `e < r` (early), with `r = readyIn`; it is
/// never below `r` (its value at `e = r`). Two bounds follow:
/// - for any agent k, `cost ≥ r − bonus(k) − wait(row)`: scans in descending bonus order stop where that clears
///   the threshold (`candidateList`, and the pricing's exact scans with bonus + price);
/// - for the rows of one group, whose readyIn values split the agents' ETAs into buckets, the least
///   `(1 + L)·e − reach` and `−E·e − reach` per bucket give every row's least `P(e) − reach` over the agents of the
///   first ranks exactly (up to rounding), and `r − bonus` of the first rank after them bounds the rest
///   (reach = bonus + price ≤ bonus) (`GroupBound`).
/// Bounds are compared with a relative slack of 1e-9 against rounding (`loosened`).
extension BatchProblem {
    /// Rows grouped by pickup point, with the agents' ETAs to each group's pickup and their buckets against the
    /// group's readyIn values (for `GroupBound`), by rank, computed as far as the scans have needed (`extend`).
    struct PickupGroups {
        /// Row → its group.
        let groupOf: [Int]
        /// Rows by group: group g's are `rows[rowStart[g]..<rowStart[g + 1]]`, in row order.
        let rowStart: [Int]
        let rows: [Int]
        /// Slot agents by rank: descending bonus, then index (`byBonus[rank]` is the agent, `rankOf` the inverse,
        /// `bonus[rank]` its bonus).
        let byBonus: [Int]
        let rankOf: [Int]
        let bonus: [Double]
        /// Group g's distinct readyIn values, ascending: `thresholds[thresholdStart[g]..<thresholdStart[g + 1]]`.
        let thresholds: [Double]
        let thresholdStart: [Int]
        /// The runs of at least `PickupGroups.longRun` consecutive ranks of one bonus, in rank order (a fleet that
        /// started its shift together, or idle past the cap, has one bonus: a scan by bonus cannot stop in such a run,
        /// so it visits the run's agents by ETA instead, through each table's ``RunIndex``).
        let longRuns: [Range<Int>]
        /// Per group, its table (``Table``) as far as the scans have needed.
        private(set) var tables: [Table]
        private let pickup: [UnitVector]
        private let rankVector: [UnitVector]
        private let rankSecondsPerMetre: [Double]
        private let lateWeight: Double
        private let earlyWeight: Double

        var count: Int { rowStart.count - 1 }
        var agents: Int { byBonus.count }

        func rows(of group: Int) -> ArraySlice<Int> { rows[rowStart[group]..<rowStart[group + 1]] }

        init(problem: BatchProblem) {
            struct Key: Hashable {
                var x: UInt64
                var y: UInt64
                var z: UInt64
            }
            var groupIndex: [Key: Int] = [:]
            var groupOf = [Int](repeating: 0, count: problem.rowPickup.count)
            var pickup: [UnitVector] = []
            for (row, p) in problem.rowPickup.enumerated() {
                let key = Key(x: p.x.bitPattern, y: p.y.bitPattern, z: p.z.bitPattern)
                if let g = groupIndex[key] {
                    groupOf[row] = g
                } else {
                    groupOf[row] = pickup.count
                    groupIndex[key] = pickup.count
                    pickup.append(p)
                }
            }
            let groupCount = pickup.count
            var rowStart = [Int](repeating: 0, count: groupCount + 1)
            for g in groupOf { rowStart[g + 1] += 1 }
            for g in 0..<groupCount { rowStart[g + 1] += rowStart[g] }
            var fill = rowStart
            var rows = [Int](repeating: 0, count: groupOf.count)
            for (row, g) in groupOf.enumerated() {
                rows[fill[g]] = row
                fill[g] += 1
            }
            var thresholds: [Double] = []
            var thresholdStart = [0]
            for g in 0..<groupCount {
                thresholds.append(
                    contentsOf: Set(rows[rowStart[g]..<rowStart[g + 1]].map { problem.rowReadyIn[$0] }).sorted())
                thresholdStart.append(thresholds.count)
            }
            let byBonus = BatchProblem.descending(problem.agentBonus)
            var rankOf = [Int](repeating: 0, count: byBonus.count)
            for (rank, k) in byBonus.enumerated() { rankOf[k] = rank }
            self.groupOf = groupOf
            self.rowStart = rowStart
            self.rows = rows
            self.byBonus = byBonus
            self.rankOf = rankOf
            bonus = byBonus.map { problem.agentBonus[$0] }
            longRuns = PickupGroups.runs(of: bonus, atLeast: PickupGroups.longRun)
            self.thresholds = thresholds
            self.thresholdStart = thresholdStart
            tables = [Table](repeating: Table(), count: groupCount)
            self.pickup = pickup
            rankVector = byBonus.map { problem.agentVector[$0] }
            rankSecondsPerMetre = byBonus.map { problem.agentSecondsPerMetre[$0] }
            lateWeight = problem.settings.lateWeight
            earlyWeight = problem.settings.earlyWeight
        }

        /// One group's agents by rank, for the first `etas.count` ranks: the agent's `pickupETA` to the group's
        /// pickup, and its bucket (how many of the group's thresholds are ≤ that ETA); and the largest
        /// |(1 + L)·e| + |E·e| over them (for `GroupBound.slack`).
        struct Table {
            var etas: [Double] = []
            var buckets: [Int32] = []
            var magnitude = 0.0
            /// The index of `longRuns[i]` for each run the ETAs cover entirely (a prefix of `longRuns`).
            var runs: [RunIndex] = []
        }

        /// One group's agents of one long run (`longRuns`) by ETA: the run's ranks in buckets of ascending ETA (each
        /// bucket's ranks in rank order), with each bucket's least and greatest ETA as computed, so that a scan can
        /// visit the buckets where a list's cost could be and skip the others by a bound (`candidateList`).
        struct RunIndex {
            /// Bucket b's ranks are `ranks[start[b]..<start[b + 1]]`; only non-empty buckets are kept.
            let ranks: [Int32]
            let start: [Int32]
            let least: [Double]
            let greatest: [Double]

            var count: Int { least.count }

            /// Buckets of about `PickupGroups.runBucket` ranks over the run's ETA range, by a counting sort.
            init(etas: UnsafeBufferPointer<Double>, run: Range<Int>) {
                let run = UnsafeBufferPointer(rebasing: etas[run])
                let base = Int32(truncatingIfNeeded: run.baseAddress! - etas.baseAddress!)
                var lo = Double.infinity
                var hi = -Double.infinity
                for e in run {
                    lo = Swift.min(lo, e)
                    hi = Swift.max(hi, e)
                }
                let width = Swift.max(1, run.count / PickupGroups.runBucket)
                let scale = Double(width) / (hi - lo)
                let last = Double(width - 1)
                var fill = [Int32](repeating: 0, count: width + 1)
                var least = [Double](repeating: .infinity, count: width)
                var greatest = [Double](repeating: -.infinity, count: width)
                var ranks = [Int32](repeating: 0, count: run.count)
                var of = [Int32](repeating: 0, count: run.count)
                fill.withUnsafeMutableBufferPointer { fill in
                    of.withUnsafeMutableBufferPointer { of in
                        // Monotone in e (each step rounds monotonically), so buckets are in ETA order; NaN (0 × ∞)
                        // and anything out of range are clamped.
                        for (i, e) in run.enumerated() {
                            let x = (e - lo) * scale
                            let b = x >= 0 ? Int32(Swift.min(x, last)) : 0
                            of[i] = b
                            fill[Int(b) + 1] &+= 1
                        }
                        for b in 0..<width { fill[b + 1] &+= fill[b] }
                        ranks.withUnsafeMutableBufferPointer { ranks in
                            least.withUnsafeMutableBufferPointer { least in
                                greatest.withUnsafeMutableBufferPointer { greatest in
                                    // `fill[b]` walks bucket b's slots (and ends at its successor's start).
                                    for (i, e) in run.enumerated() {
                                        let b = Int(of[i])
                                        ranks[Int(fill[b])] = base &+ Int32(truncatingIfNeeded: i)
                                        fill[b] &+= 1
                                        least[b] = Swift.min(least[b], e)
                                        greatest[b] = Swift.max(greatest[b], e)
                                    }
                                }
                            }
                        }
                    }
                }
                // After the scatter fill[b] is bucket b's end; keep the non-empty buckets.
                var start: [Int32] = [0]
                var keptLeast: [Double] = []
                var keptGreatest: [Double] = []
                for b in 0..<width where least[b] <= greatest[b] {
                    start.append(fill[b])
                    keptLeast.append(least[b])
                    keptGreatest.append(greatest[b])
                }
                self.ranks = ranks
                self.start = start
                self.least = keptLeast
                self.greatest = keptGreatest
            }

            /// The first bucket whose greatest ETA is ≥ `eta` (`count` if none).
            func firstBucket(reaching eta: Double) -> Int {
                var lo = 0
                var hi = greatest.count
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if greatest[mid] < eta { lo = mid + 1 } else { hi = mid }
                }
                return lo
            }
        }

        /// The maximal runs of equal values in `bonus` at least `length` long.
        static func runs(of bonus: [Double], atLeast length: Int) -> [Range<Int>] {
            guard !bonus.isEmpty else { return [] }
            var runs: [Range<Int>] = []
            var start = 0
            for rank in 1...bonus.count where rank == bonus.count || bonus[rank] != bonus[start] {
                if rank - start >= length { runs.append(start..<rank) }
                start = rank
            }
            return runs
        }

        /// Computes group `g`'s table up to at least `needed` ranks (by blocks of `PickupGroups.block`, at most all).
        mutating func extend(group g: Int, to needed: Int) {
            var table = Table()
            swap(&table, &tables[g])
            extend(&table, group: g, to: needed)
            tables[g] = table
        }

        /// The groups' tables taken out for `candidateLists`, whose workers each extend their own groups' tables
        /// (`extend(_:group:to:)`), and put back after.
        mutating func takeTables() -> [Table] {
            var taken: [Table] = []
            swap(&taken, &tables)
            return taken
        }

        mutating func putTables(_ taken: [Table]) {
            precondition(taken.count == count)
            tables = taken
        }

        /// `extend(group:to:)` on a table held outside (it reads only what every group shares).
        func extend(_ table: inout Table, group g: Int, to needed: Int) {
            let from = table.etas.count
            guard from < min(needed, agents) else { return }
            let to = min(agents, max(needed, from + PickupGroups.block))
            let p = pickup[g]
            let late = 1 + lateWeight
            let early = earlyWeight
            var magnitude = table.magnitude
            var newETAs = [Double](repeating: 0, count: to - from)
            var newBuckets = [Int32](repeating: 0, count: to - from)
            rankVector.withUnsafeBufferPointer { vector in
                rankSecondsPerMetre.withUnsafeBufferPointer { secondsPerMetre in
                    thresholds[thresholdStart[g]..<thresholdStart[g + 1]].withUnsafeBufferPointer { t in
                        newETAs.withUnsafeMutableBufferPointer { etas in
                            newBuckets.withUnsafeMutableBufferPointer { buckets in
                                for rank in from..<to {
                                    let e = BatchProblem.eta(
                                        from: vector[rank], to: p, secondsPerMetre: secondsPerMetre[rank])
                                    etas[rank - from] = e
                                    // How many thresholds are ≤ e: the sign bit of e − threshold, without branches
                                    // (the ETAs fall anywhere among the thresholds, so a search or a comparison
                                    // would mispredict).
                                    var bucket: UInt64 = 0
                                    for threshold in t { bucket &+= ((e - threshold).bitPattern >> 63) ^ 1 }
                                    buckets[rank - from] = Int32(truncatingIfNeeded: bucket)
                                    magnitude = max(magnitude, abs(late * e) + abs(early * e))
                                }
                            }
                        }
                    }
                }
            }
            table.etas.append(contentsOf: newETAs)
            table.buckets.append(contentsOf: newBuckets)
            table.magnitude = magnitude
            while table.runs.count < longRuns.count, longRuns[table.runs.count].upperBound <= table.etas.count {
                let run = longRuns[table.runs.count]
                table.runs.append(table.etas.withUnsafeBufferPointer { RunIndex(etas: $0, run: run) })
            }
        }

        /// Ranks added at least per `extend`.
        static let block = 512
        /// Runs of one bonus at least this long are scanned by ETA (`longRuns`), in buckets of about `runBucket`.
        static let longRun = 256
        static let runBucket = 16
    }

    /// Whether the lower bounds hold for these settings and inputs (else the dense path runs).
    var boundsApply: Bool {
        settings.earlyWeight >= 0 && settings.lateWeight >= -1
            && agentSecondsPerMetre.allSatisfy { $0.isFinite && $0 >= 0 } && agentBonus.allSatisfy(\.isFinite)
            && rowReadyIn.allSatisfy(\.isFinite) && rowWait.allSatisfy(\.isFinite)
            && settings.lateWeight.isFinite && settings.earlyWeight.isFinite
    }

    /// Slot agents by descending `key` (then index).
    static func descending(_ key: [Double]) -> [Int] {
        key.indices.sorted { a, b in key[a] != key[b] ? key[a] > key[b] : a < b }
    }

    /// The least `P(eta) − reach` over all agents, for each readyIn value of one group's rows (see the extension's
    /// note): over the first `ranks` ranks (computed) by bucket, with suffix and prefix minima; the other agents by
    /// `readyIn − bonus` of rank `ranks`.
    struct GroupBound {
        let thresholds: ArraySlice<Double>
        /// lateFrom[q]: least (1 + L)·e − reach over buckets ≥ q; earlyTo[q]: least −E·e − reach over buckets ≤ q.
        let lateFrom: [Double]
        let earlyTo: [Double]
        /// The bonus of rank `ranks` (−∞ when every rank is counted): no later agent has a larger reach.
        let tail: Double
        let lateWeight: Double
        let earlyWeight: Double
        /// The largest magnitude of the terms summed per agent, for `slack`.
        let magnitude: Double

        /// `reach` is by rank (`PickupGroups.byBonus`); `maxReach`: the largest |reach| (for `slack`).
        init(
            group g: Int, ranks: Int, groups: PickupGroups, reach: [Double], maxReach: Double,
            settings: DispatchSettings
        ) {
            let table = groups.tables[g]
            precondition(ranks <= table.etas.count)
            thresholds = groups.thresholds[groups.thresholdStart[g]..<groups.thresholdStart[g + 1]]
            let m = thresholds.count
            let late = 1 + settings.lateWeight
            let early = -settings.earlyWeight
            var lateMin = [Double](repeating: .infinity, count: m + 1)
            var earlyMin = [Double](repeating: .infinity, count: m + 1)
            table.etas.withUnsafeBufferPointer { etas in
                table.buckets.withUnsafeBufferPointer { buckets in
                    reach.withUnsafeBufferPointer { reach in
                        lateMin.withUnsafeMutableBufferPointer { lateMin in
                            earlyMin.withUnsafeMutableBufferPointer { earlyMin in
                                for rank in 0..<ranks {
                                    let q = Int(buckets[rank])
                                    let e = etas[rank]
                                    lateMin[q] = min(lateMin[q], late * e - reach[rank])
                                    earlyMin[q] = min(earlyMin[q], early * e - reach[rank])
                                }
                            }
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
            tail = ranks < groups.agents ? groups.bonus[ranks] : -.infinity
            lateWeight = settings.lateWeight
            earlyWeight = settings.earlyWeight
            magnitude = table.magnitude + maxReach + (tail.isFinite ? abs(tail) : 0)
        }

        /// How far `least(readyIn:) − wait − u` may fall below the least computed reduced cost by rounding: the
        /// rearranged sums and the cost expression each round a few times at these magnitudes (1e-12 relative is
        /// far above that, and far below the pricing's tolerance of 1e-9 relative).
        func slack(readyIn r: Double, wait: Double, u: Double) -> Double {
            1e-12 * (1 + magnitude + abs(r) * (1 + abs(lateWeight) + abs(earlyWeight)) + abs(wait) + abs(u))
        }

        /// The least `P(e) − reach` over all agents for a row with this readyIn (one of the group's), up to
        /// rounding: late for the agents with e ≥ readyIn (buckets after its threshold), early for the others, and
        /// at least `readyIn − tail` for the ranks not counted.
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
            return min(late, early, r - tail)
        }
    }

    @inline(__always)
    static func loosened(_ bound: Double) -> Double { bound - 1e-9 * (1 + abs(bound)) }

    /// A threshold raised so that `bound > admitting(t)` implies `loosened(bound) > t`: comparing against it skips
    /// only what `loosened` would, with one computation per threshold instead of one per bound.
    @inline(__always)
    static func admitting(_ threshold: Double) -> Double { threshold + 2e-9 * (1 + abs(threshold)) }
}
