import DabbaCore
import DabbaProtocol
import DabbaSQLite
import Logging

/// Step 4 of a salvage: the readable rows of the damaged file, in seq order, into the temp file.
///
/// One long read walks the damaged table; when it hits an unreadable page it seeks again `seekStep` seqs further
/// on (rows already read are kept). Bounded: it stops after ``SalvageCopier/maxFailedSeeks`` consecutive failed
/// seeks, and never seeks past the highest seq the damaged file or the sidecar admits to. Rows are committed
/// ``SalvageCopier/rowsPerTransaction`` at a time; the temp file's highest seq is where a resume starts.
struct RowCopy {
    let temp: SQLiteConnection
    /// The highest seq read so far: the next read starts above it.
    var cursor: Int64
    /// Rows in the temp file.
    var copied = 0
    var rejected = 0
    var failedSeeks = 0

    /// Copies rows above `cursor`, reporting progress and logging it at notice level every few seconds.
    mutating func copy(
        from source: SQLiteConnection, upTo known: Int64?, started: Int64, progress: SalvageProgress.Handler?,
        logger: Logger, interruptAfterRows: Int?
    ) throws(SQLiteError) {
        let insert = try temp.prepare("INSERT OR IGNORE INTO outbox(seq, kind, time, payload) VALUES(?, ?, ?, ?)")
        let limit = known == nil ? SalvageCopier.maxFailedSeeks.unknown : SalvageCopier.maxFailedSeeks.known
        var consecutive = 0
        var inTransaction = 0
        var reported = (rows: copied, at: started)
        var logged = started
        try temp.execute("BEGIN IMMEDIATE")
        while consecutive < limit {
            let select: SQLiteStatement
            do {
                select = try source.prepare("SELECT seq, kind, time, payload FROM outbox WHERE seq > ? ORDER BY seq")
                try select.bind([.integer(cursor)])
            } catch {
                logger.warning("Salvage: the outbox table is unreadable", metadata: ["outbox.error": "\(error)"])
                break
            }
            var finished = false
            while true {
                let hasRow: Bool
                do {
                    hasRow = try select.step()
                } catch {
                    // An unreadable stretch: seek past it.
                    failedSeeks += 1
                    consecutive += 1
                    cursor += SalvageCopier.seekStep
                    break
                }
                guard hasRow else {
                    finished = true
                    break
                }
                consecutive = 0
                let seq = select.int64(0)
                guard seq > cursor else { continue }  // a damaged page can return rows out of order
                cursor = seq
                let kind = select.int64(1)
                let payload = select.bytes(3)
                guard Self.isWellFormed(payload, kind: kind) else {
                    rejected += 1
                    continue
                }
                try insert.run([.integer(seq), .integer(kind), .integer(select.int64(2)), .blob(payload)])
                copied += 1
                inTransaction += 1
                if inTransaction >= SalvageCopier.rowsPerTransaction {
                    try temp.execute("COMMIT")
                    if let interruptAfterRows, copied >= interruptAfterRows {
                        select.reset()
                        throw SQLiteError(extendedCode: SQLiteError.Code.ioError.rawValue, message: "test interrupt")
                    }
                    try temp.execute("BEGIN IMMEDIATE")
                    inTransaction = 0
                }
                guard copied % 1_024 == 0 else { continue }
                let now = monotonicMilliseconds()
                if copied - reported.rows >= SalvageProgress.rowInterval
                    || now - reported.at >= SalvageProgress.timeInterval
                {
                    reported = (copied, now)
                    progress?(SalvageProgress(rows: copied, seconds: Double(now - started) / 1000, finished: false))
                }
                if now - logged >= 5_000 {
                    logged = now
                    logger.notice(
                        "Outbox salvage progress",
                        metadata: [
                            "outbox.salvaged_rows": "\(copied)", "outbox.seconds": "\(Double(now - started) / 1000)",
                        ])
                }
            }
            select.reset()
            if finished { break }
            if let known, cursor >= known { break }
        }
        try temp.execute("COMMIT")
    }

    /// Whether a row read from a damaged file is a fix or an event as the agent writes them (garbage that happens
    /// to parse as a row is left out). Fixes go through the allocation-light `Fix.parse`.
    static func isWellFormed(_ payload: [UInt8], kind: Int64) -> Bool {
        switch kind {
        case Outbox.Kind.fix.rawValue:
            do {
                _ = try Fix.parse(payload)
                return true
            } catch { return false }
        case Outbox.Kind.event.rawValue:
            do {
                _ = try PayloadCoding.decode(AgentEvent.self, from: payload)
                return true
            } catch { return false }
        default: return false
        }
    }
}
