import Testing

@testable import DabbaHub

/// The dispatch round's step timings (`dabba_dispatch_round_seconds`).
@Suite struct DispatchRoundTimingsTests {
    @Test func stepsAddUpWithinTheRoundsTotal() {
        var stopwatch = RoundStopwatch()
        stopwatch.lap(.agents)
        stopwatch.lap(.policy)
        stopwatch.lap(.policy)
        let timings = stopwatch.finish()
        let steps = DispatchRoundTimings.Phase.allCases.reduce(Duration.zero) { $0 + timings[$1] }
        #expect(steps <= timings.total)
        #expect(timings[.queue] == .zero && timings[.offers] == .zero)
        #expect(timings.phases.keys.sorted { $0.rawValue < $1.rawValue } == [.agents, .policy])
    }
}
