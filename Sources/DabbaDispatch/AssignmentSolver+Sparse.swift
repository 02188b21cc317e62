/// The large-matrix path of `AssignmentSolver`: the same shortest-augmenting-path algorithm on a sparse graph of each
/// row's cheapest columns, then a pricing check against the whole matrix.
///
/// The sparse search keeps the dual potentials (u per row, v per column, v = 0 on free columns, reduced costs ≥ 0 on
/// the graph's edges and 0 on the matched ones). If every row is matched and no entry of the full matrix has a
/// negative reduced cost (c − u − v), those potentials prove the matching optimal for the full matrix (linear
/// programming duality), so the answer is exact. Entries that fail the check join the graph and the search runs
/// again; if rows cannot all be matched within the graph, the lists grow; as a last resort the dense search runs.
extension AssignmentSolver {
    /// Columns kept per row at first.
    static let sparseStartDegree = 16

    static func solveSparse(
        _ cost: UnsafeBufferPointer<Double>, rows nr: Int, cols nc: Int, limit: Double, big: Double
    ) -> [Int]? {
        var degree = min(nc, sparseStartDegree)
        var extra = [[Int]](repeating: [], count: nr)
        for _ in 0..<8 {
            var graph = SparseGraph(cost, rows: nr, cols: nc, degree: degree, extra: extra, limit: limit)
            guard let result = graph.shortestAugmentingPaths() else {
                if degree >= nc { return nil }
                degree = min(nc, degree * 4)
                continue
            }
            // Pricing: every feasible entry must have a non-negative reduced cost.
            var violations = 0
            let tolerance = 1e-9 * max(1, abs(big))
            for i in 0..<nr {
                let base = i * nc
                let ui = result.u[i]
                // A forbidden entry could be better: leave it to the dense search.
                if ui >= big - tolerance { return nil }
                for j in 0..<nc {
                    let c = cost[base + j]
                    if c < limit, c - ui - result.v[j] < -tolerance {
                        extra[i].append(j)
                        violations += 1
                    }
                }
            }
            if violations == 0 { return result.col4row }
        }
        return nil
    }
}

/// Each row's cheapest columns (plus extra ones), with the search state.
struct SparseGraph {
    let rows: Int
    let cols: Int
    var start: [Int]
    var column: [Int]
    var weight: [Double]

    init(
        _ cost: UnsafeBufferPointer<Double>, rows: Int, cols: Int, degree: Int, extra: [[Int]], limit: Double
    ) {
        self.rows = rows
        self.cols = cols
        start = [0]
        column = []
        weight = []
        column.reserveCapacity(rows * (degree + 1))
        weight.reserveCapacity(rows * (degree + 1))
        var heapCost = [Double](repeating: 0, count: degree)
        var heapColumn = [Int](repeating: 0, count: degree)
        for i in 0..<rows {
            // A max-heap of the `degree` cheapest (cost, column) pairs of row i.
            var size = 0
            let base = i * cols
            for j in 0..<cols {
                let c = cost[base + j]
                guard c < limit else { continue }
                if size < degree {
                    var k = size
                    size += 1
                    while k > 0 {
                        let parent = (k - 1) / 2
                        guard heapCost[parent] < c || (heapCost[parent] == c && heapColumn[parent] < j) else { break }
                        heapCost[k] = heapCost[parent]
                        heapColumn[k] = heapColumn[parent]
                        k = parent
                    }
                    heapCost[k] = c
                    heapColumn[k] = j
                } else if c < heapCost[0] {
                    // Replace the top and sift down.
                    var k = 0
                    while true {
                        let left = 2 * k + 1
                        guard left < size else { break }
                        var child = left
                        let right = left + 1
                        if right < size
                            && (heapCost[right] > heapCost[left]
                                || (heapCost[right] == heapCost[left] && heapColumn[right] > heapColumn[left]))
                        {
                            child = right
                        }
                        guard heapCost[child] > c || (heapCost[child] == c && heapColumn[child] > j) else { break }
                        heapCost[k] = heapCost[child]
                        heapColumn[k] = heapColumn[child]
                        k = child
                    }
                    heapCost[k] = c
                    heapColumn[k] = j
                }
            }
            var chosen = Set(heapColumn[0..<size])
            for k in 0..<size {
                column.append(heapColumn[k])
                weight.append(heapCost[k])
            }
            for j in extra[i] where chosen.insert(j).inserted {
                column.append(j)
                weight.append(cost[base + j])
            }
            start.append(column.count)
        }
    }

    struct Result {
        var col4row: [Int]
        var u: [Double]
        var v: [Double]
    }

    /// Crouse's shortest augmenting paths over the graph's edges with a binary heap; nil if a row cannot be matched.
    /// Rows without any feasible column stay unmatched (-1): no assignment can give them one.
    mutating func shortestAugmentingPaths() -> Result? {
        // The same search the fast path runs, from an empty matching with zero potentials.
        var state = SparseAssignment(rows: rows, cols: cols, start: start, column: column, weight: weight)
        guard state.augment() else { return nil }
        return Result(col4row: state.col4row, u: state.u, v: state.v)
    }
}

/// A binary min-heap of (cost, free first, column), so ties pop the same way every time.
struct ColumnHeap {
    struct Entry {
        var cost: Double
        var taken: Bool
        var column: Int
    }
    private var items: [Entry] = []

    @inline(__always)
    static func less(_ a: Entry, _ b: Entry) -> Bool {
        if a.cost != b.cost { return a.cost < b.cost }
        if a.taken != b.taken { return !a.taken }
        return a.column < b.column
    }

    mutating func push(_ cost: Double, free: Bool, column: Int) {
        let entry = Entry(cost: cost, taken: !free, column: column)
        var k = items.count
        items.append(entry)
        while k > 0 {
            let parent = (k - 1) / 2
            guard ColumnHeap.less(entry, items[parent]) else { break }
            items[k] = items[parent]
            k = parent
        }
        items[k] = entry
    }

    mutating func pop() -> Entry? {
        guard let last = items.popLast() else { return nil }
        guard !items.isEmpty else { return last }
        let top = items[0]
        var k = 0
        let size = items.count
        while true {
            let left = 2 * k + 1
            guard left < size else { break }
            var child = left
            if left + 1 < size && ColumnHeap.less(items[left + 1], items[left]) { child = left + 1 }
            guard ColumnHeap.less(items[child], last) else { break }
            items[k] = items[child]
            k = child
        }
        items[k] = last
        return top
    }

    mutating func removeAll() { items.removeAll(keepingCapacity: true) }
}
