import DabbaCore
import DabbaProtocol
import DabbaSQLite
import Logging

/// Steps 3–5 of a salvage (see ``OutboxRecovery``): meta, `last_seq` and tasks first, then the readable rows in
/// large transactions, into a temp file written with `synchronous=OFF` (it is fsynced once, before its rename).
struct SalvageCopier {
    /// What the copy produced.
    struct Result {
        /// Rows in the temp file at the end.
        var rows: Int
        var tasks: Int
        /// Rows read but not well-formed (garbage that looked like a row), left out.
        var rejected: Int
        /// Seeks that hit an unreadable stretch and skipped past it.
        var failedSeeks: Int
        var lastSeq: Int64
        var margin: Bool
    }

    /// Rows per transaction in the temp file: a resume point every this many rows, few commits.
    static let rowsPerTransaction = 50_000
    /// Seqs skipped past an unreadable stretch per failed seek.
    static let seekStep: Int64 = 256
    /// Consecutive failed seeks tolerated when the highest seq is known (then also never past it), and when not.
    static let maxFailedSeeks = (known: 4_096, unknown: 200)
    /// The temp file's page cache (KiB): big enough that inserting in seq order never re-reads a page.
    static let tempCacheKiB = 8_192

    let source: SQLiteConnection?
    private(set) var temp: SQLiteConnection?
    let logger: Logger
    /// Test hook: throw after the transaction that reaches this many copied rows has committed (a simulated crash).
    var interruptAfterRows: Int?

    /// Opens the damaged file read-only (nil when it cannot be opened at all) and the temp file, which is emptied
    /// when it does not pass `quick_check` (the copy then starts again from the damaged file).
    init(source sourcePath: String, files: SalvageFiles, stamp: String, logger: Logger) throws(SQLiteError) {
        self.logger = logger
        do {
            source = try SQLiteConnection(path: sourcePath, readOnly: true)
        } catch {
            logger.error(
                "Cannot open the damaged outbox; nothing to salvage",
                metadata: ["outbox.moved_to": "\(sourcePath)", "outbox.error": "\(error)"])
            source = nil
        }
        let path = files.temp(stamp)
        do {
            temp = try Self.openTemp(path)
        } catch let error where error.isCorruption {
            logger.warning(
                "The interrupted salvage's file is damaged; salvaging again from the start",
                metadata: ["outbox.salvage": "\(path)", "outbox.error": "\(error.message)"])
            try files.resetTemp(stamp: stamp)
            temp = try Self.openTemp(path)
        }
    }

    private static func openTemp(_ path: String) throws(SQLiteError) -> SQLiteConnection {
        let db = try SQLiteConnection(path: path)
        try db.execute("PRAGMA journal_mode = DELETE")
        try db.execute("PRAGMA synchronous = OFF")
        try db.execute("PRAGMA cache_size = -\(tempCacheKiB)")
        let check = try db.integrityCheck()
        guard check == "ok" else {
            throw SQLiteError(extendedCode: SQLiteError.Code.corrupt.rawValue, message: "quick_check: \(check)")
        }
        try db.execute(Outbox.schema)
        return db
    }

    /// Runs steps 3–5 and closes the temp file (so it can be fsynced and renamed).
    mutating func run(seqFloor: Int64?, progress: SalvageProgress.Handler?) throws(SQLiteError) -> Result {
        guard let temp else { throw SQLiteError(extendedCode: SQLiteError.Code.misuse.rawValue, message: "closed") }
        let started = monotonicMilliseconds()
        // Step 3: what seqs the damaged file admits to, `last_seq` first, then the rest of meta and the tasks.
        let oldMeta = readSourceMeta()
        let oldLast = oldMeta["last_seq"]
        let sourceMax = readSource("the highest seq") { db throws(SQLiteError) in
            try db.scalarInt("SELECT max(seq) FROM outbox")
        }.flatMap { $0 }
        let known = [oldLast, sourceMax, seqFloor].compactMap { $0 }.max()
        let margin = oldLast == nil && seqFloor == nil
        let tempLast = try Outbox.readMeta(temp, "last_seq")
        let firstLast = max((known ?? 0) + (margin ? OutboxRecovery.unknownSeqMargin : 0), tempLast ?? 0)
        let tasks = try temp.transaction { () throws(SQLiteError) -> Int in
            try Self.writeMeta(temp, "last_seq", firstLast)
            for (key, value) in oldMeta where key != "last_seq" { try Self.writeMeta(temp, key, value) }
            return try copyTasks(into: temp)
        }
        // Step 4: the rows.
        var rows = RowCopy(temp: temp, cursor: try temp.scalarInt("SELECT max(seq) FROM outbox") ?? 0)
        rows.copied = Int(try temp.scalarInt("SELECT count(*) FROM outbox") ?? 0)
        if let source {
            try rows.copy(
                from: source, upTo: known, started: started, progress: progress, logger: logger,
                interruptAfterRows: interruptAfterRows)
        }
        // Step 5: `last_seq` covers every copied row; then close the file for its fsync and rename.
        let highest = try temp.scalarInt("SELECT max(seq) FROM outbox") ?? 0
        let lastSeq = max(firstLast, highest + (margin ? OutboxRecovery.unknownSeqMargin : 0))
        try Self.writeMeta(temp, "last_seq", lastSeq)
        let count = Int(try temp.scalarInt("SELECT count(*) FROM outbox") ?? 0)
        self.temp = nil
        return Result(
            rows: count, tasks: tasks, rejected: rows.rejected, failedSeeks: rows.failedSeeks, lastSeq: lastSeq,
            margin: margin)
    }

    static func writeMeta(_ db: SQLiteConnection, _ key: String, _ value: Int64) throws(SQLiteError) {
        try db.prepare(
            "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)"
        )
        .run([.text(key), .integer(value)])
    }

    /// A read of the damaged file; nil (logged) when it fails, since a salvage saves what it can.
    private func readSource<T>(_ what: String, _ body: (SQLiteConnection) throws(SQLiteError) -> T) -> T? {
        guard let source else { return nil }
        do {
            return try body(source)
        } catch {
            logger.warning(
                "Salvage: cannot read from the damaged outbox",
                metadata: ["outbox.reading": "\(what)", "outbox.error": "\(error)"])
            return nil
        }
    }

    /// The damaged file's `meta` (as much as is readable).
    private func readSourceMeta() -> [String: Int64] {
        var meta: [String: Int64] = [:]
        _ = readSource("meta") { db throws(SQLiteError) in
            let statement = try db.prepare("SELECT key, value FROM meta")
            defer { statement.reset() }
            while try statement.step() {
                if let key = statement.text(0), !statement.isNull(1) { meta[key] = statement.int64(1) }
            }
        }
        return meta
    }

    /// Copies the readable tasks: in key order up to a damaged page, then backwards from the end down to it.
    private func copyTasks(into temp: SQLiteConnection) throws(SQLiteError) -> Int {
        guard let source else { return 0 }
        let insert = try temp.prepare(
            "INSERT OR REPLACE INTO tasks(order_id, status, payload, updated) VALUES(?, ?, ?, ?)")
        var copied = 0
        var last: String?
        for sql in [
            "SELECT order_id, status, payload, updated FROM tasks WHERE order_id > ? ORDER BY order_id",
            "SELECT order_id, status, payload, updated FROM tasks WHERE order_id > ? ORDER BY order_id DESC",
        ] {
            let floor = last ?? ""
            var finished = false
            do {
                let select = try source.prepare(sql)
                defer { select.reset() }
                try select.bind([.text(floor)])
                while try select.step() {
                    guard let order = select.text(0), let status = select.text(1) else { continue }
                    if sql.hasSuffix("DESC") && order <= floor { break }
                    try insert.run([.text(order), .text(status), .blob(select.bytes(2)), .integer(select.int64(3))])
                    copied += 1
                    if !sql.hasSuffix("DESC") { last = order }
                }
                finished = true
            } catch let error where error.isCorruption {
                logger.warning("Salvage: part of the tasks table is unreadable", metadata: ["outbox.error": "\(error)"])
            }
            if finished && !sql.hasSuffix("DESC") { break }
        }
        return copied
    }
}
