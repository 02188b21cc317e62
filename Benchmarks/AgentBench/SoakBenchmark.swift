import DabbaAgent
import DabbaCore
import DabbaProtocol
import DabbaSim
import DabbaTestSupport
import Foundation
import Logging
import Synchronization

/// A simulated week at 1 Hz through the real release `dabba-agent` (issue 12, item 1): a scripted gpsd replays
/// `fixes` TPVs with distinct times 1 s apart as fast as the agent records them, a real mosquitto carries them to
/// the in-process `Acker`, and for `outage` fixes in the middle (a day's worth) the broker is down, so the outbox
/// holds a day of rows and then drains while recording goes on. Checks that the outbox's file + WAL stay within
/// 2× the payload of the rows they hold and that the agent's RSS stays flat.
///
/// Pacing: the script waits (every `paceStep` lines) until the agent has recorded all but `maxLag` of the lines
/// sent, so the reader's event buffer (4,096 events) never overflows whatever the disk's speed; the end check
/// (every fix recorded) would show it if it did.
enum SoakBenchmark {
    /// The WAL's bound, as the WAL test asserts it: `walSizeLimit` + the engine's 1 MiB slack + 256 KiB.
    static let walBound = Int64(Outbox.walSizeLimit) + (1 << 20) + 256 * 1024
    struct Sample {
        var recorded: Int64
        var rssKB: Int
        /// RssAnon and RssFile at that moment (what RSS is made of: heap and stacks vs pages of the binary).
        var anonKB = 0
        var fileKB = 0

        init(recorded: Int64, memory: ProcFigures.Memory) {
            self.recorded = recorded
            rssKB = memory.rssKB
            anonKB = memory.anonKB
            fileKB = memory.fileKB
        }
    }

    struct Result {
        var fixes: Int
        var outage: Int
        var recorded: Int64
        var wallSeconds: Double
        var peakRows: Int
        /// File + WAL bytes when the most rows were stored (sampled while the agent runs).
        var diskAtPeakRows: Int64
        /// At the end of the outage: outbox rows, their payload bytes, file and WAL bytes.
        var peak: Storage
        var end: Storage
        var walMax: Int64
        var checkpointFailures: Int64
        var start: Sample
        var middle: Sample
        var endSample: Sample
        var rssMaxKB: Int
        /// RSS the moment the outbox had drained (before ``restAfterDrain``).
        var drainedRSSKB: Int
        var hwmKB: Int
        var cpuSeconds: Double
    }

    /// What the outbox holds and what it takes on disk.
    struct Storage {
        var rows: Int
        var payloadBytes: Int64
        var fileBytes: Int64
        var walBytes: Int64
        var diskBytes: Int64 { fileBytes + walBytes }
    }

    static let paceStep = 200
    static let maxLag = 2_048
    /// Disk (file + WAL) against the payload of the rows the outbox holds.
    static let storageTarget = 2.0
    /// RSS is flat when the end is within this fraction, or this many kB, of the post-start steady value.
    static let flatFraction = 0.10
    static let flatKB = 1_000_000 / 1024
    /// The end sample is taken this long after the outbox has drained (the agent back at 1 Hz rest).
    static let restAfterDrain = Duration.seconds(65)

    /// What the script and the benchmark's loop share.
    final class Pace: Sendable {
        /// Fixes the agent has recorded (its `fixesRecorded` counter), updated by the benchmark's loop.
        let recorded = Atomic<Int>(0)
        /// Lines the scripted gpsd has sent so far (updated at each wait step).
        let sent = Atomic<Int>(0)
        let brokerUp = Atomic<Bool>(true)
    }

    static func run(fixes: Int, outage: Int, sync: String, directory: TestDirectory, binDir: String) async throws
        -> Result
    {
        let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let broker = try await MosquittoBroker.started(
            directory: directory, extraConfig: ["max_queued_messages 1000000"])
        defer { broker.stop() }
        let acker = Acker(host: "127.0.0.1", port: broker.port, clientID: "soak-acker", logger: logger)
        let ackerTask = Task { try? await acker.run() }
        defer { acker.shutdown() }
        _ = await eventually { acker.isSubscribed }

        let pace = Pace()
        let outageStart = (fixes - outage) / 2
        let outageEnd = outageStart + outage
        let gpsd = try FakeGpsd(steps: script(fixes: fixes, outageStart: outageStart, outageEnd: outageEnd, pace: pace))
        defer { gpsd.stop() }
        let outbox = directory.path("soak.db")
        let socket = directory.path("soak.sock")
        let agent = try ManagedProcess(
            name: "soak-agent", executable: binDir + "/dabba-agent",
            arguments: [
                "run", "--config", "/dev/null", "--agent-id", "soak-1", "--mqtt-port", "\(broker.port)",
                "--gpsd-port", "\(gpsd.port)", "--outbox", outbox, "--control-socket", socket, "--outbox-sync", sync,
            ], logDirectory: directory.url)
        defer { agent.stop() }

        let clock = ContinuousClock()
        let began = clock.now
        let cpuAtStart = ProcFigures.cpuSeconds(pid: agent.pid)
        var walMax: Int64 = 0
        var peakRows = 0
        var diskAtPeakRows: Int64 = 0
        var rssMax = 0
        var start: Sample?
        var middle: Sample?
        var peak: Storage?
        var lastReport = began
        var walReports = 0
        var status: AgentStatus?
        while true {
            try await Task.sleep(for: .milliseconds(50))
            guard agent.isRunning else { throw BenchError("the agent exited: \(agent.output().suffix(2000))") }
            // The WAL's size is sampled even when the busy agent is slow to answer its control socket.
            walMax = max(walMax, fileSize(outbox + "-wal"))
            guard let now = try? ControlClient.send(ControlRequest(cmd: "status"), path: socket).status else {
                continue
            }
            status = now
            let recorded = now.counters.fixesRecorded
            pace.recorded.store(Int(recorded), ordering: .releasing)
            let memory = ProcFigures.status(pid: agent.pid)
            let rss = memory.rssKB
            rssMax = max(rssMax, rss)
            if now.outboxDepth > peakRows {
                peakRows = now.outboxDepth
                diskAtPeakRows = fileSize(outbox) + fileSize(outbox + "-wal")
            }
            let walNow = max(now.walBytes, fileSize(outbox + "-wal"))
            walMax = max(walMax, walNow)
            // Where the WAL passes its bound is worth seeing (the first few times).
            if walNow > walBound, walReports < 10 {
                walReports += 1
                say(
                    "  soak: WAL \(walNow) B at fix \(recorded) (\(now.outboxDepth) rows, broker "
                        + "\(pace.brokerUp.load(ordering: .relaxed) ? "up" : "down"), checkpoint failures "
                        + "\(now.counters.checkpointFailures))")
            }
            if start == nil, recorded >= Int64(fixes / 20) { start = Sample(recorded: recorded, memory: memory) }
            let sent = pace.sent.load(ordering: .acquiring)
            // The script holds at the outage's start and end until the agent has recorded every earlier fix.
            if pace.brokerUp.load(ordering: .relaxed), sent == outageStart, recorded >= Int64(outageStart - 1) {
                broker.stop()
                pace.brokerUp.store(false, ordering: .releasing)
                say("  soak: broker down at fix \(recorded) (\(now.outboxDepth) rows stored)")
            } else if !pace.brokerUp.load(ordering: .relaxed), sent == outageEnd, recorded >= Int64(outageEnd - 1) {
                let walBefore = fileSize(outbox + "-wal")
                peak = try storage(outbox)
                walMax = max(walMax, peak?.walBytes ?? 0)
                say("  soak: WAL \(walBefore) B before reading the outbox, \(peak?.walBytes ?? 0) B after")
                middle = Sample(recorded: recorded, memory: memory)
                try await broker.start()
                pace.brokerUp.store(true, ordering: .releasing)
                say("  soak: broker up again at fix \(recorded) (\(peak?.rows ?? 0) rows stored)")
            }
            if clock.now - lastReport >= .seconds(60) {
                lastReport = clock.now
                say(
                    "  soak: \(Int((clock.now - began).timeInterval)) s, \(recorded) fixes recorded, "
                        + "\(now.outboxDepth) rows, WAL \(now.walBytes) B, RSS \(rss) kB")
            }
            if sent == fixes, recorded >= Int64(fixes), now.outboxDepth == 0 { break }
            if clock.now - began > .seconds(3 * 3600) { throw BenchError("soak did not finish: \(now)") }
        }
        let wall = (clock.now - began).timeInterval
        let cpu = ProcFigures.cpuSeconds(pid: agent.pid) - cpuAtStart
        let drainedRSS = ProcFigures.status(pid: agent.pid).rssKB
        // At rest again: the agent hands the heap's free pages back once a minute (`AgentService.heapTrimInterval`).
        try await Task.sleep(for: restAfterDrain)
        let figures = ProcFigures.status(pid: agent.pid)
        let end = try storage(outbox)
        walMax = max(walMax, end.walBytes)
        acker.shutdown()
        await ackerTask.value
        guard let status, let start, let middle, let peak else { throw BenchError("soak ended without its samples") }
        return Result(
            fixes: fixes, outage: outage, recorded: status.counters.fixesRecorded, wallSeconds: wall,
            peakRows: peakRows, diskAtPeakRows: diskAtPeakRows, peak: peak, end: end, walMax: walMax,
            checkpointFailures: status.counters.checkpointFailures, start: start, middle: middle,
            endSample: Sample(recorded: status.counters.fixesRecorded, memory: figures), rssMaxKB: rssMax,
            drainedRSSKB: drainedRSS, hwmKB: figures.hwmKB, cpuSeconds: cpu)
    }

    /// The gpsd script: `fixes` TPVs a second apart ending an hour ago, with wait steps for pacing and the outage.
    static func script(fixes: Int, outageStart: Int, outageEnd: Int, pace: Pace) -> [FakeGpsd.Step] {
        let t0 = (wallClockMilliseconds() / 1000 - Int64(fixes) - 3600) * 1000
        var steps: [FakeGpsd.Step] = []
        steps.reserveCapacity(fixes + fixes / paceStep + 4)
        for i in 0..<fixes {
            if i == outageStart {
                steps.append(.wait { mark(i, pace) && !pace.brokerUp.load(ordering: .acquiring) })
            } else if i == outageEnd {
                steps.append(.wait { mark(i, pace) && pace.brokerUp.load(ordering: .acquiring) })
            } else if i % paceStep == 0 {
                steps.append(.wait { mark(i, pace) && pace.recorded.load(ordering: .acquiring) >= i - maxLag })
            }
            let angle = Double(i % 3600) / 3600 * 2 * Double.pi
            steps.append(
                .line(
                    FakeGpsd.tpv(
                        time: t0 + Int64(i) * 1000, latitude: 22.3149 + 0.01 * sin(angle),
                        longitude: 87.3105 + 0.01 * cos(angle), altitude: 31.5, speed: 7.25,
                        track: Double(i % 360), eph: 3.2)))
        }
        steps.append(.wait { mark(fixes, pace) })
        return steps
    }

    /// Records that the script reached line `i`; always true.
    static func mark(_ i: Int, _ pace: Pace) -> Bool {
        pace.sent.store(i, ordering: .releasing)
        return true
    }

    /// Rows and payload bytes (read-only `sqlite3`, while the script holds and the agent is idle), file and WAL.
    static func storage(_ path: String) throws -> Storage {
        let (code, out) = try runToCompletion(
            findExecutable("sqlite3") ?? "/usr/bin/sqlite3",
            ["-readonly", path, "SELECT count(*), coalesce(sum(length(payload)), 0) FROM outbox"])
        let fields = out.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: "|")
        guard code == 0, fields.count == 2, let rows = Int(fields[0]), let bytes = Int64(fields[1]) else {
            throw BenchError("sqlite3 could not read the outbox: \(out)")
        }
        return Storage(rows: rows, payloadBytes: bytes, fileBytes: fileSize(path), walBytes: fileSize(path + "-wal"))
    }

    static func fileSize(_ path: String) -> Int64 {
        var info = stat()
        return stat(path, &info) == 0 ? Int64(info.st_size) : 0
    }

    static func report(_ r: Result) {
        let mb = { (bytes: Int64) in String(format: "%.2f MB", Double(bytes) / 1e6) }
        let rssMB = { (kB: Int) in String(format: "%.2f MB", Double(kB) * 1024 / 1e6) }
        let verdict = { (ok: Bool) in ok ? "met" : "NOT MET" }
        say(
            "  fixes: \(r.recorded) of \(r.fixes) recorded (every one: \(verdict(r.recorded == Int64(r.fixes)))), "
                + "outage \(r.outage) fixes, wall \(String(format: "%.0f", r.wallSeconds)) s "
                + "(\(String(format: "%.0f", Double(r.fixes) / r.wallSeconds)) fixes/s), "
                + "agent CPU \(String(format: "%.1f", r.cpuSeconds)) s")
        let peakRatio = Double(r.peak.diskBytes) / Double(max(1, r.peak.payloadBytes))
        say(
            "  at the outage's end: \(r.peak.rows) rows, payload \(mb(r.peak.payloadBytes)), "
                + "file \(mb(r.peak.fileBytes)) + WAL \(mb(r.peak.walBytes)) = "
                + String(format: "%.2f× the payload (target ≤ %.0f×): ", peakRatio, storageTarget)
                + verdict(peakRatio <= storageTarget))
        // The most rows were stored while the agent was busy (reconnecting and draining while it recorded), so their
        // payload is not read then: it is estimated from the mean payload per row at the outage's end.
        let perRow = Double(r.peak.payloadBytes) / Double(max(1, r.peak.rows))
        let estimated = perRow * Double(r.peakRows)
        let atPeakRatio = Double(r.diskAtPeakRows) / max(1, estimated)
        say(
            "  most rows: \(r.peakRows), file + WAL then \(mb(r.diskAtPeakRows)), payload ≈ \(mb(Int64(estimated))) "
                + "(\(String(format: "%.0f", perRow)) B per row) = "
                + String(format: "%.2f× (target ≤ %.0f×): ", atPeakRatio, storageTarget)
                + verdict(atPeakRatio <= storageTarget))
        // At the end the outbox is (nearly) empty: the file keeps the pages its most rows needed (SQLite does not
        // shrink it without a VACUUM), for reuse. Its bound is 2× the largest payload it had to hold.
        let largest = max(Double(r.peak.payloadBytes), estimated, Double(r.end.payloadBytes))
        let endRatio = Double(r.end.diskBytes) / max(1, largest)
        say(
            "  end: \(r.end.rows) rows, payload \(mb(r.end.payloadBytes)), file \(mb(r.end.fileBytes)) + WAL "
                + "\(mb(r.end.walBytes)) = " + String(format: "%.2f×", endRatio)
                + " the largest payload held, \(mb(Int64(largest))) "
                + String(format: "(target ≤ %.0f×, space reused, not grown): ", storageTarget)
                + verdict(endRatio <= storageTarget))
        say(
            "  WAL max \(mb(r.walMax)) (bound \(mb(walBound))): " + verdict(r.walMax <= walBound)
                + ", checkpoint failures \(r.checkpointFailures): \(verdict(r.checkpointFailures == 0))")
        let limitKB = max(Int(Double(r.start.rssKB) * flatFraction), flatKB)
        let flat = abs(r.endSample.rssKB - r.start.rssKB) <= limitKB
        say(
            "  RSS (MB = 10^6 bytes): start \(rssMB(r.start.rssKB)) (after \(r.start.recorded) fixes), middle "
                + "\(rssMB(r.middle.rssKB)) (outage's end), drained \(rssMB(r.drainedRSSKB)), end "
                + "\(rssMB(r.endSample.rssKB)) (\(Int(restAfterDrain.timeInterval)) s later, at rest); max "
                + "\(rssMB(r.rssMaxKB)), VmHWM \(rssMB(r.hwmKB))")
        say(
            "  RSS made of (anonymous + file pages): start \(rssMB(r.start.anonKB)) + \(rssMB(r.start.fileKB)), "
                + "end \(rssMB(r.endSample.anonKB)) + \(rssMB(r.endSample.fileKB))")
        say(
            "  RSS flat (end within max(10 %, 1 MB) of start): "
                + String(format: "%+.2f MB: ", Double(r.endSample.rssKB - r.start.rssKB) * 1024 / 1e6)
                + verdict(flat))
        let command = "make bench BENCH_ONLY=agent BENCH_AGENT_ONLY=soak"
        let worst = max(peakRatio, atPeakRatio, endRatio)
        BenchReport.record(
            figure: "soak, a week at 1 Hz with a day's outage: file + WAL vs payload",
            target: String(format: "≤ %.0f×", storageTarget),
            value: String(
                format: "%.2f× / %.2f× / %.2f× (outage's end / most rows / end)", peakRatio, atPeakRatio, endRatio),
            met: worst <= storageTarget && r.recorded == Int64(r.fixes), command: command)
        BenchReport.record(
            figure: "soak: WAL max", target: "≤ \(mb(walBound))",
            value: "\(mb(r.walMax)), \(r.checkpointFailures) checkpoint failures",
            met: r.walMax <= walBound && r.checkpointFailures == 0, command: command)
        BenchReport.record(
            figure: "soak: RSS flat (end vs start)", target: "within max(10 %, 1 MB)",
            value: String(format: "%+.2f MB", Double(r.endSample.rssKB - r.start.rssKB) * 1024 / 1e6), met: flat,
            command: command)
    }
}
