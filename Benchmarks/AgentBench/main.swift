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
let broker = try await MosquittoBroker.started(directory: directory, extraConfig: ["max_queued_messages 1000000"])
defer { broker.stop() }

print("Backlog drain: \(fixes) buffered fixes → local mosquitto (QoS 1, PUBACKs)")
let drain = try await DrainBenchmark.run(fixes: fixes, broker: broker, directory: directory)
let rawRate = Double(drain.fixes) / drain.rawSeconds
let agentRate = Double(drain.fixes) / drain.agentPubackSeconds
let ackedRate = Double(drain.fixes) / drain.agentAckedSeconds
print(String(format: "  raw libmosquitto publisher (1 fix/message, window 20): %.2f s, %.0f fixes/s", drain.rawSeconds, rawRate))
print(String(format: "  dabba-agent backlog lane (%lld messages):               %.2f s, %.0f fixes/s PUBACKed", drain.agentMessages, drain.agentPubackSeconds, agentRate))
print(String(format: "  dabba-agent, until the hub's acks emptied the outbox:  %.2f s, %.0f fixes/s", drain.agentAckedSeconds, ackedRate))
print(String(format: "  ratio agent/raw: %.2f× (target ≥ 0.6×)", agentRate / rawRate))

if steadySeconds > 0 {
    print("Steady state: dabba-agent at 1 Hz for \(steadySeconds) s (gpsfake real time)")
    let steady = try await SteadyBenchmark.run(seconds: steadySeconds, broker: broker, directory: directory, binDir: binDir)
    print("  fixes delivered: \(steady.fixes)")
    print(String(format: "  RSS max %.1f MB, at end %.1f MB (target ≤ 12 MB); mosquitto_sub reference %.1f MB, ratio %.2f×",
        Double(steady.rssMaxKB) / 1024, Double(steady.rssEndKB) / 1024, Double(steady.referenceRSSKB) / 1024,
        Double(steady.rssMaxKB) / Double(max(1, steady.referenceRSSKB))))
    print(String(format: "  CPU %.2f s over %d s (%.3f%% of one core), %.2f ms CPU per fix",
        steady.cpuSeconds, steady.seconds, 100 * steady.cpuSeconds / Double(steady.seconds),
        1000 * steady.cpuSeconds / Double(max(1, steady.fixes))))
}
