import DabbaDispatch
import Testing

extension DispatchAlgorithmTests {
    /// `least-recent`, the original rule, on hand-built cases.
    @Suite struct LeastRecentPolicyTests {
        let policy = DispatchPolicies.make("least-recent", settings: DispatchSettings())!
        let here = GeoCoordinate(lat: 22.3149, lon: 87.3105)

        func agent(
            _ id: String, last: Int64?, load: Int = 0, capacity: Int = 1, from: String? = nil,
            zones: Set<String>? = nil
        ) -> DispatchAgent {
            DispatchAgent(
                id: id, position: here, lastDeliveryAt: last, load: load, capacity: capacity,
                carryingFrom: from, zones: zones)
        }

        func order(
            _ id: String, at placed: Int64 = 1_000, restaurant: String = "r-1", zone: String? = nil,
            excluded: Set<String> = []
        ) -> DispatchOrder {
            DispatchOrder(
                id: id, restaurantID: restaurant, pickup: here, zoneID: zone, placedAt: placed,
                readyAt: placed + 600_000, excludedAgents: excluded)
        }

        /// Order → agent ("-" when it stays queued).
        func assigned(_ orders: [DispatchOrder], _ agents: [DispatchAgent]) -> [String: String] {
            Dictionary(
                uniqueKeysWithValues: policy.assign(orders: orders, agents: agents, now: 10_000_000).map {
                    ($0.order, $0.agent ?? "-")
                })
        }

        @Test func longestIdleWins() {
            let agents = [agent("a-1", last: 5_000), agent("a-2", last: 2_000), agent("a-3", last: 9_000)]
            #expect(assigned([order("o-1")], agents) == ["o-1": "a-2"])
        }

        @Test func neverDeliveredComesFirst() {
            let agents = [agent("a-1", last: 1), agent("a-2", last: nil), agent("a-3", last: 0)]
            #expect(assigned([order("o-1")], agents) == ["o-1": "a-2"])
        }

        @Test func tiesGoToTheSmallerID() {
            let agents = [agent("a-9", last: 7), agent("a-3", last: 7), agent("a-5", last: 7)]
            #expect(assigned([order("o-1")], agents) == ["o-1": "a-3"])
            let fresh = [agent("b", last: nil), agent("a", last: nil)]
            #expect(assigned([order("o-1")], fresh) == ["o-1": "a"])
        }

        @Test func ordersAreServedFirstComeFirstServed() {
            // o-2 was placed first, so it gets the most rested agent; o-1 the next; o-3 waits.
            let orders = [order("o-1", at: 2_000), order("o-2", at: 1_000), order("o-3", at: 3_000)]
            let agents = [agent("a-1", last: 500), agent("a-2", last: 100)]
            #expect(assigned(orders, agents) == ["o-2": "a-2", "o-1": "a-1", "o-3": "-"])
            let decisions = policy.assign(orders: orders, agents: agents, now: 10_000_000)
            #expect(decisions.map(\.order) == ["o-2", "o-1", "o-3"])
            #expect(decisions.allSatisfy { $0.policy == "least-recent" })
        }

        @Test func capacityIsRespectedAndStacksOnlyTheSameRestaurant() {
            let orders = [
                order("o-1", at: 1, restaurant: "r-1"), order("o-2", at: 2, restaurant: "r-2"),
                order("o-3", at: 3, restaurant: "r-1"),
            ]
            // a-1 is the most rested and may carry two: it takes o-1, skips o-2 (other restaurant), stacks o-3.
            let agents = [agent("a-1", last: nil, capacity: 2), agent("a-2", last: 50)]
            #expect(assigned(orders, agents) == ["o-1": "a-1", "o-2": "a-2", "o-3": "a-1"])
            // Full agents get nothing; an agent carrying from r-2 only takes r-2's orders.
            let busy = [
                agent("a-1", last: nil, load: 1, capacity: 1, from: "r-1"),
                agent("a-2", last: 10, load: 1, capacity: 2, from: "r-2"),
            ]
            #expect(assigned(orders, busy) == ["o-1": "-", "o-2": "a-2", "o-3": "-"])
        }

        @Test func zonesAndExclusionsAreRespected() {
            let agents = [
                agent("a-1", last: nil, zones: ["north"]), agent("a-2", last: 10),
                agent("a-3", last: 5, zones: ["south"]),
            ]
            #expect(assigned([order("o-1", zone: "south")], agents) == ["o-1": "a-3"])
            #expect(assigned([order("o-1", zone: "north")], agents) == ["o-1": "a-1"])
            #expect(assigned([order("o-1", zone: "east")], agents) == ["o-1": "a-2"])
            #expect(assigned([order("o-1", zone: nil)], agents) == ["o-1": "a-1"])
            #expect(assigned([order("o-1", zone: "north", excluded: ["a-1"])], agents) == ["o-1": "a-2"])
            #expect(assigned([order("o-1", zone: "north", excluded: ["a-1", "a-2"])], agents) == ["o-1": "-"])
        }

        func agent(_ id: String, last: Int64?, shift: Int64?, lapse: Int64? = nil) -> DispatchAgent {
            DispatchAgent(
                id: id, position: here, lastDeliveryAt: last, shiftStartedAt: shift, lastLapseAt: lapse)
        }

        @Test func aShiftStartAfterTheLastDeliveryCountsFromTheShiftStart() {
            // a-1 delivered at 1,000 and came back from a break at 9,000; a-2 delivered at 5,000 and stayed on.
            let agents = [agent("a-1", last: 1_000, shift: 9_000), agent("a-2", last: 5_000, shift: 500)]
            #expect(assigned([order("o-1")], agents) == ["o-1": "a-2"])
            #expect(agents[0].waitingSince == 9_000 && agents[1].waitingSince == 5_000)
        }

        @Test func neverDeliveredAgentsAreOrderedByShiftStartNotID() {
            let agents = [agent("a-1", last: nil, shift: 7_000), agent("a-2", last: nil, shift: 3_000)]
            #expect(assigned([order("o-1")], agents) == ["o-1": "a-2"])
            // A delivery older than someone's shift start goes first.
            let mixed = [agent("a-1", last: nil, shift: 7_000), agent("a-9", last: 6_000, shift: 100)]
            #expect(assigned([order("o-1")], mixed) == ["o-1": "a-9"])
        }

        @Test func aLapseSendsTheAgentToTheBack() {
            let agents = [
                agent("a-1", last: 1_000, shift: 500, lapse: 9_500), agent("a-2", last: 4_000, shift: 500),
                agent("a-3", last: nil, shift: 8_000),
            ]
            #expect(
                assigned([order("o-1"), order("o-2", at: 2_000), order("o-3", at: 3_000)], agents)
                    == ["o-1": "a-2", "o-2": "a-3", "o-3": "a-1"])
            let decision = policy.assign(orders: [order("o-1")], agents: agents, now: 10_000_000)[0]
            #expect(decision.candidates.map(\.cost) == [4, 8, 9.5])
        }

        @Test func candidatesExplainTheChoice() {
            let agents = [
                agent("a-1", last: 5_000), agent("a-2", last: 2_000), agent("a-3", last: 9_000), agent("a-4", last: 1),
            ]
            let decision = policy.assign(orders: [order("o-1")], agents: agents, now: 10_000_000)[0]
            #expect(decision.candidates.map(\.agent) == ["a-4", "a-2", "a-1"])
            #expect(decision.candidates.first?.agent == decision.agent)
        }
    }
}
