@testable import DabbaDispatch
import PropertyBased
import Testing

/// `batch`: its matching is optimal on its own cost matrix (brute force), respects feasibility, and is deterministic.
@Suite struct BatchPolicyTests {
    static let centre = GeoCoordinate(lat: 22.3149, lon: 87.3105)

    /// A small random round: 1–5 orders, 1–5 agents, coarse positions and times so that costs tie often; some
    /// agents zoned, loaded or excluded.
    static let round = zip(Gen.int(in: 1...5), Gen.int(in: 1...5), Gen.int(in: 0...1_000_000).array(of: 60))
        .map { input -> ([DispatchOrder], [DispatchAgent]) in makeRound(orders: input.0, agents: input.1, r: input.2) }

    static func spot(_ k: Int) -> GeoCoordinate {
        GeoCoordinate(lat: centre.lat + Double(k % 5) * 0.01, lon: centre.lon + Double((k / 5) % 5) * 0.01)
    }

    static func makeRound(orders orderCount: Int, agents agentCount: Int, r: [Int]) -> ([DispatchOrder], [DispatchAgent]) {
        let zones: [String?] = ["ne", "sw", nil]
        var orders: [DispatchOrder] = []
        for i in 0..<orderCount {
            let excluded: Set<String> = r[i + 20] % 4 == 0 ? ["a-\(r[i + 25] % 5)"] : []
            orders.append(
                DispatchOrder(
                    id: "o-\(i)", restaurantID: "r-\(r[i] % 3)", pickup: spot(r[i] % 3), zoneID: zones[r[i + 5] % 3],
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
            var random = SeededRandom(seed: UInt64(seed))
            for name in DispatchPolicies.names {
                let policy = DispatchPolicies.make(name, settings: DispatchSettings())!
                let a = policy.assign(orders: orders, agents: agents, now: 1_200_000)
                let b = policy.assign(orders: orders, agents: agents, now: 1_200_000)
                let c = policy.assign(
                    orders: orders.shuffled(using: &random), agents: agents.shuffled(using: &random), now: 1_200_000)
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
        var random = SeededRandom(seed: 7)
        let orders = (0..<60).map { i in
            DispatchOrder(
                id: "o-\(i)", restaurantID: "r-\(i % 7)",
                pickup: GeoCoordinate(lat: 22.3 + Double.random(in: 0...0.05, using: &random), lon: 87.3 + Double.random(in: 0...0.05, using: &random)),
                placedAt: Int64.random(in: 0...600_000, using: &random), readyAt: Int64.random(in: 600_000...1_800_000, using: &random))
        }
        let agents = (0..<300).map { k in
            DispatchAgent(
                id: "a-\(k)", position: GeoCoordinate(lat: 22.3 + Double.random(in: 0...0.05, using: &random), lon: 87.3 + Double.random(in: 0...0.05, using: &random)),
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

/// SplitMix64 for shuffles in tests.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
