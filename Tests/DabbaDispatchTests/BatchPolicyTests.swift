import DabbaCore
@testable import DabbaDispatch
import PropertyBased
import Testing

extension DispatchAlgorithmTests {
    /// `batch`: its matching is optimal on its own cost matrix (brute force), respects feasibility, and is
    /// deterministic.
    @Suite struct BatchPolicyTests {
        static let centre = GeoCoordinate(lat: 22.3149, lon: 87.3105)

        /// A small random round: 1–5 orders, 1–5 agents, coarse positions and times so that costs tie often; some
        /// agents zoned, loaded or excluded.
        static let round = zip(Gen.int(in: 1...5), Gen.int(in: 1...5), Gen.int(in: 0...1_000_000).array(of: 60))
            .map { input -> ([DispatchOrder], [DispatchAgent]) in
                makeRound(orders: input.0, agents: input.1, r: input.2)
            }

        static func spot(_ k: Int) -> GeoCoordinate {
            GeoCoordinate(lat: centre.lat + Double(k % 5) * 0.01, lon: centre.lon + Double((k / 5) % 5) * 0.01)
        }

        static func makeRound(orders orderCount: Int, agents agentCount: Int, r: [Int]) -> (
            [DispatchOrder], [DispatchAgent]
        ) {
            let zones: [String?] = ["ne", "sw", nil]
            var orders: [DispatchOrder] = []
            for i in 0..<orderCount {
                let excluded: Set<String> = r[i + 20] % 4 == 0 ? ["a-\(r[i + 25] % 5)"] : []
                orders.append(
                    DispatchOrder(
                        id: "o-\(i)", restaurantID: "r-\(r[i] % 3)", pickup: spot(r[i] % 3),
                        zoneID: zones[r[i + 5] % 3],
                        placedAt: Int64(r[i + 10] % 4) * 60_000, readyAt: Int64(r[i + 15] % 4) * 300_000,
                        excludedAgents: excluded))
            }
            var agents: [DispatchAgent] = []
            for k in 0..<agentCount {
                let load = r[k + 30] % 4 == 0 ? 1 : 0
                let last: Int64? = r[k + 40] % 3 == 0 ? nil : Int64(r[k + 40] % 3) * 600_000
                let from: String? = load > 0 ? "r-\(r[k + 50] % 3)" : nil
                let agentZones: Set<String>? = r[k + 55] % 3 == 0 ? ["ne"] : nil
                agents.append(
                    DispatchAgent(
                        id: "a-\(k)", position: spot(r[k + 35]), lastDeliveryAt: last, load: load,
                        capacity: r[k + 45] % 2 == 0 ? 2 : 1, carryingFrom: from, zones: agentZones))
            }
            return (orders, agents)
        }

        @Test func matchingIsOptimalOnItsCostMatrix() async {
            await propertyCheck(count: 300, input: Self.round) { orders, agents in
                let now: Int64 = 1_200_000
                let policy = BatchPolicy()
                let matrix = policy.costMatrix(orders: orders, agents: agents, now: now)
                let rows = matrix.orderIDs.count
                let cols = matrix.agentIDs.count
                let best = bruteForce(costs: matrix.costs, rows: rows, cols: cols)
                let decisions = policy.assign(orders: orders, agents: agents, now: now)
                // Recreate the chosen columns: the k-th order given to an agent takes its k-th slot.
                var used: [String: Int] = [:]
                var total = 0.0
                var count = 0
                for decision in decisions {
                    guard let agent = decision.agent else { continue }
                    let row = matrix.orderIDs.firstIndex(of: decision.order)!
                    let slots = matrix.agentIDs.indices.filter { matrix.agentIDs[$0] == agent }
                    let slot = used[agent, default: 0]
                    guard slot < slots.count else {
                        Issue.record("agent \(agent) over capacity")
                        return
                    }
                    used[agent] = slot + 1
                    let cost = matrix.costs[row * cols + slots[slot]]
                    #expect(cost < .infinity, "infeasible pair \(decision.order) → \(agent)")
                    total += cost
                    count += 1
                }
                #expect(count == best.count)
                #expect(abs(total - best.cost) < 1e-6)
                // Feasibility, independently of the matrix.
                for decision in decisions {
                    guard let id = decision.agent else { continue }
                    let order = orders.first { $0.id == decision.order }!
                    let agent = agents.first { $0.id == id }!
                    #expect(agent.canTake(order))
                    #expect(used[id, default: 0] <= agent.freeSlots)
                }
            }
        }

        @Test func shuffledInputGivesTheSameDecisions() async {
            let gen = zip(Self.round, Gen.int(in: 0...1_000_000))
            await propertyCheck(count: 200, input: gen) { round, seed in
                let (orders, agents) = round
                var random = SplitMix64(seed: UInt64(seed))
                for name in DispatchPolicies.names {
                    let policy = DispatchPolicies.make(name, settings: DispatchSettings())!
                    let a = policy.assign(orders: orders, agents: agents, now: 1_200_000)
                    let b = policy.assign(orders: orders, agents: agents, now: 1_200_000)
                    let c = policy.assign(
                        orders: orders.shuffled(using: &random), agents: agents.shuffled(using: &random), now: 1_200_000
                    )
                    #expect(a == b, "\(name) not repeatable")
                    #expect(a == c, "\(name) depends on input order")
                }
            }
        }

        @Test func stackingNeverMixesRestaurantsInOneRound() {
            let here = Self.centre
            let orders = (0..<4).map { i in
                DispatchOrder(id: "o-\(i)", restaurantID: "r-\(i % 2)", pickup: here, placedAt: 0, readyAt: 0)
            }
            let agents = [
                DispatchAgent(id: "a-empty", position: here, capacity: 3),
                DispatchAgent(id: "a-loaded", position: here, load: 1, capacity: 3, carryingFrom: "r-1"),
            ]
            let decisions = BatchPolicy().assign(orders: orders, agents: agents, now: 0)
            let byAgent = Dictionary(grouping: decisions.filter { $0.agent != nil }, by: { $0.agent! })
            // The empty agent takes one order; the loaded one takes both r-1 orders (its two free slots).
            #expect(byAgent["a-empty"]?.count == 1)
            #expect(Set(byAgent["a-loaded"]?.map(\.order) ?? []) == ["o-1", "o-3"])
            #expect(decisions.allSatisfy { $0.policy == "batch" && !$0.candidates.isEmpty })
        }

        @Test func scarceAgentsServeTheOldestOrdersFirst() {
            let here = Self.centre
            let orders = [
                DispatchOrder(id: "o-new", restaurantID: "r", pickup: here, placedAt: 590_000, readyAt: 600_000),
                DispatchOrder(id: "o-old", restaurantID: "r", pickup: here, placedAt: 0, readyAt: 600_000),
            ]
            let agents = [DispatchAgent(id: "a-1", position: here)]
            let decisions = BatchPolicy().assign(orders: orders, agents: agents, now: 600_000)
            #expect(decisions.first { $0.order == "o-old" }?.agent == "a-1")
            #expect(decisions.first { $0.order == "o-new" }?.agent == nil)
        }

        @Test func unknownPolicyNameIsNil() {
            #expect(DispatchPolicies.make("random", settings: DispatchSettings()) == nil)
            #expect(DispatchPolicies.make("batch", settings: DispatchSettings())?.name == "batch")
        }

        @Test func largeRoundIsExactAgainstTheDenseSearch() {
            // 60 × 300 takes the sparse path; the dense search on the same matrix must reach the same total.
            var random = SplitMix64(seed: 7)
            let orders = (0..<60).map { i in
                DispatchOrder(
                    id: "o-\(i)", restaurantID: "r-\(i % 7)",
                    pickup: GeoCoordinate(
                        lat: 22.3 + Double.random(in: 0...0.05, using: &random),
                        lon: 87.3 + Double.random(in: 0...0.05, using: &random)),
                    placedAt: Int64.random(in: 0...600_000, using: &random),
                    readyAt: Int64.random(in: 600_000...1_800_000, using: &random))
            }
            let agents = (0..<300).map { k in
                DispatchAgent(
                    id: "a-\(k)",
                    position: GeoCoordinate(
                        lat: 22.3 + Double.random(in: 0...0.05, using: &random),
                        lon: 87.3 + Double.random(in: 0...0.05, using: &random)),
                    lastDeliveryAt: Bool.random(using: &random) ? nil : Int64.random(in: 0...600_000, using: &random))
            }
            let matrix = BatchPolicy().costMatrix(orders: orders, agents: agents, now: 600_000)
            let cols = matrix.agentIDs.count
            let sparse = AssignmentSolver.solve(costs: matrix.costs, rows: 60, cols: cols)
            let dense = matrix.costs.withUnsafeBufferPointer {
                AssignmentSolver.solveWide($0, rows: 60, cols: cols, forbidden: .infinity, allowSparse: false)
            }
            let a = AssignmentSolver.totalCost(costs: matrix.costs, cols: cols, assignment: sparse)
            let b = AssignmentSolver.totalCost(costs: matrix.costs, cols: cols, assignment: dense)
            #expect(abs(a - b) < 1e-6)
            #expect(sparse.compactMap { $0 }.count == 60)
        }
    }
}

extension DispatchAlgorithmTests {
    /// The fast path (candidate lists and pricing by lower bounds, no full matrix) against brute force and the dense
    /// search.
    @Suite struct BatchFastPathTests {
        /// Total cost and count of the chosen pairs (the chosen agent is always among a decision's candidates).
        static func total(_ decisions: [DispatchDecision]) -> (count: Int, cost: Double) {
            var count = 0
            var cost = 0.0
            for d in decisions {
                guard let agent = d.agent else { continue }
                count += 1
                cost += d.candidates.first { $0.agent == agent }!.cost
            }
            return (count, cost)
        }

        static func run(_ orders: [DispatchOrder], _ agents: [DispatchAgent], now: Int64, fast: Bool?)
            -> [DispatchDecision]
        {
            var stats = BatchProblem.FastStats()
            return BatchPolicy().assign(orders: orders, agents: agents, now: now, fastPath: fast, stats: &stats)
        }

        @Test func smallRoundsMatchBruteForce() async {
            await propertyCheck(count: 300, input: BatchPolicyTests.round) { orders, agents in
                let now: Int64 = 1_200_000
                let matrix = BatchPolicy().costMatrix(orders: orders, agents: agents, now: now)
                let best = bruteForce(costs: matrix.costs, rows: matrix.orderIDs.count, cols: matrix.agentIDs.count)
                let fast = Self.run(orders, agents, now: now, fast: true)
                let dense = Self.run(orders, agents, now: now, fast: false)
                let got = Self.total(fast)
                #expect(got.count == best.count)
                #expect(abs(got.cost - best.cost) < 1e-6)
                // Same candidates (the exact cheapest agents), and every pair feasible.
                #expect(fast.map(\.order) == dense.map(\.order))
                for (a, b) in zip(fast, dense) {
                    #expect(Array(a.candidates.prefix(3)).map(\.agent) == Array(b.candidates.prefix(3)).map(\.agent))
                    guard let id = a.agent else { continue }
                    #expect(agents.first { $0.id == id }!.canTake(orders.first { $0.id == a.order }!))
                }
            }
        }

        static func city(orders: Int, agents: Int, seed: UInt64, zoned: Bool) -> ([DispatchOrder], [DispatchAgent]) {
            var random = SplitMix64(seed: seed)
            func point() -> GeoCoordinate {
                GeoCoordinate(
                    lat: 22.3149 + Double.random(in: -0.054...0.054, using: &random),
                    lon: 87.3105 + Double.random(in: -0.058...0.058, using: &random))
            }
            let restaurants = (0..<40).map { _ in point() }
            let zones = ["n", "s"]
            let orderList = (0..<orders).map { i in
                let r = Int.random(in: 0..<restaurants.count, using: &random)
                return DispatchOrder(
                    id: "o-\(i)", restaurantID: "r-\(r)", pickup: restaurants[r],
                    zoneID: zoned ? zones[r % 2] : nil, placedAt: Int64.random(in: 0...600_000, using: &random),
                    readyAt: Int64.random(in: 600_000...1_800_000, using: &random),
                    excludedAgents: Int.random(in: 0..<5, using: &random) == 0
                        ? ["a-\(Int.random(in: 0..<agents, using: &random))"] : [])
            }
            let agentList = (0..<agents).map { k in
                let loaded = zoned && Int.random(in: 0..<8, using: &random) == 0
                return DispatchAgent(
                    id: "a-\(k)", position: point(),
                    lastDeliveryAt: Int.random(in: 0..<10, using: &random) == 0
                        ? nil : Int64.random(in: 0...600_000, using: &random),
                    load: loaded ? 1 : 0, capacity: loaded ? 2 : 1,
                    carryingFrom: loaded ? "r-\(Int.random(in: 0..<40, using: &random))" : nil,
                    zones: zoned && Int.random(in: 0..<3, using: &random) == 0 ? [zones[k % 2]] : nil,
                    speed: Bool.random(using: &random) ? Double.random(in: 3...9, using: &random) : nil)
            }
            return (orderList, agentList)
        }

        @Test(arguments: [(60, 300, false), (60, 300, true), (200, 1000, false), (200, 1000, true)])
        func mediumRoundsMatchTheDenseSearch(orders: Int, agents: Int, zoned: Bool) {
            for seed in 1...3 {
                let (o, a) = Self.city(orders: orders, agents: agents, seed: UInt64(seed), zoned: zoned)
                let fast = Self.run(o, a, now: 600_000, fast: true)
                let dense = Self.run(o, a, now: 600_000, fast: false)
                let x = Self.total(fast)
                let y = Self.total(dense)
                #expect(x.count == y.count)
                #expect(abs(x.cost - y.cost) < 1e-6, "\(orders)×\(agents) seed \(seed): \(x.cost) vs \(y.cost)")
                for (p, q) in zip(fast, dense) {
                    #expect(p.candidates.prefix(3).map(\.agent) == q.candidates.prefix(3).map(\.agent))
                }
                // Also the matrix solver on the full matrix (the dense search itself, no sparse start).
                let matrix = BatchPolicy().costMatrix(orders: o, agents: a, now: 600_000)
                let cols = matrix.agentIDs.count
                let denseOnly = matrix.costs.withUnsafeBufferPointer {
                    AssignmentSolver.solveWide(
                        $0, rows: matrix.orderIDs.count, cols: cols, forbidden: .infinity, allowSparse: false)
                }
                #expect(
                    abs(AssignmentSolver.totalCost(costs: matrix.costs, cols: cols, assignment: denseOnly) - x.cost)
                        < 1e-6)
            }
        }

        @Test func fastPathIsDeterministicUnderShuffles() {
            let (o, a) = Self.city(orders: 200, agents: 1000, seed: 11, zoned: true)
            var random = SplitMix64(seed: 5)
            let first = Self.run(o, a, now: 600_000, fast: true)
            #expect(first == Self.run(o, a, now: 600_000, fast: true))
            #expect(first == Self.run(o.shuffled(using: &random), a.shuffled(using: &random), now: 600_000, fast: true))
            // Chosen by size: a 200 × 1000 round takes the fast path through the public API, with the same answer.
            #expect(first == BatchPolicy().assign(orders: o, agents: a, now: 600_000))
        }
    }
}
