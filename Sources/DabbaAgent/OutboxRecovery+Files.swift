#if canImport(Glibc)
    import Glibc
#endif
import DabbaCore
import DabbaProtocol
import DabbaSQLite

/// The files of a salvage and the directory operations on them (see ``OutboxRecovery`` for the order and why).
/// Every failure is thrown (as `SQLiteError`, `cantOpen` or `ioError`, with the path and errno): a salvage that
/// cannot move or sync its files must not go on as if it had.
struct SalvageFiles {
    /// The outbox's path.
    let outbox: String
    /// The directory holding it (fsynced after every rename).
    let directory: String
    /// The outbox's file name, the prefix of every salvage name.
    let name: String

    init(outbox: String) {
        self.outbox = outbox
        if let slash = outbox.lastIndex(of: "/") {
            directory = slash == outbox.startIndex ? "/" : String(outbox[..<slash])
            name = String(outbox[outbox.index(after: slash)...])
        } else {
            directory = "."
            name = outbox
        }
    }

    /// SQLite's companion files of a database: what moves with it and what goes with it.
    static let companions = ["-wal", "-shm", "-journal"]

    func aside(_ stamp: String) -> String { "\(outbox).corrupt-\(stamp)" }
    func temp(_ stamp: String) -> String { "\(outbox).salvage-\(stamp)" }

    /// The stamp of a salvage under way (its temp file exists), nil when there is none. If several are found (which
    /// the steps never leave), the newest.
    func pendingStamp() throws(SQLiteError) -> String? {
        guard let dir = opendir(directory) else {
            throw Self.failure(.cantOpen, "cannot list \(directory)")
        }
        defer { closedir(dir) }
        let prefix = name + ".salvage-"
        var stamps: [String] = []
        while let entry = readdir(dir) {
            let file = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard file.hasPrefix(prefix), !Self.companions.contains(where: { file.hasSuffix($0) }) else { continue }
            stamps.append(String(file.dropFirst(prefix.count)))
        }
        return stamps.max()
    }

    /// A stamp (UTC time to the millisecond) that names neither an existing damaged file nor a temp file.
    func newStamp() throws(SQLiteError) -> String {
        let time =
            Timestamp.format(milliseconds: wallClockMilliseconds())
            .filter { $0 != "-" && $0 != ":" && $0 != "." }.prefix(18)
        for n in 0..<100 {
            let stamp = n == 0 ? "\(time)Z" : "\(time)Z-\(n)"
            if access(aside(stamp), F_OK) != 0 && access(temp(stamp), F_OK) != 0 { return stamp }
        }
        throw Self.failure(.cantOpen, "no free name for moving \(outbox) aside")
    }

    /// Step 1: the empty temp file, durable, marks the salvage as under way.
    func createTemp(stamp: String) throws(SQLiteError) {
        let fd = open(temp(stamp), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw Self.failure(.cantOpen, "cannot create \(temp(stamp))") }
        let synced = fsync(fd) == 0
        let code = errno
        close(fd)
        guard synced else { throw Self.failure(.ioError, "cannot fsync \(temp(stamp))", errno: code) }
        try syncDirectory()
    }

    /// Step 2: the damaged file, then its `-wal` and `-shm`, to the corrupt name.
    func moveAside(stamp: String) throws(SQLiteError) {
        try rename(outbox, to: aside(stamp))
        try finishMovingAside(stamp: stamp)
    }

    /// The rest of step 2 after a crash: companions still at the outbox's name go to the damaged file's (unless one
    /// is there already: then the outbox's is newer than any crash and is left alone).
    func finishMovingAside(stamp: String) throws(SQLiteError) {
        for suffix in ["-wal", "-shm"]
        where access(outbox + suffix, F_OK) == 0 && access(aside(stamp) + suffix, F_OK) != 0 {
            try rename(outbox + suffix, to: aside(stamp) + suffix)
        }
        try syncDirectory()
    }

    /// Deletes an unstarted or unusable temp file with its companions.
    func removeTemp(stamp: String) throws(SQLiteError) {
        for suffix in [""] + Self.companions where access(temp(stamp) + suffix, F_OK) == 0 {
            guard unlink(temp(stamp) + suffix) == 0 else {
                throw Self.failure(.ioError, "cannot remove \(temp(stamp) + suffix)")
            }
        }
        try syncDirectory()
    }

    /// Empties a temp file that cannot be used (its companions go too) without deleting it: it stays the marker
    /// that a salvage is under way while the outbox path is empty.
    func resetTemp(stamp: String) throws(SQLiteError) {
        guard truncate(temp(stamp), 0) == 0 else { throw Self.failure(.ioError, "cannot truncate \(temp(stamp))") }
        for suffix in Self.companions where access(temp(stamp) + suffix, F_OK) == 0 {
            guard unlink(temp(stamp) + suffix) == 0 else {
                throw Self.failure(.ioError, "cannot remove \(temp(stamp) + suffix)")
            }
        }
        try syncFile(temp(stamp))
        try syncDirectory()
    }

    func rename(_ from: String, to: String) throws(SQLiteError) {
        guard Glibc.rename(from, to) == 0 else { throw Self.failure(.cantOpen, "cannot rename \(from) to \(to)") }
    }

    /// fsync of one file's contents (the temp file, written with `synchronous=OFF`, before it is renamed).
    func syncFile(_ path: String) throws(SQLiteError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Self.failure(.cantOpen, "cannot open \(path) to fsync it") }
        let synced = fsync(fd) == 0
        let code = errno
        close(fd)
        guard synced else { throw Self.failure(.ioError, "cannot fsync \(path)", errno: code) }
    }

    /// fsync of the directory, so creations and renames in it survive power loss.
    func syncDirectory() throws(SQLiteError) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw Self.failure(.cantOpen, "cannot open directory \(directory)") }
        let synced = fsync(fd) == 0
        let code = errno
        close(fd)
        guard synced else { throw Self.failure(.ioError, "cannot fsync directory \(directory)", errno: code) }
    }

    /// The error for a failed system call; `number` defaults to the current `errno`.
    static func failure(_ code: SQLiteError.Code, _ message: String, errno number: Int32 = errno) -> SQLiteError {
        SQLiteError(
            extendedCode: code.rawValue, message: "\(message): errno \(number) (\(String(cString: strerror(number))))")
    }
}
