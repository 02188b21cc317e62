@testable import DabbaDispatch
import PropertyBased
import Testing

extension DispatchAlgorithmTests {
    /// `SparseAssignment`'s warm start (the fast path's pricing passes) and auction start against brute force: a solve
    /// on part of a graph, then the rest of the edges with the violated rows released, must reach the optimum of the
    /// whole graph with the optimality conditions intact (free columns back at v = 0).
    @Suite struct SparseAssignmentTests {
        /// rows ≤ cols ≤ 7, every row with ≥ 1 edge; costs real-valued or from a few integers (ties); which edges come
        /// first is random.
        static let instance = zip(
            Gen.int(in: 1...5), Gen.int(in: 0...2), Gen.double(in: -50...500).array(of: 35),
            Gen.int(in: 0...9).array(of: 35),
            Gen.int(in: 0...3).array(of: 35), Gen.bool
        )
        .map { input in
            let (rows, extraCols, values, masks, phases, ties) = input
            let cols = rows + extraCols
            var costs = [Double](repeating: .infinity, count: rows * cols)
            var firstPhase = [Bool](repeating: false, count: rows * cols)
            for k in 0..<rows * cols where masks[k] >= 3 || k % cols == (k / cols) % cols {
                costs[k] = ties ? Double(Int(values[k]) % 4) : values[k]
                firstPhase[k] = phases[k] > 0
            }
            return Instance(rows: rows, cols: cols, costs: costs, firstPhase: firstPhase)
        }

        struct Instance: CustomStringConvertible, Sendable {
            var rows: Int
            var cols: Int
            var costs: [Double]
            var firstPhase: [Bool]
            var description: String { "\(rows)×\(cols) \(costs) first \(firstPhase)" }

            func graph(onlyFirst: Bool) -> (start: [Int], column: [Int], weight: [Double]) {
                var start = [0]
                var column: [Int] = []
                var weight: [Double] = []
                for i in 0..<rows {
                    for j in 0..<cols where costs[i * cols + j] < .infinity && (!onlyFirst || firstPhase[i * cols + j])
                    {
                        column.append(j)
                        weight.append(costs[i * cols + j])
                    }
                    start.append(column.count)
                }
                return (start, column, weight)
            }
        }

        static func total(_ state: SparseAssignment, _ instance: Instance) -> Double {
            (0..<instance.rows).reduce(0.0) { sum, i in sum + instance.costs[i * instance.cols + state.col4row[i]] }
        }

        /// The whole graph of `instance`, and its assignment priced by the ε-scaling auction (no exact step yet).
        static func afterAuction(_ instance: Instance)
            -> (SparseAssignment, (start: [Int], column: [Int], weight: [Double]))
        {
            let all = instance.graph(onlyFirst: false)
            var state = SparseAssignment(
                rows: instance.rows, cols: instance.cols, start: all.start, column: all.column, weight: all.weight)
            state.auctionStart(epsilons: [64, 4, 0.25, 0.001], maxBids: 1000)
            return (state, all)
        }

        /// Solves `state` and checks it: solved, the invariants hold, and its total is the brute-force optimum.
        static func expectSolvedToTheOptimum(_ state: inout SparseAssignment, _ instance: Instance) {
            let solved = state.solve(maxBids: 10 * instance.rows)
            #expect(solved, "\(instance)")
            #expect(
                state.brokenInvariant(tolerance: 1e-7) == nil,
                "\(instance): \(state.brokenInvariant(tolerance: 1e-7) ?? "")")
            let best = bruteForce(costs: instance.costs, rows: instance.rows, cols: instance.cols)
            #expect(abs(total(state, instance) - best.cost) < 1e-6, "\(instance)")
        }

        @Test func warmStartAfterAddingEdgesReachesTheOptimum() async {
            await propertyCheck(count: 400, input: Self.instance) { instance in
                let first = instance.graph(onlyFirst: true)
                var state = SparseAssignment(
                    rows: instance.rows, cols: instance.cols, start: first.start, column: first.column,
                    weight: first.weight)
                // The first edges may not match every row.
                guard state.solve(maxBids: 10 * instance.rows) else { return }
                let all = instance.graph(onlyFirst: false)
                for i in 0..<instance.rows {
                    let violated = (0..<instance.cols).contains { j in
                        let c = instance.costs[i * instance.cols + j]
                        return c < .infinity && c - state.u[i] - state.v[j] < -1e-9
                    }
                    if violated { state.release(row: i) }
                }
                state.replaceGraph(start: all.start, column: all.column, weight: all.weight)
                Self.expectSolvedToTheOptimum(&state, instance)
            }
        }

        @Test func auctionStartReachesTheOptimum() async {
            await propertyCheck(count: 400, input: Self.instance) { instance in
                var (state, _) = Self.afterAuction(instance)
                Self.expectSolvedToTheOptimum(&state, instance)
            }
        }

        /// After the auction (before any exact step): v ≤ 0, every row's u its least reduced cost (so every edge ≥ 0,
        /// free rows included) and every matched edge exactly tight — the rows the auction left within ε of tight were
        /// either tightened by their column's price or released (their columns may keep v < 0 until `solve` repairs
        /// them).
        @Test func auctionStartLeavesFeasibleTightPotentials() async {
            await propertyCheck(count: 400, input: Self.instance) { instance in
                let (state, all) = Self.afterAuction(instance)
                for j in 0..<instance.cols { #expect(state.v[j] <= 0, "\(instance)") }
                for i in 0..<instance.rows where all.start[i] < all.start[i + 1] {
                    var least = Double.infinity
                    for e in all.start[i]..<all.start[i + 1] {
                        let r = all.weight[e] - state.u[i] - state.v[all.column[e]]
                        least = min(least, r)
                        #expect(r >= -1e-9, "\(instance): row \(i) edge \(all.column[e]) rc \(r)")
                        if all.column[e] == state.col4row[i] {
                            #expect(abs(r) <= 1e-9, "\(instance): row \(i) not tight")
                        }
                    }
                    #expect(least <= 1e-9, "\(instance): row \(i) u below its least reduced cost")
                }
            }
        }

        @Test func repairBringsAReleasedColumnBackToZero() {
            // Row 0 holds column 0 at a price; released with nothing else changed, column 0 must return to v = 0.
            var state = SparseAssignment(
                rows: 2, cols: 3, start: [0, 2, 4], column: [0, 1, 0, 1], weight: [1, 5, 2, 3])
            let solved = state.solve(maxBids: 20)
            #expect(solved)
            #expect(state.v.contains { $0 < 0 })
            let before = Self.total(
                state, Instance(rows: 2, cols: 3, costs: [1, 5, .infinity, 2, 3, .infinity], firstPhase: []))
            state.release(row: 0)
            let solvedAgain = state.solve(maxBids: 20)
            #expect(solvedAgain)
            #expect(state.brokenInvariant(tolerance: 1e-9) == nil)
            #expect(
                Self.total(
                    state, Instance(rows: 2, cols: 3, costs: [1, 5, .infinity, 2, 3, .infinity], firstPhase: []))
                    == before)
        }
    }
}
