import CoreMetrics
import DabbaCore

/// How long a dispatch round's steps took: `dabba_dispatch_round_seconds{phase}` on `/metrics` (`total` for the
/// whole round), and ``Dispatcher/lastRoundTimings`` for the benchmark, which prints them beside the round's
/// percentiles so a slow step shows without an instrumented build.
package struct DispatchRoundTimings: Sendable, Equatable {
    /// A step of the round.
    package enum Phase: String, Sendable, CaseIterable {
        /// Device events applied, stale offers closed, agents gone offline handled (with the agents read).
        case agents
        /// The waiting orders read.
        case queue
        /// The policy's inputs: available agents, restaurants, exclusions, cash exposures.
        case inputs
        /// The dispatch policy.
        case policy
        /// The offers checked, written and recorded with their decisions (their task messages encoded meanwhile).
        case offers
        /// Refusals recorded, task messages published, offers marked sent.
        case publish
        /// Unsent offers sent again, long waits alerted.
        case resends
    }

    package private(set) var phases: [Phase: Duration] = [:]
    package private(set) var total: Duration = .zero

    package init() {}

    package subscript(_ phase: Phase) -> Duration { phases[phase] ?? .zero }

    mutating func add(_ phase: Phase, _ duration: Duration) { phases[phase, default: .zero] += duration }

    mutating func finish(_ duration: Duration) { total = duration }
}

/// Times the steps of one round.
struct RoundStopwatch {
    private let clock = ContinuousClock()
    private let started: ContinuousClock.Instant
    private var mark: ContinuousClock.Instant
    private(set) var timings = DispatchRoundTimings()

    init() {
        started = clock.now
        mark = started
    }

    /// Ends `phase` now (it began when the previous one ended).
    mutating func lap(_ phase: DispatchRoundTimings.Phase) {
        let now = clock.now
        timings.add(phase, now - mark)
        mark = now
    }

    /// The round's timings, its total measured now.
    mutating func finish() -> DispatchRoundTimings {
        timings.finish(clock.now - started)
        return timings
    }
}

extension HubMetrics {
    /// Records a round's timings.
    func record(_ timings: DispatchRoundTimings) {
        for phase in DispatchRoundTimings.Phase.allCases {
            dispatchRound(phase.rawValue).recordSeconds(timings[phase].timeInterval)
        }
        dispatchRound("total").recordSeconds(timings.total.timeInterval)
    }
}
