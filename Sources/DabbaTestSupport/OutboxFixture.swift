import Foundation

/// Large agent outboxes for salvage tests and the salvage benchmark, written by the `sqlite3` CLI in one
/// transaction (700,000 rows in seconds, where one `Outbox.append` per row would take minutes), then damaged.
public enum OutboxFixture {
    /// What was written.
    public struct Contents: Sendable {
        public var rows: Int
        /// Every `eventEvery`-th seq is an event (kind 1), the others fixes (kind 0).
        public var eventEvery: Int
        public var tasks: Int
        /// `meta.last_seq`: above the highest row, as after acks of the newest rows.
        public var lastSeq: Int64
        public var thinned: Int64
        public var lastFixTime: Int64
    }

    /// Fills an outbox that `Outbox(path:)` created (and that is closed) with rows 1…`rows`, `tasks` tasks and the
    /// meta values, payloads as the agent writes them; checkpoints the WAL into the file.
    public static func fill(
        path: String, agent: String = "a-1", rows: Int, eventEvery: Int = 1_000, tasks: Int = 5, lastSeqExtra: Int64 = 7
    ) throws -> Contents {
        let start: Int64 = 1_795_082_400_000  // 2026-11-17T08:00:00Z
        let contents = Contents(
            rows: rows, eventEvery: eventEvery, tasks: tasks, lastSeq: Int64(rows) + lastSeqExtra, thinned: 42,
            lastFixTime: start + Int64(rows) * 1000)
        let time = "strftime('%Y-%m-%dT%H:%M:%fZ', (\(start) + i * 1000) / 1000.0, 'unixepoch')"
        let fix =
            #"printf('{"v":1,"agent":"\#(agent)","seq":%d,"time":"%s","lat":%.6f,"lon":%.6f,"alt":31.5,"speed":7.25,"#
            + #""track":181.5,"hacc":3.2,"mode":3}', i, \#(time), 22.3149 + i * 1e-6, 87.3105 - i * 1e-6)"#
        let event =
            #"printf('{"v":1,"agent":"\#(agent)","seq":%d,"time":"%s","order":"o-%d","type":"picked_up"}', i, "#
            + #"\#(time), i)"#
        let script = """
            PRAGMA journal_mode = WAL;
            BEGIN;
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < \(rows))
            INSERT INTO outbox(seq, kind, time, payload)
            SELECT i, CASE WHEN i % \(eventEvery) = 0 THEN 1 ELSE 0 END, \(start) + i * 1000,
                CAST(CASE WHEN i % \(eventEvery) = 0 THEN \(event) ELSE \(fix) END AS BLOB) FROM n;
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < \(tasks))
            INSERT INTO tasks(order_id, status, payload, updated)
            SELECT printf('o-%d', i), 'accepted',
                CAST(printf('{"v":1,"agent":"\(agent)","order":"o-%d","type":"assigned"}', i) AS BLOB), i FROM n;
            INSERT OR REPLACE INTO meta(key, value) VALUES('last_seq', \(contents.lastSeq)),
                ('thinned', \(contents.thinned)), ('last_fix_time', \(contents.lastFixTime));
            COMMIT;
            PRAGMA wal_checkpoint(TRUNCATE);
            """
        let (status, output) = try runSQLite(path, script)
        guard status == 0 else { throw TestSupportError("sqlite3 could not fill \(path): \(output)") }
        return contents
    }

    /// Overwrites `pages` pages of 4 KiB with garbage, starting at `fraction` of the file: damage `quick_check`
    /// reports and a salvage has to skip.
    public static func damage(path: String, at fraction: Double, pages: Int = 3) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        let size = try handle.seekToEnd()
        let page: UInt64 = 4096
        try handle.seek(toOffset: UInt64(Double(size / page) * fraction) * page)
        try handle.write(contentsOf: Data(repeating: 0xA5, count: pages * Int(page)))
    }

    /// Runs `script` through `/usr/bin/sqlite3` on `path`: (exit status, output).
    public static func runSQLite(_ path: String, _ script: String) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = ["-batch", "-bail", path]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try ManagedProcess.withSignalsUnblocked { try process.run() }
        input.fileHandleForWriting.write(Data(script.utf8))
        try input.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
