import DabbaTestSupport
import Foundation

// `make bench` (after dabba-bench-agent): the hub's figures next to baselines measured in the same run.
// Sizes: BENCH_HUB_AGENTS (200), BENCH_HUB_FIXES (600000), BENCH_HUB_CONNECTIONS (10 publisher connections),
// BENCH_LIVE_AGENTS (1000), BENCH_LIVE_SECONDS (30). BENCH_HUB_ONLY=ingest or live runs one of the two.
// BENCH_HUB_COMMIT_INTERVAL_MS / BENCH_HUB_COMMIT_BATCH override the hub's keys for diagnostic runs.
let environment = ProcessInfo.processInfo.environment
let only = environment["BENCH_HUB_ONLY"] ?? ""
guard ["", "ingest", "live"].contains(only) else {
    say("BENCH_HUB_ONLY=\(only): expected ingest or live")
    exit(2)
}

/// Runs the selected benchmarks in `directory`, printing each figure as it is known.
func runBenchmarks(in directory: TestDirectory, only: String, environment: [String: String]) async throws {
    if only != "live" {
        var overrides: [String: String] = [:]
        if let value = environment["BENCH_HUB_COMMIT_INTERVAL_MS"] { overrides["commit-interval-ms"] = value }
        if let value = environment["BENCH_HUB_COMMIT_BATCH"] { overrides["commit-batch"] = value }
        let c = IngestBenchmark.Configuration(
            agents: try environmentInt("BENCH_HUB_AGENTS", default: 200),
            fixes: try environmentInt("BENCH_HUB_FIXES", default: 600_000),
            connections: try environmentInt("BENCH_HUB_CONNECTIONS", default: 10), window: 100, hubOverrides: overrides)
        say("Hub ingest: \(c.fixes) fixes from \(c.agents) agents over \(c.connections) connections → mosquitto → hub")
        say("  (QoS 1, one fix per message on dabba/v1/agents/{id}/fix; raw subscriber on the same stream, same run)")
        let loadBefore = loadAverage()
        let r = try await IngestBenchmark.run(c, directory: directory)
        say("  load average (1 min) before / after: \(loadBefore) / \(loadAverage())")
        let rawRate = Double(r.fixes) / r.rawSeconds
        let hubRate = Double(r.fixes) / r.hubSeconds
        say(String(format: "  publishers: %d fixes PUBACKed in %.2f s (%.0f fixes/s offered)",
            r.fixes, r.publishSeconds, Double(r.fixes) / r.publishSeconds))
        say(String(format: "  raw libmosquitto subscriber: %.2f s first publish → last received, %.0f fixes/s", r.rawSeconds, rawRate))
        say("  hub ingest (\(r.hubSettings)): " + String(format: "%.2f s first publish → all committed, %.0f fixes/s committed",
            r.hubSeconds, hubRate))
        say(String(format: "  ratio hub / raw: %.2f× (target ≥ 0.8×)", hubRate / rawRate))
        say(String(format: "  commits: %d, mean %.0f fixes per commit, mean %.2f ms per commit; first commit %.3f s after start",
            r.commits, Double(r.fixes) / Double(max(1, r.commits)), 1000 * r.commitSecondsTotal / Double(max(1, r.commits)),
            r.hubFirstCommit))
        say("  store: \(r.rowsStored) position rows (expected \(r.fixes)); rejected \(r.rejected); raw duplicates \(r.rawRepeats)")
        guard r.rowsStored == r.fixes, r.rejected == 0 else {
            throw BenchError("ingest: the store holds \(r.rowsStored) rows, expected \(r.fixes) (rejected \(r.rejected))")
        }
    }

    if only != "ingest" {
        let c = LiveLatencyBenchmark.Configuration(
            agents: try environmentInt("BENCH_LIVE_AGENTS", default: 1000),
            seconds: try environmentInt("BENCH_LIVE_SECONDS", default: 30),
            connections: try environmentInt("BENCH_HUB_CONNECTIONS", default: 10))
        say("Live feed: \(c.agents) agents × 1 Hz for \(c.seconds) s → mosquitto → hub → WebSocket /v1/fleet/live")
        say("  (publish instant → frame receipt, one clock; raw MQTT subscriber on the same broker as the baseline)")
        let loadBefore = loadAverage()
        let r = try await LiveLatencyBenchmark.run(c, directory: directory)
        say("  load average (1 min) before / after: \(loadBefore) / \(loadAverage())")
        say("  fixes published: \(r.published) (scheduler at most \(String(format: "%.2f", r.publishLateMaxMS)) ms late)")
        say("  raw MQTT subscriber: \(r.raw.summary.line); missed \(r.raw.lost), duplicates \(r.raw.repeats)")
        say("  hub WebSocket feed:  \(r.hub.summary.line); lost \(r.hub.lost), merged by coalescing \(r.hub.coalesced)")
        say(String(format: "  hub p99 %.2f ms (target ≤ 20 ms); the hub adds %.2f ms at p50, %.2f ms at p99",
            r.hub.summary.p99, r.hub.summary.p50 - r.raw.summary.p50, r.hub.summary.p99 - r.raw.summary.p99))
        if r.otherFrames > 0 { say("  other frames (snapshot excluded): \(r.otherFrames)") }
    }
}

var failed = false
do {
    let directory = try TestDirectory("dabba-bench-hub")
    do { try await runBenchmarks(in: directory, only: only, environment: environment) } catch {
        say("dabba-bench-hub: \(error)")
        failed = true
    }
    directory.remove()
} catch {
    say("dabba-bench-hub: \(error)")
    failed = true
}
exit(failed ? 1 : 0)
