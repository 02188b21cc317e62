#if canImport(Glibc)
    import Glibc
#endif
import DabbaSQLite
import Logging

/// The agent's durable outbox: every fix and event is committed here, with the next `seq`, before it is sent.
///
/// A row leaves only when the hub's `ack` names its seq (or when thinning removes an old fix to stay within
/// `maxRows`). `seq` is stored in `meta.last_seq` in the same transaction as the row, so it survives restarts and
/// is never reused. Confine an `Outbox` to one thread or actor: SQLite calls block (fsync).
public final class Outbox {
    /// What a row carries.
    public enum Kind: Int64, Sendable {
        case fix = 0
        case event = 1
    }

    /// One stored row.
    public struct Row: Sendable, Equatable {
        public var seq: Int64
        public var kind: Kind
        /// The fix or event time (UTC ms): the age of the oldest unsent row is measured from it.
        public var time: Int64
        /// The JSON payload as it is sent (a Fix or an AgentEvent).
        public var payload: [UInt8]
    }

    /// Opening options.
    public struct Options: Sendable {
        /// Bound on stored rows; past it the oldest fixes are thinned. Default 700,000 (8 days at 1 Hz).
        public var maxRows: Int = 700_000
        /// `PRAGMA synchronous`: "FULL" (default; every commit survives power loss) or "NORMAL".
        public var synchronous: String = "FULL"
        /// SQLite page cache in KiB (`PRAGMA cache_size = -N`): small, so memory stays flat on a device.
        public var cacheKiB: Int = 512
        /// Test hook: `PRAGMA max_page_count`, to make SQLite report a full disk.
        public var maxPageCount: Int? = nil
        /// Called while a damaged outbox is salvaged at open (e.g. ``SalvageProgress/systemd(_:)``).
        public var salvageProgress: SalvageProgress.Handler? = nil
        public init() {}
    }

    public let path: String
    public let options: Options
    let db: SQLiteConnection
    let logger: Logger
    /// The last seq handed out (durable in `meta`).
    public internal(set) var lastSeq: Int64
    /// Rows stored now (kept in memory, counted once at open).
    public internal(set) var depth: Int
    /// The time (UTC ms) of the newest fix ever recorded (durable), to drop an epoch gpsd repeats after a restart.
    public internal(set) var lastFixTime: Int64
    /// Times the seq sidecar could not be written before a seq was used (see ``nextSeq()``).
    public internal(set) var seqReservationFailures: Int64 = 0
    /// Fixes removed by thinning since the outbox was created.
    public internal(set) var thinnedTotal: Int64
    /// What the open had to do to recover a damaged file, if anything.
    public let recovery: OutboxRecovery?
    /// The seq floor kept beside the database (nil if the sidecar cannot be opened).
    let seqGuard: SeqGuard?

    static let schema = """
        CREATE TABLE IF NOT EXISTS outbox(
            seq INTEGER PRIMARY KEY,
            kind INTEGER NOT NULL,
            time INTEGER NOT NULL,
            payload BLOB NOT NULL);
        CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);
        CREATE TABLE IF NOT EXISTS tasks(
            order_id TEXT PRIMARY KEY,
            status TEXT NOT NULL,
            payload BLOB NOT NULL,
            updated INTEGER NOT NULL);
        PRAGMA user_version = 1;
        """

    /// The size the WAL is truncated back to after a checkpoint (bytes): SQLite's auto-checkpoint runs at 1,000
    /// pages, so while recording the WAL stays within about this plus one transaction.
    public static let walSizeLimit = 4 * 1024 * 1024

    /// Opens the outbox at `path`, creating it, or moving a corrupt file aside and salvaging its readable rows.
    public init(path: String, options: Options = Options(), logger: Logger) throws(SQLiteError) {
        self.path = path
        self.options = options
        self.logger = logger
        let seqGuard = SeqGuard(path: path + ".seq")
        if seqGuard == nil {
            logger.warning(
                "Cannot open the seq sidecar; salvage falls back to a margin", metadata: ["outbox.path": "\(path).seq"])
        }
        self.seqGuard = seqGuard
        // Finishes a salvage a crash interrupted, or salvages a damaged file (see `OutboxRecovery`).
        let opened = try OutboxRecovery.openOrSalvage(
            path: path, seqFloor: seqGuard?.floor, progress: options.salvageProgress, logger: logger
        ) { () throws(SQLiteError) in try Self.openChecked(path: path, options: options) }
        let db = opened.connection
        self.db = db
        self.recovery = opened.recovery
        self.lastSeq = try Self.readMeta(db, "last_seq") ?? 0
        self.thinnedTotal = try Self.readMeta(db, "thinned") ?? 0
        self.lastFixTime = try Self.readMeta(db, "last_fix_time") ?? 0
        let maxStored = try db.scalarInt("SELECT max(seq) FROM outbox") ?? 0
        // The next seq is always above the sidecar's fsync'd reservation: every seq handed out before (fixes sent
        // live while the disk was full, rows a power cut or a deleted file took with it) is at or below it.
        self.lastSeq = max(lastSeq, maxStored, seqGuard?.floor ?? 0)
        self.depth = Int(try db.scalarInt("SELECT count(*) FROM outbox") ?? 0)
    }

    /// Opens, applies pragmas and schema, and runs `quick_check`; corruption surfaces as an error with
    /// `isCorruption` true.
    static func openChecked(path: String, options: Options) throws(SQLiteError) -> SQLiteConnection {
        let db = try SQLiteConnection(path: path)
        try db.execute("PRAGMA busy_timeout = 5000")
        try db.execute("PRAGMA journal_mode = WAL")
        // After each checkpoint that resets the WAL, truncate it back to this size: the WAL stays within about
        // the auto-checkpoint's 1,000 pages (4 MiB) plus one transaction.
        try db.execute("PRAGMA journal_size_limit = \(Self.walSizeLimit)")
        try db.execute("PRAGMA synchronous = \(options.synchronous == "NORMAL" ? "NORMAL" : "FULL")")
        try db.execute("PRAGMA cache_size = -\(max(64, options.cacheKiB))")
        if let pages = options.maxPageCount { try db.execute("PRAGMA max_page_count = \(pages)") }
        let check = try db.integrityCheck()
        guard check == "ok" else {
            throw SQLiteError(extendedCode: SQLiteError.Code.corrupt.rawValue, message: "quick_check: \(check)")
        }
        try db.execute(schema)
        return db
    }

    static func readMeta(_ db: SQLiteConnection, _ key: String) throws(SQLiteError) -> Int64? {
        try db.scalarInt("SELECT value FROM meta WHERE key = ?", [.text(key)])
    }

    func writeMeta(_ key: String, _ value: Int64) throws(SQLiteError) {
        try db.prepare(
            "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"
        )
        .run([.text(key), .integer(value)])
    }

    /// Commits a new row with the next seq; `makePayload` builds the payload from that seq.
    /// Thins old fixes first when the outbox is full. Returns the stored row.
    @discardableResult
    public func append(kind: Kind, time: Int64, makePayload: (Int64) -> [UInt8]) throws(SQLiteError) -> Row {
        if depth >= options.maxRows { try thin() }
        let seq = try nextSeq()
        let row = Row(seq: seq, kind: kind, time: time, payload: makePayload(seq))
        try db.transaction { () throws(SQLiteError) in
            try db.prepare("INSERT INTO outbox(seq, kind, time, payload) VALUES(?, ?, ?, ?)")
                .run([.integer(seq), .integer(kind.rawValue), .integer(time), .blob(row.payload)])
            try writeMeta("last_seq", seq)
            if kind == .fix { try writeMeta("last_fix_time", time) }
        }
        lastSeq = seq
        depth += 1
        if kind == .fix { lastFixTime = time }
        return row
    }

    /// Hands out the next seq without storing a row (the disk is full), recorded durably in the seq sidecar so it
    /// is never reused after a restart; nil when even that cannot be written (the fix is then not sent).
    public func reserveVolatileSeq() -> Int64? {
        guard lastSeq < Int64.max, let seqGuard, seqGuard.recordVolatile(lastSeq + 1) else { return nil }
        lastSeq += 1
        // The sidecar has made the seq durable; meta is expected to fail too on a full disk, and is raised past the
        // sidecar's floor at the next open anyway.
        do { try writeMeta("last_seq", lastSeq) } catch { _ = error }
        return lastSeq
    }

    /// The next seq, covered by the sidecar's fsync'd reservation before it is used. A sidecar that cannot be
    /// written is counted in ``seqReservationFailures`` and logged (the seq then rests on `meta.last_seq` alone,
    /// which `outbox-sync=full` makes durable with the row).
    func nextSeq() throws(SQLiteError) -> Int64 {
        guard lastSeq < Int64.max else {
            throw SQLiteError(extendedCode: SQLiteError.Code.full.rawValue, message: "seqs exhausted")
        }
        let seq = lastSeq + 1
        if let seqGuard, !seqGuard.reserve(through: seq) {
            seqReservationFailures += 1
            if seqReservationFailures == 1 || seqReservationFailures % 1000 == 0 {
                logger.error(
                    "Cannot write the seq sidecar; seqs rest on the outbox alone",
                    metadata: ["outbox.path": "\(path).seq", "outbox.failures": "\(seqReservationFailures)"])
            }
        }
        return seq
    }

    /// Up to `limit` rows with seq > `after`, oldest first.
    public func rows(after: Int64, limit: Int) throws(SQLiteError) -> [Row] {
        let statement = try db.prepare("SELECT seq, kind, time, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?")
        try statement.bind([.integer(after), .integer(Int64(limit))])
        var result: [Row] = []
        result.reserveCapacity(limit)
        while try statement.step() {
            result.append(
                Row(
                    seq: statement.int64(0), kind: Kind(rawValue: statement.int64(1)) ?? .fix,
                    time: statement.int64(2), payload: statement.bytes(3)))
        }
        return result
    }

    /// Deletes the rows whose seqs fall in `ranges` (the hub has committed them); returns how many went.
    ///
    /// The delete commits with `synchronous = NORMAL` even when the outbox runs FULL: it is durable against a crash of
    /// the process at once (the WAL is written), and reaches the disk with the next FULL commit or checkpoint. Power
    /// lost before then brings the rows back, and they are sent again — rows the hub already holds, which it
    /// acknowledges and drops as duplicates. Appends stay FULL. One `fdatasync` per hub ack was what held the
    /// backlog lane to 0.14× a raw publisher of the same messages (BENCHMARKS.md).
    @discardableResult
    public func delete(_ ranges: [ClosedRange<Int64>]) throws(SQLiteError) -> Int {
        guard !ranges.isEmpty else { return 0 }
        var removed = 0
        let relaxed = options.synchronous != "NORMAL"
        if relaxed { try db.execute("PRAGMA synchronous = NORMAL") }
        var failure: SQLiteError?
        do {
            try db.transaction { () throws(SQLiteError) in
                let statement = try db.prepare("DELETE FROM outbox WHERE seq BETWEEN ? AND ?")
                for range in ranges {
                    try statement.run([.integer(range.lowerBound), .integer(range.upperBound)])
                    removed += db.changes
                }
            }
        } catch {
            failure = error
        }
        // Back to FULL before anything else commits; a failure here is the caller's (counted and logged like any
        // outbox error), never swallowed.
        if relaxed { try db.execute("PRAGMA synchronous = FULL") }
        if let failure { throw failure }
        depth -= removed
        return removed
    }

    /// The time (UTC ms) of the oldest stored row, nil when empty.
    public func oldestTime() throws(SQLiteError) -> Int64? {
        try db.scalarInt("SELECT time FROM outbox ORDER BY seq LIMIT 1")
    }

    /// Full `PRAGMA integrity_check` result ("ok" when sound).
    public func integrityCheck() throws(SQLiteError) -> String { try db.integrityCheck(full: true) }
}

extension Outbox {
    /// The newest row of `kind`, nil when there is none.
    public func newestRow(kind: Kind) throws(SQLiteError) -> Row? {
        let statement = try db.prepare("SELECT seq, time, payload FROM outbox WHERE kind = ? ORDER BY seq DESC LIMIT 1")
        // Reset on return: a statement left on its row keeps a read transaction open, and then no checkpoint can
        // reset the WAL, which grows with every commit until the disk is full (issue 12).
        defer { statement.reset() }
        try statement.bind([.integer(kind.rawValue)])
        guard try statement.step() else { return nil }
        return Row(seq: statement.int64(0), kind: kind, time: statement.int64(1), payload: statement.bytes(2))
    }

    /// After a salvage, never go below a seq already handed out by the previous file.
    /// The in-memory `lastSeq` is raised even when `meta` cannot be written (the error is thrown for the caller to
    /// count): the seq sidecar's reservation already covers `seq`, and the next open starts above it.
    func ensureLastSeq(atLeast seq: Int64) throws(SQLiteError) {
        guard seq > lastSeq else { return }
        lastSeq = seq
        try writeMeta("last_seq", seq)
    }
}

extension Outbox {
    /// `PRAGMA wal_checkpoint(TRUNCATE)`: folds the WAL into the database file and empties it (on clean shutdown).
    /// Returns false when it could not finish (a read or write still in progress); throws what SQLite reports.
    @discardableResult
    public func checkpoint() throws(SQLiteError) -> Bool {
        db.finishReads()
        return try !db.checkpoint("TRUNCATE").busy
    }

    /// On a clean stop: checkpoints (the database file then holds every commit, durably) and, when that finished,
    /// gives back the unused part of the seq reservation, so a clean restart continues at `lastSeq + 1` without a
    /// gap. Returns false when the checkpoint could not finish (the reservation is then kept).
    @discardableResult
    public func closeCleanly() throws(SQLiteError) -> Bool {
        guard try checkpoint() else { return false }
        seqGuard?.release(downTo: lastSeq)
        return true
    }

    /// Bytes in the WAL file now (0 when there is none).
    public var walBytes: Int64 {
        var info = stat()
        return stat(path + "-wal", &info) == 0 ? Int64(info.st_size) : 0
    }
}
