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
            for _ in 0..<100 { try db.prepare("INSERT INTO t VALUES(?)").run([.blob([UInt8](repeating: 7, count: 4000))]) }
            Issue.record("no SQLITE_FULL")
        } catch {
            #expect(error.isFull)
        }
    }
}
