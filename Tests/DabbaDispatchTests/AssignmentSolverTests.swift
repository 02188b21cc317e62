import DabbaDispatch
import PropertyBased
import Testing

extension DispatchAlgorithmTests {
    /// The solver against brute force on small random matrices: square and rectangular both ways, forbidden pairs,
    /// many ties (costs from a handful of integers), negative costs.
    @Suite struct AssignmentSolverTests {
        /// rows, cols ∈ 1…6; each entry one of -3…8 or forbidden (a quarter of them, more when `forbiddenShare` says
        /// so).
        static let instance = zip(
            Gen.int(in: 1...6), Gen.int(in: 1...6), Gen.int(in: -3...8).array(of: 36), Gen.int(in: 0...7).array(of: 36)
        )
        .map { input in
            let (rows, cols, values, masks) = input
            let costs = (0..<rows * cols).map { k in masks[k] < 2 ? Double.infinity : Double(values[k]) }
            return Instance(rows: rows, cols: cols, costs: costs)
        }

        struct Instance: CustomStringConvertible, Sendable {
            var rows: Int
            var cols: Int
            var costs: [Double]
            var description: String {
                "\(rows)×\(cols) "
                    + (0..<rows).map { r in
                        costs[r * cols..<(r + 1) * cols].map { $0 < .infinity ? "\(Int($0))" : "x" }.joined(
                            separator: " ")
                    }.joined(separator: " | ")
            }
        }

        @Test func findsTheOptimumOfRandomInstances() async {
            await propertyCheck(count: 500, input: Self.instance) { instance in
                let assignment = AssignmentSolver.solve(costs: instance.costs, rows: instance.rows, cols: instance.cols)
                #expect(assignment.count == instance.rows)
                let best = bruteForce(costs: instance.costs, rows: instance.rows, cols: instance.cols)
                guard let got = achieved(assignment, costs: instance.costs, cols: instance.cols) else {
                    Issue.record("invalid assignment \(assignment) for \(instance)")
                    return
                }
                #expect(got.count == best.count, "\(instance)")
                #expect(abs(got.cost - best.cost) < 1e-9, "\(instance): \(got.cost) vs \(best.cost)")
            }
        }

        @Test func realValuedCostsMatchBruteForce() async {
            let gen = zip(Gen.int(in: 1...6), Gen.int(in: 1...6), Gen.double(in: 0...1000).array(of: 36))
            await propertyCheck(count: 300, input: gen) { rows, cols, values in
                let costs = Array(values.prefix(rows * cols))
                let assignment = AssignmentSolver.solve(costs: costs, rows: rows, cols: cols)
                let best = bruteForce(costs: costs, rows: rows, cols: cols)
                let got = achieved(assignment, costs: costs, cols: cols)
                #expect(got?.count == min(rows, cols))
                #expect(abs((got?.cost ?? .nan) - best.cost) < 1e-6)
            }
        }

        @Test func isDeterministic() async {
            await propertyCheck(count: 100, input: Self.instance) { instance in
                let a = AssignmentSolver.solve(costs: instance.costs, rows: instance.rows, cols: instance.cols)
                let b = AssignmentSolver.solve(costs: instance.costs, rows: instance.rows, cols: instance.cols)
                #expect(a == b)
            }
        }

        @Test func handBuiltCases() {
            // The classic 3×3.
            #expect(AssignmentSolver.solve(costs: [[4, 1, 3], [2, 0, 5], [3, 2, 2]]) == [1, 0, 2])
            // More rows than columns: the cheaper row wins the only column.
            #expect(AssignmentSolver.solve(costs: [[10], [1]]) == [nil, 0])
            // Forbidden pairs: row 0 can only take column 0, so row 1 must take column 1 although 0 is cheaper for it.
            #expect(AssignmentSolver.solve(costs: [[5, .infinity], [0, 9]]) == [0, 1])
            // A row with nothing feasible stays unassigned; maximum cardinality beats cost.
            #expect(AssignmentSolver.solve(costs: [[.infinity, .infinity], [1, 2]]) == [nil, 0])
            #expect(AssignmentSolver.solve(costs: [[1, 100], [1, .infinity]]) == [1, 0])
            // A custom forbidden threshold.
            #expect(AssignmentSolver.solve(costs: [[1, 99], [2, 3]], forbidden: 99) == [0, 1])
            #expect(AssignmentSolver.solve(costs: [[99, 1]], forbidden: 99) == [1])
            // Empty shapes.
            #expect(AssignmentSolver.solve(costs: [], rows: 0, cols: 3) == [])
            #expect(AssignmentSolver.solve(costs: [], rows: 2, cols: 0) == [nil, nil])
        }
    }
}
