/// Minimum-cost assignment (rectangular linear sum assignment), exact.
///
/// Shortest augmenting paths with dual potentials (the Jonker–Volgenant family, in the form of D. F. Crouse, "On
/// implementing 2D rectangular assignment algorithms", 2016, as used by SciPy's `linear_sum_assignment`): one
/// Dijkstra-like search per row over reduced costs, O(r²·c) time in the worst case for r = min(rows, cols) and
/// c = max(rows, cols), usually far less; memory is the caller's matrix plus O(rows + cols) (a transposed copy when
/// there are more rows than columns).
///
/// Forbidden pairs: an entry that is NaN, +infinity or ≥ `forbidden` may not be used. The result first maximises
/// the number of assigned rows and then minimises the total cost among assignments of that size; a row that cannot
/// be assigned (no feasible column left, or more rows than columns) maps to nil. Internally forbidden entries are
/// replaced by a finite cost M larger than any difference a feasible assignment can make, so one M more always
/// loses. Large matrices are first solved on a sparse graph of each row's cheapest columns and proved optimal for the
/// whole matrix by a pricing check on the dual potentials (see `solveSparse`), falling back to the dense search. Ties are deterministic: the same matrix always gives the same answer (lower reduced cost first, then a
/// free column, then scan order).
public struct AssignmentSolver {
    /// Solves a matrix given as rows of equal length; `costs[i][j]` is the cost of row i taking column j.
    public static func solve(costs: [[Double]], forbidden: Double = .infinity) -> [Int?] {
        let rows = costs.count
        let cols = costs.first?.count ?? 0
        precondition(costs.allSatisfy { $0.count == cols }, "rows of different lengths")
        return solve(costs: costs.flatMap { $0 }, rows: rows, cols: cols, forbidden: forbidden)
    }

    /// Solves a row-major matrix: `costs[i * cols + j]` is the cost of row i taking column j.
    /// Returns, for each row, its column or nil. -infinity is not a valid cost.
    public static func solve(costs: [Double], rows: Int, cols: Int, forbidden: Double = .infinity) -> [Int?] {
        precondition(costs.count == rows * cols, "costs.count must be rows × cols")
        guard rows > 0, cols > 0 else { return Array(repeating: nil, count: rows) }
        if rows <= cols {
            return costs.withUnsafeBufferPointer { solveWide($0, rows: rows, cols: cols, forbidden: forbidden) }
        }
        // More rows than columns: solve the transpose (columns choose rows), then invert.
        var transposed = [Double](repeating: 0, count: rows * cols)
        for i in 0..<rows {
            for j in 0..<cols { transposed[j * rows + i] = costs[i * cols + j] }
        }
        let byColumn = transposed.withUnsafeBufferPointer {
            solveWide($0, rows: cols, cols: rows, forbidden: forbidden)
        }
        var result = [Int?](repeating: nil, count: rows)
        for (column, row) in byColumn.enumerated() {
            if let row { result[row] = column }
        }
        return result
    }

    /// The sum of the chosen entries (nil rows skipped).
    public static func totalCost(costs: [Double], cols: Int, assignment: [Int?]) -> Double {
        var total = 0.0
        for (row, column) in assignment.enumerated() {
            if let column { total += costs[row * cols + column] }
        }
        return total
    }

    /// Matrices with at least this many entries try the sparse search first (see `solveSparse`).
    static let sparseThreshold = 4096

    /// rows ≤ cols: every row gets a column (perhaps a forbidden one, mapped to nil at the end).
    static func solveWide(
        _ cost: UnsafeBufferPointer<Double>, rows nr: Int, cols nc: Int, forbidden: Double, allowSparse: Bool = true
    ) -> [Int?] {
        // Bounds of the feasible entries, for the finite stand-in M of forbidden ones.
        var lowest = Double.infinity
        var highest = -Double.infinity
        for c in cost where c < forbidden && c < .infinity {
            precondition(c > -.infinity, "-infinity is not a valid cost")
            lowest = min(lowest, c)
            highest = max(highest, c)
        }
        guard lowest <= highest else { return Array(repeating: nil, count: nr) }
        let big = abs(highest) + Double(nr) * (highest - lowest) + 1 + abs(lowest)
        let limit = min(forbidden, .infinity)
        if allowSparse, nr * nc >= sparseThreshold, nr >= 8,
            let col4row = solveSparse(cost, rows: nr, cols: nc, limit: limit, big: big)
        {
            return col4row.map { $0 >= 0 ? $0 : nil }
        }

        var u = [Double](repeating: 0, count: nr)
        var v = [Double](repeating: 0, count: nc)
        var shortest = [Double](repeating: .infinity, count: nc)
        var path = [Int](repeating: -1, count: nc)
        var col4row = [Int](repeating: -1, count: nr)
        var row4col = [Int](repeating: -1, count: nc)
        var remaining = [Int](repeating: 0, count: nc)
        var scannedRows: [Int] = []
        var scannedCols: [Int] = []

        u.withUnsafeMutableBufferPointer { u in
            v.withUnsafeMutableBufferPointer { v in
                shortest.withUnsafeMutableBufferPointer { shortest in
                    path.withUnsafeMutableBufferPointer { path in
                        row4col.withUnsafeMutableBufferPointer { row4col in
                            remaining.withUnsafeMutableBufferPointer { remaining in
                                for current in 0..<nr {
                                    // Dijkstra over the columns from `current`.
                                    for j in 0..<nc { remaining[j] = nc - 1 - j }
                                    var count = nc
                                    var minVal = 0.0
                                    var i = current
                                    var sink = -1
                                    scannedRows.removeAll(keepingCapacity: true)
                                    scannedCols.removeAll(keepingCapacity: true)
                                    var first = true
                                    while sink < 0 {
                                        scannedRows.append(i)
                                        var best = -1
                                        var bestValue = Double.infinity
                                        let base = i * nc
                                        let shift = minVal - u[i]
                                        for index in 0..<count {
                                            let j = remaining[index]
                                            var c = cost[base + j]
                                            c = c < limit ? c : big
                                            let r = shift + c - v[j]
                                            if first || r < shortest[j] {
                                                shortest[j] = r
                                                path[j] = i
                                            }
                                            let s = shortest[j]
                                            if s < bestValue || (s == bestValue && row4col[j] < 0) {
                                                bestValue = s
                                                best = index
                                            }
                                        }
                                        first = false
                                        minVal = bestValue
                                        let j = remaining[best]
                                        if row4col[j] < 0 { sink = j } else { i = row4col[j] }
                                        scannedCols.append(j)
                                        count -= 1
                                        remaining[best] = remaining[count]
                                    }
                                    // Update the potentials, then augment along the path.
                                    u[current] += minVal
                                    for r in scannedRows where r != current {
                                        u[r] += minVal - shortest[col4row[r]]
                                    }
                                    for j in scannedCols { v[j] -= minVal - shortest[j] }
                                    var j = sink
                                    while true {
                                        let r = path[j]
                                        row4col[j] = r
                                        swap(&col4row[r], &j)
                                        if r == current { break }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return (0..<nr).map { row in
            let column = col4row[row]
            let c = cost[row * nc + column]
            return c < limit ? column : nil
        }
    }
}
