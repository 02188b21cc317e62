import DabbaTestSupport
import Foundation

// `make bench`: figures and ratios against baselines measured in the same run.
// BENCH_FIXES (default 100000) and BENCH_STEADY_SECONDS (default 180) size the runs.
// BENCH_AGENT_ONLY=salvage|drain|steady|soak runs one of them (default: all four).
let environment = ProcessInfo.processInfo.environment
let only = environment["BENCH_AGENT_ONLY"] ?? ""
guard ["", "salvage", "drain", "steady", "soak"].contains(only) else {
    say("BENCH_AGENT_ONLY=\(only): expected salvage, drain, steady or soak")
    exit(2)
}
func selected(_ name: String) -> Bool { only.isEmpty || only == name }
let fixes = Int(environment["BENCH_FIXES"] ?? "") ?? 100_000
let steadySeconds = Int(environment["BENCH_STEADY_SECONDS"] ?? "") ?? 180
let binDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path

let directory = try TestDirectory("dabba-bench")
defer { directory.remove() }

// BENCH_SALVAGE_ROWS (default 700000, 0 skips it): salvage of a damaged outbox of that many rows.
let salvageRows = Int(environment["BENCH_SALVAGE_ROWS"] ?? "") ?? 700_000
if salvageRows > 0, selected("salvage") {
    say("Salvage: a damaged \(salvageRows)-row outbox (3 pages overwritten mid-file) → fresh outbox, before READY")
    SalvageBenchmark.report(try SalvageBenchmark.run(rows: salvageRows, directory: directory))
}
let broker = try await MosquittoBroker.started(directory: directory, extraConfig: ["max_queued_messages 1000000"])
defer { broker.stop() }

if selected("drain") {
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
        BenchReport.record(
            figure: "agent backlog drain vs raw publisher (backlog-batch \(run.batch))", target: "≥ 0.6×",
            value: String(format: "%.2f× (%.0f fixes/s)", rate / rawRate, rate), met: rate / rawRate >= 0.6,
            command: "make bench BENCH_ONLY=agent BENCH_AGENT_ONLY=drain")
    }
}

if steadySeconds > 0, selected("steady") {
    say("Steady state: dabba-agent at 1 Hz for \(steadySeconds) s (gpsfake real time)")
    SteadyBenchmark.report(
        try await SteadyBenchmark.run(seconds: steadySeconds, broker: broker, directory: directory, binDir: binDir))
}

// BENCH_SOAK_FIXES (default 604800, a week at 1 Hz; 0 skips it), BENCH_SOAK_OUTAGE (default 86400, a day),
// BENCH_SOAK_SYNC (the agent's outbox-sync, default normal: a commit then waits for no fsync, so the week replays in
// minutes instead of an hour; the file and WAL sizes it measures do not depend on it).
let soakFixes = Int(environment["BENCH_SOAK_FIXES"] ?? "") ?? 604_800
let soakOutage = Int(environment["BENCH_SOAK_OUTAGE"] ?? "") ?? 86_400
let soakSync = environment["BENCH_SOAK_SYNC"] ?? "normal"
if soakFixes > 0, selected("soak") {
    say(
        "Soak: \(soakFixes) fixes 1 s apart replayed fast, broker down for \(soakOutage) of them mid-way, acker on, "
            + "outbox-sync \(soakSync)")
    SoakBenchmark.report(
        try await SoakBenchmark.run(
            fixes: soakFixes, outage: soakOutage, sync: soakSync, directory: directory, binDir: binDir))
}
