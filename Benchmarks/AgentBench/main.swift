import DabbaTestSupport
import Foundation

// `make bench`: figures and ratios against baselines measured in the same run.
// BENCH_FIXES (default 100000) and BENCH_STEADY_SECONDS (default 180) size the runs.
let environment = ProcessInfo.processInfo.environment
let fixes = Int(environment["BENCH_FIXES"] ?? "") ?? 100_000
let steadySeconds = Int(environment["BENCH_STEADY_SECONDS"] ?? "") ?? 180
let binDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path

let directory = try TestDirectory("dabba-bench")
defer { directory.remove() }

// BENCH_SALVAGE_ROWS (default 700000, 0 skips it): salvage of a damaged outbox of that many rows.
let salvageRows = Int(environment["BENCH_SALVAGE_ROWS"] ?? "") ?? 700_000
if salvageRows > 0 {
    say("Salvage: a damaged \(salvageRows)-row outbox (3 pages overwritten mid-file) → fresh outbox, before READY")
    SalvageBenchmark.report(try SalvageBenchmark.run(rows: salvageRows, directory: directory))
}
let broker = try await MosquittoBroker.started(directory: directory, extraConfig: ["max_queued_messages 1000000"])
defer { broker.stop() }

say("Backlog drain: \(fixes) buffered fixes → local mosquitto (QoS 1, PUBACKs)")
let drain = try await DrainBenchmark.run(fixes: fixes, broker: broker, directory: directory)
let rawRate = Double(drain.fixes) / drain.rawSeconds
say(
    String(
        format: "  raw libmosquitto publisher (1 fix/message, window 20): %.2f s, %.0f fixes/s PUBACKed",
        drain.rawSeconds, rawRate))
for run in drain.agent {
    let rate = Double(drain.fixes) / run.pubackSeconds
    say(
        String(
            format:
                "  dabba-agent, backlog-batch %3d (%6lld messages):     %.2f s, %.0f fixes/s PUBACKed, ratio %.2f× (target ≥ 0.6×)",
            run.batch, run.messages, run.pubackSeconds, rate, rate / rawRate))
    say(
        String(
            format: "      until the acks emptied the outbox:                  %.2f s, %.0f fixes/s",
            run.ackedSeconds, Double(drain.fixes) / run.ackedSeconds))
}

if steadySeconds > 0 {
    say("Steady state: dabba-agent at 1 Hz for \(steadySeconds) s (gpsfake real time)")
    let steady = try await SteadyBenchmark.run(
        seconds: steadySeconds, broker: broker, directory: directory, binDir: binDir)
    say("  fixes delivered: \(steady.fixes)")
    say(
        String(
            format: "  RSS max %.1f MB, at end %.1f MB (target ≤ 12 MB); mosquitto_sub reference %.1f MB, ratio %.2f×",
            Double(steady.rssMaxKB) / 1024, Double(steady.rssEndKB) / 1024, Double(steady.referenceRSSKB) / 1024,
            Double(steady.rssMaxKB) / Double(max(1, steady.referenceRSSKB))))
    say(
        String(
            format: "  CPU %.2f s over %d s (%.3f%% of one core), %.2f ms CPU per fix",
            steady.cpuSeconds, steady.seconds, 100 * steady.cpuSeconds / Double(steady.seconds),
            1000 * steady.cpuSeconds / Double(max(1, steady.fixes))))
}
