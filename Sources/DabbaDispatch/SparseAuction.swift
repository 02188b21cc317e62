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
        // Keep a row only where its column is exactly one of least reduced cost; its potential makes it tight.
        for i in 0..<rows where start[i] < start[i + 1] {
            var best = Double.infinity
            for e in start[i]..<start[i + 1] { best = min(best, weight[e] - v[column[e]]) }
            u[i] = best
            let j = col4row[i]
            guard j >= 0 else { continue }
            var own = Double.infinity
            for e in start[i]..<start[i + 1] where column[e] == j { own = weight[e] - v[j] }
            if own != best { release(row: i) }
        }
    }
}
