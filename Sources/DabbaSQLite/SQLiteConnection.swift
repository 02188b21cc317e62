import CSQLite

/// One SQLite connection. Not thread-safe by itself: confine it to one thread or actor (the owner's executor). It is
/// not `Sendable`, so Swift's checker keeps it confined.
///
/// Opened in multi-thread mode (`SQLITE_OPEN_NOMUTEX`): SQLite takes no lock of its own on every call, which in
/// serialized mode it did for each `sqlite3_column_*` (a dispatch round reads ~20 columns of 5,000 agents), since
/// the confinement already keeps calls apart. Extended result codes. Statements are prepared once and cached by SQL
/// text.
public final class SQLiteConnection {
    @usableFromInline let handle: OpaquePointer
    public let path: String
    private var cache: [String: SQLiteStatement] = [:]

    /// Opens (creating if needed) the database at `path`.
    public init(path: String, readOnly: Bool = false) throws(SQLiteError) {
        var db: OpaquePointer?
        let flags =
            (readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            if let db { sqlite3_close_v2(db) }
            throw SQLiteError(extendedCode: rc, message: "\(message) (\(path))")
        }
        sqlite3_extended_result_codes(db, 1)
        self.handle = db
        self.path = path
    }

    deinit {
        cache.removeAll()
        sqlite3_close_v2(handle)
    }

    /// Makes a Swift error from the connection's last error, for result code `rc`.
    func error(_ rc: Int32) -> SQLiteError {
        SQLiteError(extendedCode: sqlite3_extended_errcode(handle), message: String(cString: sqlite3_errmsg(handle)))
    }

    /// Runs one or more SQL statements without results (schema, pragmas, BEGIN/COMMIT).
    public func execute(_ sql: String) throws(SQLiteError) {
        var errmsg: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &errmsg)
        if rc != SQLITE_OK {
            let message = errmsg.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_free(errmsg)
            throw SQLiteError(extendedCode: sqlite3_extended_errcode(handle), message: message)
        }
    }

    /// A cached prepared statement for `sql`, reset and with bindings cleared.
    public func prepare(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        if let statement = cache[sql] {
            statement.reset()
            return statement
        }
        let statement = try SQLiteStatement(connection: self, sql: sql)
        cache[sql] = statement
        return statement
    }

    /// Runs `body` in a transaction (`BEGIN IMMEDIATE` … `COMMIT`), rolling back when it throws.
    public func transaction<T>(_ body: () throws(SQLiteError) -> T) throws(SQLiteError) -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }

    /// The value of a single-integer query such as `PRAGMA page_count` or `SELECT count(*) …`.
    /// The statement is reset before returning: a cached statement left on a row would hold its read transaction
    /// open, and a later write on this connection would then fail with `SQLITE_BUSY_SNAPSHOT` (no busy wait) once
    /// another connection has written.
    public func scalarInt(_ sql: String, _ bindings: [SQLiteValue] = []) throws(SQLiteError) -> Int64? {
        let statement = try prepare(sql)
        defer { statement.reset() }
        try statement.bind(bindings)
        guard try statement.step() else { return nil }
        return statement.isNull(0) ? nil : statement.int64(0)
    }

    /// Runs `body` on every row of `sql` with `bindings`; the statement is reset when it returns, whether it read every
    /// row or threw (for the same reason as ``scalarInt(_:_:)``).
    public func forEachRow(
        _ sql: String, _ bindings: [SQLiteValue] = [], _ body: (SQLiteStatement) throws(SQLiteError) -> Void
    ) throws(SQLiteError) {
        let statement = try prepare(sql)
        defer { statement.reset() }
        try statement.bind(bindings)
        while try statement.step() { try body(statement) }
    }

    /// Resets every statement of this connection still positioned on a row, which ends its read transaction.
    ///
    /// A cached statement left on a row (a lookup that read its one row and returned) keeps the connection's read
    /// snapshot open: every later read on this connection sees that old snapshot, and the next write fails at once
    /// with `SQLITE_BUSY_SNAPSHOT` when another connection (another hub, an operator's CLI) has written meanwhile.
    /// Call it when an operation is over, never while iterating a statement.
    public func finishReads() {
        var statement = sqlite3_next_stmt(handle, nil)
        while let current = statement {
            if sqlite3_stmt_busy(current) != 0 { sqlite3_reset(current) }
            statement = sqlite3_next_stmt(handle, current)
        }
    }

    /// `PRAGMA wal_checkpoint(mode)` (PASSIVE, FULL, RESTART or TRUNCATE): whether it could not finish because a
    /// read or write was in progress (`busy`), the WAL's frames and how many of them are now in the database file.
    /// A statement of this connection left on a row counts as such a read: call ``finishReads()`` first.
    public func checkpoint(_ mode: String = "TRUNCATE") throws(SQLiteError) -> (busy: Bool, frames: Int, done: Int) {
        let statement = try SQLiteStatement(connection: self, sql: "PRAGMA wal_checkpoint(\(mode))")
        defer { statement.reset() }
        guard try statement.step() else { return (false, 0, 0) }
        return (statement.int64(0) != 0, Int(statement.int64(1)), Int(statement.int64(2)))
    }

    /// Rows changed by the most recent INSERT/UPDATE/DELETE.
    public var changes: Int { Int(sqlite3_changes(handle)) }

    /// The rowid of the most recent successful INSERT into a rowid table on this connection (0 when none): read right
    /// after the INSERT, on the same thread, it is that row's (an `INTEGER PRIMARY KEY` column is its rowid).
    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// Drops cached statements (before closing, or after a schema change).
    public func clearStatementCache() { cache.removeAll() }

    /// `PRAGMA quick_check` (or `integrity_check` when `full`): "ok" or the first problems reported.
    public func integrityCheck(full: Bool = false) throws(SQLiteError) -> String {
        let statement = try SQLiteStatement(
            connection: self, sql: full ? "PRAGMA integrity_check" : "PRAGMA quick_check")
        var lines: [String] = []
        while try statement.step(), lines.count < 10 { lines.append(statement.text(0) ?? "") }
        return lines.joined(separator: "; ")
    }

    /// SQLite's library version, e.g. "3.40.1".
    public static var libraryVersion: String { String(cString: sqlite3_libversion()) }
}
