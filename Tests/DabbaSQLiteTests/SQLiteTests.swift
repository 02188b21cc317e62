import DabbaSQLite
import Foundation
import Testing

@Suite struct SQLiteTests {
    func temporaryPath() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("sqlite-\(UUID().uuidString).db").path
    }

    @Test func bindStepAndTransactions() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let db = try SQLiteConnection(path: path)
        try db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, score REAL, data BLOB)")
        try db.transaction { () throws(SQLiteError) in
            let insert = try db.prepare("INSERT INTO t(id, name, score, data) VALUES(?, ?, ?, ?)")
            try insert.run([.integer(1), .text("ünïcode"), .real(1.5), .blob([0, 1, 2])])
            try insert.run([.integer(2), .null, .real(-2), .blob([])])
        }
        let select = try db.prepare("SELECT name, score, data FROM t WHERE id = ?")
        try select.bind([.integer(1)])
        #expect(try select.step())
        #expect(select.text(0) == "ünïcode")
        #expect(select.double(1) == 1.5)
        #expect(select.bytes(2) == [0, 1, 2])
        #expect(try db.scalarInt("SELECT count(*) FROM t") == 2)
    }

    @Test func failedTransactionRollsBackAndReportsConstraint() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let db = try SQLiteConnection(path: path)
        try db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY)")
        do {
            try db.transaction { () throws(SQLiteError) in
                try db.prepare("INSERT INTO t(id) VALUES(?)").run([.integer(1)])
                try db.prepare("INSERT INTO t(id) VALUES(?)").run([.integer(1)])
            }
            Issue.record("duplicate key accepted")
        } catch {
            #expect(error.code == .constraint)
        }
        #expect(try db.scalarInt("SELECT count(*) FROM t") == 0)
    }

    @Test func garbageFileIsReportedAsNotADatabase() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data((0..<8192).map { UInt8($0 % 251) }).write(to: URL(fileURLWithPath: path))
        let db = try SQLiteConnection(path: path)
        do {
            try db.execute("PRAGMA journal_mode = WAL")
            _ = try db.integrityCheck()
            Issue.record("garbage accepted as a database")
        } catch {
            #expect(error.isCorruption)
        }
    }

    @Test func pageLimitReportsFull() throws {
        let path = temporaryPath()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let db = try SQLiteConnection(path: path)
        try db.execute("CREATE TABLE t(x BLOB); PRAGMA max_page_count = 20")
        do {
            for _ in 0..<100 {
                try db.prepare("INSERT INTO t VALUES(?)").run([.blob([UInt8](repeating: 7, count: 4000))])
            }
            Issue.record("no SQLITE_FULL")
        } catch {
            #expect(error.isFull)
        }
    }

    @Test func aStatementLeftOnARowIsEndedByFinishReads() throws {
        let path = temporaryPath()
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let a = try SQLiteConnection(path: path)
        let b = try SQLiteConnection(path: path)
        try a.execute("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 2000")
        try b.execute("PRAGMA busy_timeout = 2000")
        try a.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER)")
        try a.execute("INSERT INTO t VALUES(1, 0)")
        func read(_ db: SQLiteConnection) throws -> Int64? {
            let s = try db.prepare("SELECT v FROM t WHERE id = 1")
            guard try s.step() else { return nil }
            return s.int64(0)  // left on its row, as a lookup that returns early leaves it
        }
        func write(_ db: SQLiteConnection, _ v: Int64) throws {
            try db.transaction { () throws(SQLiteError) in
                try db.prepare("UPDATE t SET v = ? WHERE id = 1").run([.integer(v)])
            }
        }
        // Without it: a's open read keeps its old snapshot, so it reads stale data and cannot write.
        #expect(try read(a) == 0)
        try write(b, 1)
        #expect(try a.scalarInt("SELECT v + 0 FROM t WHERE id = 1") == 0)  // another statement, same old snapshot
        #expect(throws: SQLiteError.self) { try write(a, 2) }
        // With it: the snapshot ends; a sees b's write and writes after it.
        a.finishReads()
        #expect(try read(a) == 1)
        a.finishReads()
        try write(b, 3)
        #expect(try read(a) == 3)
        a.finishReads()
        try write(a, 4)
        #expect(try b.scalarInt("SELECT v FROM t WHERE id = 1") == 4)
    }
}
