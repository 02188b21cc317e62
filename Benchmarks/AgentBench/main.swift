import DabbaTestSupport
import Foundation

// `make bench`: figures and ratios against baselines measured in the same run.
// BENCH_FIXES (default 100000) and BENCH_STEADY_SECONDS (default 180) size the runs.
// BENCH_AGENT_ONLY=salvage|drain|week|steady|soak runs one of them (default: all five); BENCH_DRAIN_BATCHES (100,1)
// the drain's backlog-batch values. BENCH_WEEK_FIXES (default
// 604800, a week at 1 Hz; 0 skips it) sizes the drain with the shipped defaults.
let environment = ProcessInfo.processInfo.environment
let only = environment["BENCH_AGENT_ONLY"] ?? ""
guard ["", "salvage", "drain", "week", "steady", "soak"].contains(only) else {
    say("BENCH_AGENT_ONLY=\(only): expected salvage, drain, week, steady or soak")
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
let weekFixes = Int(environment["BENCH_WEEK_FIXES"] ?? "") ?? 604_800
defer { broker.stop() }

if selected("drain") {
    say(
        "Backlog drain: \(fixes) buffered fixes → local mosquitto (QoS 1, PUBACKs), each run against a raw publisher of the same messages"
    )
    let drain = try await DrainBenchmark.run(fixes: fixes, broker: broker, directory: directory)
    let rawRate = Double(drain.fixes) / drain.rawSeconds
    let rawBatchedRate = Double(drain.fixes) / drain.rawBatchedSeconds
    let rawAckedRate = Double(drain.fixes) / drain.rawBatchedAckedSeconds
    say(
        String(
            format:
                "  raw libmosquitto, the agent's backlog messages (%d × 100 fixes), window 10, the stand-in hub acking them: %.2f s, %.0f fixes/s PUBACKed; every message acked in %.2f s, %.0f fixes/s",
            drain.rawBatchedMessages, drain.rawBatchedSeconds, rawBatchedRate, drain.rawBatchedAckedSeconds,
            rawAckedRate))
    let unconsumedRate = Double(drain.fixes) / drain.rawUnconsumedSeconds
    say(
        String(
            format:
                "  the same raw publisher with nobody subscribed (the broker PUBACKs and drops): %.2f s, %.0f fixes/s PUBACKed (diagnostic)",
            drain.rawUnconsumedSeconds, unconsumedRate))
    let clientRate = Double(drain.fixes) / drain.clientBatchedSeconds
    say(
        String(
            format:
                "  the agent's MQTT client alone (DabbaMQTT, no engine), the same messages, window 10: %.2f s, %.0f fixes/s PUBACKed, %.2f× raw (diagnostic)",
            drain.clientBatchedSeconds, clientRate, clientRate / rawBatchedRate))
    say(
        String(
            format:
                "  raw libmosquitto, 1 fix per message, window 20:                      %.2f s, %.0f fixes/s PUBACKed",
            drain.rawSeconds, rawRate))
    for run in drain.agent {
        let rate = Double(drain.fixes) / run.pubackSeconds
        let baseline = run.batch == 1 ? rawRate : rawBatchedRate
        let window = run.batch == 1 ? 20 : 10
        say(
            String(
                format:
                    "  dabba-agent, backlog-batch %3d, window %d (%6lld messages): %.2f s, %.0f fixes/s PUBACKed, %.2f× the raw publisher of the same messages%@",
                run.batch, window, run.messages, run.pubackSeconds, rate, rate / baseline,
                run.batch == 1
                    ? " (diagnostic)"
                    : String(format: " (target ≥ 0.8×; %.2f× the one nobody reads)", rate / unconsumedRate)))
        let ackedRate = Double(drain.fixes) / run.ackedSeconds
        say(
            String(
                format: "      until the acks emptied the outbox: %.2f s, %.0f fixes/s%@", run.ackedSeconds, ackedRate,
                run.batch == 1
                    ? ""
                    : String(format: ", %.2f× the raw publisher's until every ack arrived", ackedRate / rawAckedRate)))
        if run.batch != 1 {
            BenchReport.record(
                figure:
                    "agent backlog drain vs raw publisher of the same backlog messages (100 fixes, window 10, the same stand-in hub acking)",
                target: "≥ 0.8×",
                value: String(
                    format:
                        "%.2f× (%.0f vs %.0f fixes/s PUBACKed, %d fixes; unlimited rate); outbox empty vs every ack back %.2f× (%.0f vs %.0f fixes/s); %.2f× a raw publisher nobody reads (%.0f/s)",
                    rate / rawBatchedRate, rate, rawBatchedRate, drain.fixes, ackedRate / rawAckedRate, ackedRate,
                    rawAckedRate, rate / unconsumedRate, unconsumedRate),
                met: rate / rawBatchedRate >= 0.8, command: "make bench BENCH_ONLY=agent BENCH_AGENT_ONLY=drain")
        } else {
            BenchReport.record(
                figure: "agent drain at backlog-batch 1 vs raw publisher, 1 fix per message, window 20 (diagnostic)",
                target: "reported",
                value: String(format: "%.2f× (%.0f vs %.0f fixes/s)", rate / rawRate, rate, rawRate), met: nil,
                command: "make bench BENCH_ONLY=agent BENCH_AGENT_ONLY=drain")
        }
    }
}

if weekFixes > 0, selected("week") {
    let bound = Double(weekFixes) / 2000
    say(
        "Week offline: \(weekFixes) buffered fixes drained with the shipped defaults (backlog-rate 2000/s, "
            + "backlog-batch 100, backlog-window 10, max-unacked 20000); the rate alone allows \(String(format: "%.0f", bound)) s"
    )
    let run = try await DrainBenchmark.week(fixes: weekFixes, broker: broker, directory: directory)
    say(
        String(
            format:
                "  all PUBACKed in %.1f s, outbox empty (every fix acked) in %.1f s: %.2f× the time backlog-rate allows",
            run.pubackSeconds, run.ackedSeconds, run.ackedSeconds / bound))
    BenchReport.record(
        figure: "agent drain of a week offline (\(weekFixes) fixes), shipped defaults",
        target: "≤ 1.1× backlog-rate's bound",
        value: String(
            format: "%.1f s to an empty outbox (bound %.0f s at 2,000 fixes/s: %.2f×; %lld messages)", run.ackedSeconds,
            bound, run.ackedSeconds / bound, run.messages),
        met: run.ackedSeconds <= bound * 1.1, command: "make bench BENCH_ONLY=agent BENCH_AGENT_ONLY=week")
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
