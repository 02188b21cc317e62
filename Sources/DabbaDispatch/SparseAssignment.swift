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
    let start: [Int]
    let column: [Int]
    let weight: [Double]
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

    /// Solves: row reduction with at most `maxBids` bids, then shortest augmenting paths. False if a row with edges
    /// cannot be matched within the graph (rows without edges stay unmatched).
    mutating func solve(maxBids: Int) -> Bool {
        reduceRows(maxBids: maxBids)
        return augment()
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
}
