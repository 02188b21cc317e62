import Benchmark
import DabbaCore
import DabbaDispatch
import DispatchInstances

// The dispatch policies on the instances `dabba-bench-dispatch` uses (seeded, so every run times the same ones):
// one batch round of 1,000 orders × 5,000 agents against the nearest-agent policy on the same round, and one order
// over 10,000 agents with least-recent. Time and allocations per round.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .peakMemoryResident], timeUnits: .milliseconds,
        maxDuration: .seconds(10), maxIterations: 20)
    let settings = DispatchSettings()

    var random = SplitMix64(seed: 20_261_207)
    let round = DispatchInstance.random(orders: 1_000, agents: 5_000, using: &random)
    let batch = BatchPolicy(settings: settings)
    Benchmark("batch: 1,000 orders × 5,000 agents, one round") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(batch.assign(orders: round.orders, agents: round.agents, now: round.now))
        }
    }
    if let nearest = DispatchPolicies.make("nearest", settings: settings) {
        Benchmark("nearest: the same round (baseline)") { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(nearest.assign(orders: round.orders, agents: round.agents, now: round.now))
            }
        }
    }

    let fleet = DispatchInstance.random(orders: 1, agents: 10_000, using: &random)
    if let leastRecent = DispatchPolicies.make("least-recent", settings: settings) {
        Benchmark(
            "least-recent: one order over 10,000 agents",
            configuration: .init(
                metrics: [.wallClock, .mallocCountTotal], timeUnits: .microseconds, maxDuration: .seconds(5),
                maxIterations: 5_000)
        ) { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(leastRecent.assign(orders: fleet.orders, agents: fleet.agents, now: fleet.now))
            }
        }
    }
}
