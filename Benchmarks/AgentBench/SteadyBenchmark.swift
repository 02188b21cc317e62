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
        var rssMaxKB: Int
        var rssEndKB: Int
        var cpuSeconds: Double
        var referenceRSSKB: Int
    }

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
        var rss = 0
        let startCPU = cpuSeconds(pid: agent.pid)
        for second in 0..<seconds {
            try await Task.sleep(for: .seconds(1))
            rss = rssKB(pid: agent.pid)
            rssMax = max(rssMax, rss)
            if second % 30 == 29 {
                say("  steady: \(second + 1)s, RSS \(rss) kB, fixes \(acker.seqs(of: "steady-1").count)")
            }
        }
        let cpu = cpuSeconds(pid: agent.pid) - startCPU
        let fixes = Int64(acker.seqs(of: "steady-1").count)
        let referenceRSS = rssKB(pid: reference.pid)
        acker.shutdown()
        await ackerTask.value
        return Result(
            seconds: seconds, fixes: fixes, rssMaxKB: rssMax, rssEndKB: rss, cpuSeconds: cpu,
            referenceRSSKB: referenceRSS)
    }

    static func rssKB(pid: Int32) -> Int {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
        }
        return 0
    }

    static func cpuSeconds(pid: Int32) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return 0 }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // Fields after the command: state(0) … utime(11) stime(12), in clock ticks.
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return ((Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)) / ticks
    }
}
