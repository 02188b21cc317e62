import DabbaAgent
import DabbaTestSupport
import Foundation
import Logging

/// Salvage of a damaged outbox at the size bound (700,000 rows, `outbox-max-rows`' default): the whole
/// `Outbox(path:)` open as the daemon runs it before READY — `quick_check` finding the damage, the move aside, the
/// copy into the temp file, its fsync and rename, and the open of the fresh outbox. Target ≤ 30 s (systemd's
/// start timeout, which the salvage now extends, but a device should not take longer).
enum SalvageBenchmark {
    struct Result {
        var rows: Int
        var salvaged: Int
        var tasks: Int
        var fileBytes: Int
        var seconds: Double
        var lastSeqKept: Bool
    }

    static let target = 30.0

    static func run(rows: Int, directory: TestDirectory) throws -> Result {
        let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let path = directory.path("salvage.db")
        _ = try Outbox(path: path, logger: logger)
        let contents = try OutboxFixture.fill(path: path, rows: rows)
        let bytes = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? 0
        try OutboxFixture.damage(path: path, at: 0.5)

        let clock = ContinuousClock()
        let started = clock.now
        let outbox = try Outbox(path: path, logger: logger)
        let seconds = (clock.now - started).timeInterval
        guard let recovery = outbox.recovery else { throw BenchError("the damaged outbox was not salvaged") }
        return Result(
            rows: rows, salvaged: outbox.depth, tasks: recovery.salvagedTasks, fileBytes: bytes, seconds: seconds,
            lastSeqKept: outbox.lastSeq >= contents.lastSeq)
    }

    static func report(_ r: Result) {
        let verdict = r.seconds <= target && r.lastSeqKept ? "met" : "NOT MET"
        say(
            String(
                format:
                    "  %d of %d rows and %d tasks salvaged from a %.1f MB file in %.2f s, %.0f rows/s (target ≤ %.0f s): ",
                r.salvaged, r.rows, r.tasks, Double(r.fileBytes) / 1e6, r.seconds, Double(r.salvaged) / r.seconds,
                target) + verdict)
        if !r.lastSeqKept { say("  last_seq went below the damaged file's: NOT MET") }
        BenchReport.record(
            figure: "salvage of a damaged \(r.rows)-row outbox", target: "≤ \(Int(target)) s",
            value: String(format: "%.2f s (%d rows)", r.seconds, r.salvaged), met: r.seconds <= target && r.lastSeqKept,
            command: "make bench BENCH_ONLY=agent BENCH_AGENT_ONLY=salvage")
    }
}
