/// The best assignment by exhaustion: most assigned rows, then least total cost.
func bruteForce(costs: [Double], rows: Int, cols: Int) -> (count: Int, cost: Double) {
    var best = (count: 0, cost: 0.0)
    var used = [Bool](repeating: false, count: cols)
    func visit(_ row: Int, _ count: Int, _ cost: Double) {
        if row == rows {
            if count > best.count || (count == best.count && cost < best.cost - 1e-9) { best = (count, cost) }
            return
        }
        visit(row + 1, count, cost)
        for column in 0..<cols where !used[column] && costs[row * cols + column] < .infinity {
            used[column] = true
            visit(row + 1, count + 1, cost + costs[row * cols + column])
            used[column] = false
        }
    }
    visit(0, 0, 0)
    return best
}

/// What an assignment achieves: assigned rows and their total cost; nil if it uses a column twice or a forbidden pair.
func achieved(_ assignment: [Int?], costs: [Double], cols: Int) -> (count: Int, cost: Double)? {
    var seen = Set<Int>()
    var count = 0
    var cost = 0.0
    for (row, column) in assignment.enumerated() {
        guard let column else { continue }
        guard seen.insert(column).inserted, costs[row * cols + column] < .infinity else { return nil }
        count += 1
        cost += costs[row * cols + column]
    }
    return (count, cost)
}
