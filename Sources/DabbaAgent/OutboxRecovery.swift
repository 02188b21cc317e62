#if canImport(Glibc)
    import Glibc
#endif
import DabbaCore
import DabbaProtocol
import DabbaSQLite
import Logging

/// What opening a damaged outbox did: where the damaged file went and how much was saved from it.
public struct OutboxRecovery {
    /// The damaged file's new name (`<outbox>.corrupt-<UTC time>`).
    public var movedTo: String
    public var reason: String
    /// Rows copied into the fresh outbox.
    public var salvagedRows: Int
    /// True when neither `meta.last_seq` nor the seq sidecar could be read and seqs were moved past a safety margin.
    public var seqMargin: Bool
    let connection: SQLiteConnection

    /// Seqs skipped when the old `last_seq` is unreadable, so seqs sent from lost rows are never reused.
    static let unknownSeqMargin: Int64 = 10_000

    /// Moves the damaged file (and its -wal/-shm) aside, opens a fresh outbox with `open`, and copies every
    /// readable row across, skipping unreadable stretches. Bounded: it gives up after many consecutive failures.
    static func recover(
        path: String, reason: String, seqFloor: Int64?, logger: Logger,
        open: () throws(SQLiteError) -> SQLiteConnection
    ) throws(SQLiteError) -> OutboxRecovery {
        let stamp =
            Timestamp.format(milliseconds: wallClockMilliseconds())
            .filter { $0 != "-" && $0 != ":" }.prefix(15) + "Z"
        let aside = "\(path).corrupt-\(stamp)"
        for suffix in ["", "-wal", "-shm"] where access(path + suffix, F_OK) == 0 {
            guard rename(path + suffix, aside + suffix) == 0 else {
                throw SQLiteError(
                    extendedCode: SQLiteError.Code.cantOpen.rawValue,
                    message: "cannot move damaged outbox \(path + suffix) aside: errno \(errno)")
            }
        }
        logger.error(
            "Outbox damaged: moved aside, salvaging readable rows",
            metadata: ["outbox.path": "\(path)", "outbox.moved_to": "\(aside)", "outbox.reason": "\(reason)"])

        let fresh = try open()
        var salvaged = 0
        var lastSeq: Int64?
        var highest: Int64 = 0
        if let old = try? SQLiteConnection(path: aside, readOnly: true) {
            lastSeq = try? old.scalarInt("SELECT value FROM meta WHERE key = 'last_seq'")
            (salvaged, highest) = salvageRows(from: old, into: fresh)
        }
        var margin = false
        var newLast = max(lastSeq ?? 0, highest, seqFloor ?? 0)
        if lastSeq == nil && seqFloor == nil {
            newLast += unknownSeqMargin
            margin = true
        }
        try fresh.prepare("INSERT OR REPLACE INTO meta(key, value) VALUES('last_seq', ?)").run([.integer(newLast)])
        logger.notice(
            "Outbox salvage finished",
            metadata: ["outbox.salvaged_rows": "\(salvaged)", "outbox.last_seq": "\(newLast)"])
        return OutboxRecovery(
            movedTo: aside, reason: reason, salvagedRows: salvaged, seqMargin: margin, connection: fresh)
    }

    /// Copies readable, well-formed rows; returns (count, highest seq seen).
    private static func salvageRows(from old: SQLiteConnection, into fresh: SQLiteConnection) -> (Int, Int64) {
        var cursor: Int64 = 0
        var copied = 0
        var highest: Int64 = 0
        var failures = 0
        let step: Int64 = 256
        while failures < 200 {
            do {
                let statement = try old.prepare(
                    "SELECT seq, kind, time, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT 256")
                try statement.bind([.integer(cursor)])
                var batch: [(Int64, Int64, Int64, [UInt8])] = []
                while try statement.step() {
                    batch.append((statement.int64(0), statement.int64(1), statement.int64(2), statement.bytes(3)))
                }
                if batch.isEmpty { break }
                try fresh.transaction { () throws(SQLiteError) in
                    let insert = try fresh.prepare(
                        "INSERT OR IGNORE INTO outbox(seq, kind, time, payload) VALUES(?, ?, ?, ?)")
                    for (seq, kind, time, payload) in batch where isWellFormed(payload, kind: kind) {
                        try insert.run([.integer(seq), .integer(kind), .integer(time), .blob(payload)])
                        copied += 1
                    }
                }
                cursor = batch.last!.0
                highest = max(highest, cursor)
                failures = 0
            } catch {
                // An unreadable stretch: skip past it.
                failures += 1
                cursor += step
            }
        }
        return (copied, highest)
    }

    private static func isWellFormed(_ payload: [UInt8], kind: Int64) -> Bool {
        switch kind {
        case Outbox.Kind.fix.rawValue: return (try? PayloadCoding.decode(Fix.self, from: payload)) != nil
        case Outbox.Kind.event.rawValue: return (try? PayloadCoding.decode(AgentEvent.self, from: payload)) != nil
        default: return false
        }
    }
}
