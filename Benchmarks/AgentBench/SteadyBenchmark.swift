import DabbaProtocol
import DabbaSim
import DabbaTestSupport
import Foundation
import Logging

/// Steady state: the real `dabba-agent` binary at 1 Hz (gpsfake in real time) for a few minutes, sampling RSS and
/// CPU from /proc; `mosquitto_sub` (a small C MQTT client) on the same broker is the reference in the same run.
enum SteadyBenchmark {
    struct Result {
        var seconds: Int
        var fixes: Int64
        /// Largest RSS after ``startupSeconds`` (the steady figure) and during them.
        var rssMaxKB: Int
        var startupRSSMaxKB: Int
        var startupSeconds: Int
        /// /proc figures at the end: VmRSS, VmHWM (the start-up peak), anonymous and file-backed RSS, threads.
        var end: ProcFigures.Memory
        var cpuSeconds: Double
        var referenceRSSKB: Int
    }

    /// Targets (issue 12, item 8): steady RSS in decimal MB (10^6 bytes) and CPU in % of one core.
    static let rssTargetMB = 12.0
    static let cpuTargetPercent = 0.2
    /// Start-up, not counted as steady: the daemon hands start-up pages back at READY and once more 60 s later
    /// (`AgentService.startupSettle`), after its first connections' work; steady samples start after that.
    static let startupSeconds = 90

    static func run(seconds: Int, broker: MosquittoBroker, directory: TestDirectory, binDir: String) async throws
        -> Result
    {
        let route = Route.loop(count: seconds + 30, start: (Int64(Date().timeIntervalSince1970) - 60) * 1000)
        let gps = try GpsFake(route: route, directory: directory, cycle: 0.5, wait: 5, name: "steady-gpsfake")
        try await gps.start()
        defer { gps.stop() }
        let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let acker = Acker(host: "127.0.0.1", port: broker.port, clientID: "steady-acker", logger: logger)
        let ackerTask = Task { try? await acker.run() }
        defer { acker.shutdown() }
        let agent = try ManagedProcess(
            name: "steady-agent", executable: binDir + "/dabba-agent",
            arguments: [
                "run", "--config", "/dev/null", "--agent-id", "steady-1", "--mqtt-port", "\(broker.port)",
                "--gpsd-port", "\(gps.port)", "--outbox", directory.path("steady.db"), "--control-socket",
                directory.path("steady.sock"),
            ], logDirectory: directory.url)
        defer { agent.stop() }
        let reference = try ManagedProcess(
            name: "steady-mosquitto-sub", executable: findExecutable("mosquitto_sub") ?? "/usr/bin/mosquitto_sub",
            arguments: ["-p", "\(broker.port)", "-t", "dabba/v1/#", "-q", "1"], logDirectory: directory.url)
        defer { reference.stop() }

        var rssMax = 0
        var startupRSSMax = 0
        let startup = min(startupSeconds, seconds / 2)
        var rss = 0
        let startCPU = ProcFigures.cpuSeconds(pid: agent.pid)
        for second in 0..<seconds {
            try await Task.sleep(for: .seconds(1))
            rss = ProcFigures.status(pid: agent.pid).rssKB
            if second < startup {
                startupRSSMax = max(startupRSSMax, rss)
            } else {
                rssMax = max(rssMax, rss)
            }
            if second % 30 == 29 {
                say("  steady: \(second + 1)s, RSS \(rss) kB, fixes \(acker.seqs(of: "steady-1").count)")
            }
        }
        let cpu = ProcFigures.cpuSeconds(pid: agent.pid) - startCPU
        let end = ProcFigures.status(pid: agent.pid)
        let fixes = Int64(acker.seqs(of: "steady-1").count)
        let referenceRSS = ProcFigures.status(pid: reference.pid).rssKB
        acker.shutdown()
        await ackerTask.value
        return Result(
            seconds: seconds, fixes: fixes, rssMaxKB: rssMax, startupRSSMaxKB: startupRSSMax, startupSeconds: startup,
            end: end, cpuSeconds: cpu,
            referenceRSSKB: referenceRSS)
    }

    /// Prints each figure with its verdict, so a regression shows at once.
    static func report(_ r: Result) {
        let mb = ProcFigures.megabytes(kB:)
        let verdict = { (ok: Bool) in ok ? "met" : "NOT MET" }
        say("  fixes delivered: \(r.fixes)")
        say(
            String(
                format:
                    "  RSS steady max %.2f MB (%d kB) after the first %d s, at end %.2f MB (target ≤ %.0f MB; MB = 10^6 bytes, kB = 1024 bytes): ",
                mb(r.rssMaxKB), r.rssMaxKB, r.startupSeconds, mb(r.end.rssKB), rssTargetMB)
                + verdict(mb(r.rssMaxKB) <= rssTargetMB))
        say(
            String(
                format:
                    "      at end: anonymous %.2f MB, file-backed %.2f MB, PSS %.2f MB; %d threads; mosquitto_sub %.2f MB (%.2f×)",
                mb(r.end.anonKB), mb(r.end.fileKB), mb(r.end.pssKB), r.end.threads, mb(r.referenceRSSKB),
                Double(r.rssMaxKB) / Double(max(1, r.referenceRSSKB))))
        say(
            String(
                format:
                    "  start-up: peak (VmHWM) %.2f MB (%d kB), RSS max %.2f MB in the first %d s: reported, no target",
                mb(r.end.hwmKB), r.end.hwmKB, mb(r.startupRSSMaxKB), r.startupSeconds))
        let percent = 100 * r.cpuSeconds / Double(r.seconds)
        say(
            String(
                format: "  CPU %.2f s over %d s = %.3f %% of one core (target ≤ %.1f %%): ", r.cpuSeconds, r.seconds,
                percent, cpuTargetPercent) + verdict(percent <= cpuTargetPercent)
                + String(format: "; %.2f ms CPU per fix", 1000 * r.cpuSeconds / Double(max(1, r.fixes))))
        let command = "make bench BENCH_ONLY=agent BENCH_AGENT_ONLY=steady"
        BenchReport.record(
            figure: "agent steady RSS at 1 Hz", target: String(format: "≤ %.0f MB", rssTargetMB),
            value: String(format: "%.2f MB", mb(r.rssMaxKB)), met: mb(r.rssMaxKB) <= rssTargetMB, command: command)
        BenchReport.record(
            figure: "agent CPU at 1 Hz", target: String(format: "≤ %.1f %% of a core", cpuTargetPercent),
            value: String(format: "%.3f %%", percent), met: percent <= cpuTargetPercent, command: command)
        BenchReport.record(
            figure: "agent start-up peak (VmHWM)", target: "reported",
            value: String(format: "%.2f MB", mb(r.end.hwmKB)),
            met: nil, command: command)
    }
}
