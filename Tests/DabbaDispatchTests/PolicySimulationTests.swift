import DabbaDispatch
import DabbaSim
import Testing

extension DispatchAlgorithmTests {
    /// `dabba-sim policies`: the same seed gives the same output.
    @Suite struct PolicySimulationTests {
        func report(seed: UInt64) -> String {
            var day = SimDayConfiguration()
            day.seed = seed
            day.agents = 30
            day.orders = 300
            day.restaurants = 15
            let outcomes = PolicyComparison.run(day, policies: DispatchPolicies.names, settings: DispatchSettings())
            return PolicyComparison.report(day, outcomes: outcomes)
        }

        @Test func sameSeedSameOutput() {
            let first = report(seed: 42)
            #expect(first == report(seed: 42))
            #expect(first != report(seed: 43))
            #expect(first.contains("batch") && first.contains("least-recent") && first.contains("nearest"))
        }

        @Test func everyOrderIsDeliveredOrTimedOut() {
            var day = SimDayConfiguration()
            day.agents = 20
            day.orders = 200
            for outcome in PolicyComparison.run(day, policies: DispatchPolicies.names, settings: DispatchSettings()) {
                #expect(outcome.delivered + outcome.timedOut == 200, "\(outcome.policy)")
                #expect(outcome.gini >= 0 && outcome.gini < 1)
                #expect(outcome.utilisation > 0 && outcome.utilisation <= 1)
            }
        }
    }
}
