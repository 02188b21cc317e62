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

    @Test func durationsBecomeNanosecondsSaturating() {
        #expect(Duration.milliseconds(1_500).nanoseconds == 1_500_000_000)
        #expect(Duration.nanoseconds(7).nanoseconds == 7)
        #expect(Duration.seconds(Int64.max).nanoseconds == .max)
        #expect(Duration.seconds(Int64.min).nanoseconds == .min)
    }
}
