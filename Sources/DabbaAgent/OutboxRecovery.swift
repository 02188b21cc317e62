#if canImport(Glibc)
    import Glibc
#endif
import DabbaCore
import DabbaSQLite
import Logging

/// What opening a damaged outbox did: where the damaged file went and how much was saved from it.
///
/// ## How a salvage survives a crash
///
/// Two names share one UTC stamp: `<outbox>.corrupt-<stamp>` is the damaged file moved aside (with its `-wal` and
/// `-shm`), `<outbox>.salvage-<stamp>` the file being built from it. The temp file's name says where its source is,
/// so the directory alone tells the next start what was going on. The steps:
///
/// 1. Create the temp file empty (`O_EXCL`) and fsync it and the directory: from now on a salvage is under way.
/// 2. Rename the outbox, then its `-wal`, then its `-shm` to the corrupt name; fsync the directory.
/// 3. In the temp file (`synchronous=OFF`, rollback journal), in one transaction: the schema, the old `meta`, and
///    `last_seq` = max(old `last_seq`, the damaged file's highest seq, the seq sidecar's floor), plus the margin
///    when neither the old `last_seq` nor the sidecar is known; then the `tasks` rows.
/// 4. Copy the readable rows above the temp file's highest seq, 50,000 rows per transaction.
/// 5. Raise `last_seq` to the highest copied seq if needed, close the temp file and fsync it (its only fsync).
/// 6. Rename the temp file to the outbox path and fsync the directory. Nothing is left to clean up.
///
/// Every open looks for a `<outbox>.salvage-*` file before it opens the outbox, and a crash at each point recovers:
/// - **During step 1, or after it but before step 2 moved the outbox** (temp present, outbox present): the temp holds
///   nothing; it is deleted and the outbox opened as usual, which finds it damaged again and starts afresh.
/// - **During step 2** (outbox gone, but its `-wal`/`-shm` not yet moved): the resume moves them first, so the WAL's
///   committed rows are read with the damaged file.
/// - **During steps 3–5** (outbox absent, temp present, possibly with a hot `-journal`): resumed. SQLite rolls back
///   the unfinished transaction; steps 3–6 run again, idempotently: meta and tasks are rewritten (`last_seq` only
///   ever raised), rows are copied from above the highest seq the temp file holds. A temp file that does not pass
///   `quick_check` (power lost with `synchronous=OFF`) is deleted and the copy restarts from the damaged file, which
///   is only ever opened read-only.
/// - **After step 5, before the rename** (a complete temp): the resume finds nothing new to copy and renames it.
/// - **After the rename, before the directory fsync** (power loss may undo the rename): as the previous case, or
///   the outbox is in place and opens as usual.
///
/// The outbox path only ever receives a complete file, so a partial salvage is never taken for a healthy outbox.
public struct OutboxRecovery {
    /// The damaged file's new name (`<outbox>.corrupt-<UTC time>`).
    public var movedTo: String
    public var reason: String
    /// Rows in the fresh outbox (after a resume, those copied before the interruption too).
    public var salvagedRows: Int
    /// Tasks copied from the damaged file.
    public var salvagedTasks: Int
    /// True when an interrupted salvage was found at open and finished.
    public var resumed: Bool
    /// True when neither `meta.last_seq` nor the seq sidecar could be read and seqs were moved past a safety margin.
    public var seqMargin: Bool
    let connection: SQLiteConnection

    /// Seqs skipped when the old `last_seq` is unreadable, so seqs sent from lost rows are never reused.
    static let unknownSeqMargin: Int64 = 10_000

    /// Opens the outbox at `path` with `open`: first finishing a salvage a crash interrupted, else opening the file
    /// as it is, else (when it is damaged) moving it aside and salvaging it. `recovery` is nil for a healthy open.
    /// `interruptAfterRows` is a test hook: the salvage throws once that many rows are committed, as if killed.
    static func openOrSalvage(
        path: String, seqFloor: Int64?, progress: SalvageProgress.Handler?, interruptAfterRows: Int? = nil,
        logger: Logger, open: () throws(SQLiteError) -> SQLiteConnection
    ) throws(SQLiteError) -> (connection: SQLiteConnection, recovery: OutboxRecovery?) {
        let files = SalvageFiles(outbox: path)
        if let pending = try files.pendingStamp() {
            if access(path, F_OK) == 0 {
                // Crashed before the outbox was moved aside: the temp file holds nothing yet.
                logger.warning(
                    "Removing an unstarted outbox salvage", metadata: ["outbox.salvage": "\(files.temp(pending))"])
                try files.removeTemp(stamp: pending)
            } else {
                let report = try salvage(
                    files: files, stamp: pending, reason: "resuming an interrupted salvage", resumed: true,
                    seqFloor: seqFloor, progress: progress, interruptAfterRows: interruptAfterRows, logger: logger,
                    open: open)
                return (report.connection, report)
            }
        }
        do {
            return (try open(), nil)
        } catch let error where error.isCorruption {
            let stamp = try files.newStamp()
            try files.createTemp(stamp: stamp)
            try files.moveAside(stamp: stamp)
            logger.error(
                "Outbox damaged: moved aside, salvaging readable rows",
                metadata: [
                    "outbox.path": "\(path)", "outbox.moved_to": "\(files.aside(stamp))",
                    "outbox.reason": "\(error.message)",
                ])
            let report = try salvage(
                files: files, stamp: stamp, reason: error.message, resumed: false, seqFloor: seqFloor,
                progress: progress, interruptAfterRows: interruptAfterRows, logger: logger, open: open)
            return (report.connection, report)
        }
    }

    /// Steps 3–6 (also the resume): fills the temp file from the damaged one, renames it into place, opens it.
    private static func salvage(
        files: SalvageFiles, stamp: String, reason: String, resumed: Bool, seqFloor: Int64?,
        progress: SalvageProgress.Handler?, interruptAfterRows: Int?, logger: Logger,
        open: () throws(SQLiteError) -> SQLiteConnection
    ) throws(SQLiteError) -> OutboxRecovery {
        if resumed {
            try files.finishMovingAside(stamp: stamp)
            logger.notice(
                "Resuming an interrupted outbox salvage",
                metadata: ["outbox.salvage": "\(files.temp(stamp))", "outbox.moved_to": "\(files.aside(stamp))"])
        }
        let started = monotonicMilliseconds()
        progress?(SalvageProgress(rows: 0, seconds: 0, finished: false))  // the time quick_check took is over
        var copier = try SalvageCopier(source: files.aside(stamp), files: files, stamp: stamp, logger: logger)
        copier.interruptAfterRows = interruptAfterRows
        let result = try copier.run(seqFloor: seqFloor, progress: progress)
        try files.syncFile(files.temp(stamp))
        try files.rename(files.temp(stamp), to: files.outbox)
        try files.syncDirectory()
        let seconds = Double(monotonicMilliseconds() - started) / 1000
        progress?(SalvageProgress(rows: result.rows, seconds: seconds, finished: true))
        logger.notice(
            "Outbox salvage finished",
            metadata: [
                "outbox.salvaged_rows": "\(result.rows)", "outbox.salvaged_tasks": "\(result.tasks)",
                "outbox.rejected_rows": "\(result.rejected)", "outbox.unreadable_seeks": "\(result.failedSeeks)",
                "outbox.last_seq": "\(result.lastSeq)", "outbox.seconds": "\(seconds)",
                "outbox.resumed": "\(resumed)",
            ])
        return OutboxRecovery(
            movedTo: files.aside(stamp), reason: reason, salvagedRows: result.rows, salvagedTasks: result.tasks,
            resumed: resumed, seqMargin: result.margin, connection: try open())
    }
}
