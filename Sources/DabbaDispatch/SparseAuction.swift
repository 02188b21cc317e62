/// A starting point for `SparseAssignment.solve`: prices from an ε-scaling auction (Bertsekas), then the rows that
/// are not exactly on their best column are released.
///
/// The auction only chooses where the exact search starts; it is a heuristic, and nothing in the answer rests on it.
/// After it, every row still matched is on a column of least reduced cost (its edge is tight with `u` = that
/// minimum), every free column that ended the auction free is back at `v = 0`, and `v ≤ 0` throughout: exactly the
/// state `solve` accepts (its columns released with `v < 0` are brought back by `repairColumns`). With prices close to
/// the optimum the released rows find a column within a few ε, so the shortest paths stay short.
extension SparseAssignment {
    /// Runs the auction on the current graph from the current prices, over the phases `epsilons` (decreasing), with
    /// at most `maxBids` bids in all, and leaves the state for `solve` (see the type's note). Rows already matched
    /// are unmatched first.
    mutating func auctionStart(epsilons: [Double], maxBids: Int) {
        var bids = 0
        var queue: [Int] = []
        queue.reserveCapacity(rows)
        let rows = rows
        start.withUnsafeBufferPointer { start in
            column.withUnsafeBufferPointer { column in
                weight.withUnsafeBufferPointer { weight in
                    v.withUnsafeMutableBufferPointer { v in
                        col4row.withUnsafeMutableBufferPointer { col4row in
                            row4col.withUnsafeMutableBufferPointer { row4col in
                                for epsilon in epsilons where bids < maxBids {
                                    // A new phase: columns left free go back to price 0, every row bids again.
                                    for j in 0..<row4col.count where row4col[j] < 0 { v[j] = 0 }
                                    queue.removeAll(keepingCapacity: true)
                                    for i in 0..<rows {
                                        let j = col4row[i]
                                        if j >= 0 {
                                            row4col[j] = -1
                                            col4row[i] = -1
                                        }
                                        if start[i] < start[i + 1] { queue.append(i) }
                                    }
                                    var head = 0
                                    while head < queue.count && bids < maxBids {
                                        let i = queue[head]
                                        head += 1
                                        bids += 1
                                        var h1 = Double.infinity
                                        var h2 = Double.infinity
                                        var j1 = -1
                                        for e in start[i]..<start[i + 1] {
                                            let j = column[e]
                                            let h = weight[e] - v[j]
                                            if h < h1 {
                                                h2 = h1
                                                h1 = h
                                                j1 = j
                                            } else if h < h2 {
                                                h2 = h
                                            }
                                        }
                                        // The price of j1 rises until i is ε short of indifferent to its second best.
                                        v[j1] -= (h2 < .infinity ? h2 - h1 : 0) + epsilon
                                        let previous = row4col[j1]
                                        row4col[j1] = i
                                        col4row[i] = j1
                                        if previous >= 0 {
                                            col4row[previous] = -1
                                            queue.append(previous)
                                        }
                                    }
                                }
                                for j in 0..<row4col.count where row4col[j] < 0 { v[j] = 0 }
                            }
                        }
                    }
                }
            }
        }
        tightenOrRelease()
    }

    /// After the auction every matched row is within ε of its least reduced cost. A row whose column is not exactly
    /// one of least reduced cost is made so by lowering that column's price by the row's slack (raising `v`), when
    /// that keeps `v ≤ 0` and no other matched row's edge to the column below its least reduced cost (so no other
    /// row's minimum changes); else the row is released. Rows are taken in index order. Every row's `u` is left at
    /// its least reduced cost, so (u, v) is feasible on every edge (the approximate pricing passes rely on it).
    mutating func tightenOrRelease() {
        for i in 0..<rows where start[i] < start[i + 1] {
            var best = Double.infinity
            for e in start[i]..<start[i + 1] { best = min(best, weight[e] - v[column[e]]) }
            u[i] = best
        }
        let incoming = columnIndex()
        for i in 0..<rows where col4row[i] >= 0 {
            let j = col4row[i]
            var own = Double.infinity
            var ownWeight = Double.infinity
            for e in start[i]..<start[i + 1] where column[e] == j {
                own = weight[e] - v[j]
                ownWeight = weight[e]
            }
            let slack = own - u[i]
            if slack == 0 { continue }
            let lowered = v[j] + slack
            var keep = lowered <= 0 && ownWeight - lowered <= u[i]
            if keep {
                for e in incoming.start[j]..<incoming.start[j + 1] {
                    let m = incoming.row[e]
                    if m != i && col4row[m] >= 0 && incoming.weight[e] - u[m] - lowered < 0 {
                        keep = false
                        break
                    }
                }
            }
            if keep {
                v[j] = lowered
                u[i] = ownWeight - lowered
            } else {
                release(row: i)
            }
        }
        // Free rows: their least reduced cost at the final prices (the potentials are then feasible on every edge).
        for i in 0..<rows where col4row[i] < 0 && start[i] < start[i + 1] {
            var best = Double.infinity
            for e in start[i]..<start[i + 1] { best = min(best, weight[e] - v[column[e]]) }
            u[i] = best
        }
    }
}

/// The graph's edges by column (CSC): column j's edges are `start[j]..<start[j + 1]` of `row` / `weight`.
struct ColumnEdges {
    var start: [Int]
    var row: [Int]
    var weight: [Double]
}

extension SparseAssignment {
    /// The graph's in-edges per column.
    func columnIndex() -> ColumnEdges {
        var inStart = [Int](repeating: 0, count: cols + 1)
        for e in column.indices { inStart[column[e] + 1] += 1 }
        for j in 0..<cols { inStart[j + 1] += inStart[j] }
        var inRow = [Int](repeating: 0, count: column.count)
        var inWeight = [Double](repeating: 0, count: column.count)
        var fill = inStart
        for i in 0..<rows {
            for e in start[i]..<start[i + 1] {
                let j = column[e]
                inRow[fill[j]] = i
                inWeight[fill[j]] = weight[e]
                fill[j] += 1
            }
        }
        return ColumnEdges(start: inStart, row: inRow, weight: inWeight)
    }
}
