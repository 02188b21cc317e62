/// Exact minimum-cost assignment on a sparse graph (rows ≤ columns), with the dual potentials that prove it.
///
/// State and invariants (those of Crouse's shortest augmenting path, `AssignmentSolver`), kept at every step:
/// - `v[j] ≤ 0` for every column and `v[j] = 0` for every column that has never been matched (a column, once matched,
///   stays matched: rows only move between columns or leave one for another row);
/// - every matched edge is tight, `w(i, j) − u[i] − v[j] = 0`;
/// - every edge of a matched row has a non-negative reduced cost `w − u − v`.
/// When every row is matched these are the complementary-slackness conditions of the linear programme
/// min Σ w·x, Σ_j x_ij = 1, Σ_i x_ij ≤ 1 (dual: u free, v ≤ 0), so the matching is optimal on the graph; and if no
/// entry of a larger matrix has a negative reduced cost, it is optimal on that matrix too (`BatchFastPath`).
///
/// Two phases: augmenting row reduction (Jonker & Volgenant 1987; an auction with ε = 0: a free row takes its best
/// column and raises that column's price to its second-best value, displacing the previous holder), which keeps the
/// invariants exactly and settles most rows cheaply; then one Dijkstra per row still free (binary heap over the
/// row's edges), warm-started from the row reduction's potentials.
struct SparseAssignment {
    let rows: Int
    let cols: Int
    /// CSR: row i's edges are `start[i]..<start[i + 1]` of `column` / `weight`.
    private(set) var start: [Int]
    private(set) var column: [Int]
    private(set) var weight: [Double]
    var u: [Double]
    var v: [Double]
    var col4row: [Int]
    var row4col: [Int]

    init(rows: Int, cols: Int, start: [Int], column: [Int], weight: [Double]) {
        precondition(start.count == rows + 1 && column.count == weight.count && start[rows] == column.count)
        self.rows = rows
        self.cols = cols
        self.start = start
        self.column = column
        self.weight = weight
        u = [Double](repeating: 0, count: rows)
        v = [Double](repeating: 0, count: cols)
        col4row = [Int](repeating: -1, count: rows)
        row4col = [Int](repeating: -1, count: cols)
    }

    /// Solves: row reduction with at most `maxBids` bids, then shortest augmenting paths, then `repairColumns`. False
    /// if a row with edges cannot be matched within the graph (rows without edges stay unmatched).
    ///
    /// Warm start: it works from the current state, which may come from an earlier solve on a smaller graph
    /// (`replaceGraph`, `release`). The invariants it needs are weaker than the ones it leaves: any `v ≤ 0`, matched
    /// edges tight, every edge of a matched row with a non-negative reduced cost; free columns may have `v < 0`
    /// (released by `release`), and `repairColumns` brings those back to `v = 0` at the end.
    mutating func solve(maxBids: Int) -> Bool {
        reduceRows(maxBids: maxBids)
        guard augment() else { return false }
        repairColumns()
        return true
    }

    /// New edges for the same rows and columns, keeping the matching and the potentials. Every matched row's new
    /// edges must have a non-negative reduced cost (else `release` it first).
    mutating func replaceGraph(start: [Int], column: [Int], weight: [Double]) {
        precondition(start.count == rows + 1 && column.count == weight.count && start[rows] == column.count)
        self.start = start
        self.column = column
        self.weight = weight
    }

    /// Unmatches `row`: its column stays free with its price (`v` may be < 0) until a solve takes or repairs it.
    mutating func release(row: Int) {
        let j = col4row[row]
        guard j >= 0 else { return }
        col4row[row] = -1
        row4col[j] = -1
    }

    /// Brings every free column with `v < 0` back to `v = 0`, each by one shortest path, so the rectangular
    /// optimality conditions hold again (the matching's size does not change).
    ///
    /// The rectangular problem is the square one with `cols − rows` dummy rows of cost 0 to every column; a free
    /// column with `v = 0` is held by a dummy, and a free column with `v < 0` is the one column no row holds. A
    /// dummy row (potential 0, edges of reduced cost `−v[l]` to every column) searches for it: Dijkstra from the
    /// dummy over the matched rows' edges, to the nearest free column with `v < 0` (at most `−v[j]` away, the
    /// direct edge). Along the path each row moves to the next column and the path's first column is left to the
    /// dummy (its `v` becomes 0). With the distances `d`, the potentials move as in `augment`, then all shift by
    /// the path's length so that free columns stay at 0: a scanned column gets `v + d`, a scanned row `u − d` of
    /// its old column; everything else `v + minVal`, `u − minVal` (free columns at 0 stay).
    mutating func repairColumns() {
        var bad = (0..<cols).filter { row4col[$0] < 0 && v[$0] < 0 }
        guard !bad.isEmpty else { return }
        // In-edges per column (CSC), for the cheap first try.
        let incoming = columnIndex()
        let inStart = incoming.start
        let inRow = incoming.row
        let inWeight = incoming.weight
        // The cheap first try, a reverse row reduction (ε = 0): the free column j lowers its price until the row
        // that wants it most takes it (its edge becomes tight and every other row's edge to j stays ≥ 0), or to 0.
        // The row's old column is then the free one. A few steps per column; the search below does the rest.
        for first in bad {
            var j = first
            for _ in 0..<32 {
                guard row4col[j] < 0 && v[j] < 0 else { break }
                var r1 = Double.infinity
                var r2 = Double.infinity
                var m1 = -1
                for e in inStart[j]..<inStart[j + 1] {
                    let m = inRow[e]
                    guard col4row[m] >= 0 else { continue }
                    let r = inWeight[e] - u[m] - v[j]
                    if r < r1 {
                        r2 = r1
                        r1 = r
                        m1 = m
                    } else if r < r2 {
                        r2 = r
                    }
                }
                if r1 >= -v[j] {
                    v[j] = 0
                    break
                }
                // Rows other than m1 keep reduced costs ≥ 0 on j; m1 moves there, tight, with a lower potential.
                let old = col4row[m1]
                let w = inWeight[inStart[j]..<inStart[j + 1]].indices.first { inRow[$0] == m1 }.map { inWeight[$0] }!
                v[j] = min(0, v[j] + r2)
                u[m1] = w - v[j]
                col4row[m1] = j
                row4col[j] = m1
                row4col[old] = -1
                j = old
            }
        }
        // The chains above may have left other columns free with v < 0: one search from the dummy for each.
        bad = (0..<cols).filter { row4col[$0] < 0 && v[$0] < 0 }
        var dist = [Double](repeating: .infinity, count: cols)
        var path = [Int](repeating: -1, count: cols)
        var done = [Bool](repeating: false, count: cols)
        var touched: [Int] = []
        var scannedCols: [Int] = []
        var heap = ColumnHeap()
        while true {
            bad.removeAll { row4col[$0] >= 0 || v[$0] >= 0 }
            guard !bad.isEmpty else { return }
            var bound = Double.infinity
            for j in bad { bound = min(bound, -v[j]) }
            @inline(__always) func reach(_ l: Int, _ d: Double, from row: Int) {
                if d < dist[l] {
                    if dist[l] == .infinity { touched.append(l) }
                    dist[l] = d
                    path[l] = row
                    heap.push(d, free: row4col[l] < 0, column: l)
                }
            }
            for j in bad { reach(j, -v[j], from: -1) }
            for i in 0..<rows {
                let l = col4row[i]
                if l >= 0 && -v[l] < bound { reach(l, -v[l], from: -1) }
            }
            var sink = -1
            while sink < 0, let top = heap.pop() {
                let l = top.column
                if done[l] || top.cost != dist[l] { continue }
                if row4col[l] < 0 {
                    sink = l
                    break
                }
                done[l] = true
                scannedCols.append(l)
                let k = row4col[l]
                let shift = dist[l] - u[k]
                for e in start[k]..<start[k + 1] {
                    let m = column[e]
                    if done[m] || (row4col[m] < 0 && v[m] == 0) { continue }
                    reach(m, shift + weight[e] - v[m], from: k)
                }
            }
            precondition(sink >= 0, "the direct edge to a free column is always there")
            let minVal = dist[sink]
            // Every matched column and every free one with v < 0 (all in `bad`) moves; free ones at 0 stay.
            for i in 0..<rows {
                u[i] -= minVal
                if col4row[i] >= 0 { v[col4row[i]] += minVal }
            }
            for l in bad where row4col[l] < 0 && v[l] < 0 { v[l] += minVal }
            for l in scannedCols {
                u[row4col[l]] += minVal - dist[l]
                v[l] += dist[l] - minVal
            }
            var j = sink
            while path[j] >= 0 {
                let r = path[j]
                let old = col4row[r]
                row4col[j] = r
                col4row[r] = j
                j = old
            }
            row4col[j] = -1
            v[j] = 0
            for l in touched {
                dist[l] = .infinity
                done[l] = false
                path[l] = -1
            }
            touched.removeAll(keepingCapacity: true)
            scannedCols.removeAll(keepingCapacity: true)
            heap.removeAll()
        }
    }

    /// Augmenting row reduction (Gauss–Seidel, ε = 0). Ties: lower value, then a free column, then lower index.
    mutating func reduceRows(maxBids: Int) {
        var queue: [Int] = []
        queue.reserveCapacity(rows)
        for i in 0..<rows where start[i] < start[i + 1] && col4row[i] < 0 { queue.append(i) }
        var head = 0
        var bids = 0
        start.withUnsafeBufferPointer { start in
            column.withUnsafeBufferPointer { column in
                weight.withUnsafeBufferPointer { weight in
                    v.withUnsafeMutableBufferPointer { v in
                        u.withUnsafeMutableBufferPointer { u in
                            col4row.withUnsafeMutableBufferPointer { col4row in
                                row4col.withUnsafeMutableBufferPointer { row4col in
                                    while head < queue.count && bids < maxBids {
                                        var current = queue[head]
                                        head += 1
                                        while current >= 0 && bids < maxBids {
                                            bids += 1
                                            var u1 = Double.infinity
                                            var u2 = Double.infinity
                                            var e1 = -1
                                            var e2 = -1
                                            for e in start[current]..<start[current + 1] {
                                                let j = column[e]
                                                let h = weight[e] - v[j]
                                                if h >= u2 { continue }
                                                if e1 < 0 || h < u1
                                                    || (h == u1 && row4col[j] < 0 && row4col[column[e1]] >= 0)
                                                {
                                                    u2 = u1
                                                    e2 = e1
                                                    u1 = h
                                                    e1 = e
                                                } else {
                                                    u2 = h
                                                    e2 = e
                                                }
                                            }
                                            var e = e1
                                            var j = column[e1]
                                            var displaced = row4col[j]
                                            let raises = u1 < u2 && u2 < .infinity
                                            if raises {
                                                // The price of j rises until the row is indifferent between j and e2.
                                                v[j] -= u2 - u1
                                            } else if displaced >= 0 && e2 >= 0 {
                                                e = e2
                                                j = column[e2]
                                                displaced = row4col[j]
                                            }
                                            u[current] = weight[e] - v[j]
                                            col4row[current] = j
                                            row4col[j] = current
                                            if displaced >= 0 { col4row[displaced] = -1 }
                                            if displaced >= 0 && raises {
                                                current = displaced
                                            } else {
                                                if displaced >= 0 { queue.append(displaced) }
                                                current = -1
                                            }
                                        }
                                        if current >= 0 { queue.append(current) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Crouse's shortest augmenting path from every free row with edges, over the graph, from the current state.
    mutating func augment() -> Bool {
        var dist = [Double](repeating: .infinity, count: cols)
        var path = [Int](repeating: -1, count: cols)
        var done = [Bool](repeating: false, count: cols)
        var touched: [Int] = []
        var scannedRows: [Int] = []
        var scannedCols: [Int] = []
        var heap = ColumnHeap()
        for current in 0..<rows where col4row[current] < 0 && start[current] < start[current + 1] {
            var minVal = 0.0
            var i = current
            var sink = -1
            while sink < 0 {
                scannedRows.append(i)
                let shift = minVal - u[i]
                for e in start[i]..<start[i + 1] {
                    let j = column[e]
                    if done[j] { continue }
                    let r = shift + weight[e] - v[j]
                    if r < dist[j] {
                        if dist[j] == .infinity { touched.append(j) }
                        dist[j] = r
                        path[j] = i
                        heap.push(r, free: row4col[j] < 0, column: j)
                    }
                }
                var next = -1
                while let top = heap.pop() {
                    if !done[top.column] && top.cost == dist[top.column] {
                        next = top.column
                        break
                    }
                }
                guard next >= 0 else { return false }
                minVal = dist[next]
                done[next] = true
                scannedCols.append(next)
                if row4col[next] < 0 { sink = next } else { i = row4col[next] }
            }
            u[current] += minVal
            for r in scannedRows where r != current { u[r] += minVal - dist[col4row[r]] }
            for j in scannedCols { v[j] -= minVal - dist[j] }
            var j = sink
            while true {
                let r = path[j]
                row4col[j] = r
                swap(&col4row[r], &j)
                if r == current { break }
            }
            for j in touched {
                dist[j] = .infinity
                done[j] = false
            }
            touched.removeAll(keepingCapacity: true)
            scannedRows.removeAll(keepingCapacity: true)
            scannedCols.removeAll(keepingCapacity: true)
            heap.removeAll()
        }
        return true
    }

    /// The first broken invariant of an optimal state (tests), or nil: `v ≤ 0`, `v = 0` on free columns, every row
    /// with edges matched, reduced costs ≥ −tolerance and matched edges within tolerance of 0.
    func brokenInvariant(tolerance: Double) -> String? {
        for j in 0..<cols {
            if v[j] > 0 { return "v[\(j)] = \(v[j]) > 0" }
            if row4col[j] < 0 && v[j] != 0 { return "free column \(j) has v \(v[j])" }
        }
        for i in 0..<rows where start[i] < start[i + 1] {
            guard col4row[i] >= 0 else { return "row \(i) free" }
            for e in start[i]..<start[i + 1] {
                let r = weight[e] - u[i] - v[column[e]]
                if r < -tolerance { return "row \(i) edge to \(column[e]) rc \(r)" }
                if column[e] == col4row[i] && abs(r) > tolerance { return "row \(i) matched rc \(r)" }
            }
        }
        return nil
    }
}
