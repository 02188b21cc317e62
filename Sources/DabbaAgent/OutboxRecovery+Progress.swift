import DabbaCore

/// How far a salvage has got, reported while it runs (every ``SalvageProgress/rowInterval`` rows or
/// ``SalvageProgress/timeInterval``, whichever comes first) and once when it has finished.
public struct SalvageProgress: Sendable, Equatable {
    /// Rows copied into the fresh outbox so far.
    public var rows: Int
    /// Seconds since this salvage (or its resume) started.
    public var seconds: Double
    /// True for the last report, once the fresh outbox is in place.
    public var finished: Bool

    /// Receives progress reports on the thread that salvages (the caller of `Outbox.init`).
    public typealias Handler = @Sendable (SalvageProgress) -> Void

    /// Rows between reports at most.
    public static let rowInterval = 10_000
    /// Time between reports at most (milliseconds), while rows are being read.
    public static let timeInterval: Int64 = 2_000

    public init(rows: Int, seconds: Double, finished: Bool) {
        self.rows = rows
        self.seconds = seconds
        self.finished = finished
    }
}

extension SalvageProgress {
    /// How long each report extends systemd's start (or run) timeout: many report intervals, so a slow SD card
    /// does not get the daemon killed, yet a salvage that stops making progress is.
    public static let timeoutExtension: Duration = .seconds(30)

    /// A handler that keeps systemd patient while a salvage runs: `EXTEND_TIMEOUT_USEC` (before READY the start
    /// timeout, after it the run timeout), `WATCHDOG=1` when the unit has a watchdog (a salvage on the engine thread
    /// blocks the main loop's pings), and a `STATUS=` line. Nil when not started by systemd.
    public static func systemd(_ notifier: SystemdNotifier) -> Handler? {
        guard notifier.isEnabled else { return nil }
        let microseconds = timeoutExtension.components.seconds * 1_000_000
        let watchdog = notifier.watchdogInterval != nil
        return { progress in
            var assignments = ["EXTEND_TIMEOUT_USEC=\(microseconds)"]
            if watchdog { assignments.append("WATCHDOG=1") }
            assignments.append(
                progress.finished
                    ? "STATUS=outbox salvaged: \(progress.rows) rows"
                    : "STATUS=salvaging the damaged outbox: \(progress.rows) rows so far")
            notifier.send(assignments)
        }
    }
}
