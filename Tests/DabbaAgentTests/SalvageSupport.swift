@testable import DabbaAgent
import DabbaSQLite
import DabbaTestSupport
import Foundation
import Logging
import Testing

/// A damaged outbox with many rows, an undamaged copy of it, and readers for what an outbox file holds.
struct DamagedOutbox {
    let path: String
    /// The same file before the damage: what every salvaged row must equal.
    let pristine: String
    let contents: OutboxFixture.Contents

    /// An outbox of `rows` rows (with tasks and meta), three pages overwritten at `fraction` of the file.
    static func make(in dir: TestDirectory, name: String = "outbox.db", rows: Int, at fraction: Double = 0.5) throws
        -> DamagedOutbox
    {
        let path = dir.path(name)
        _ = try Outbox(path: path, logger: Logger(label: "test"))  // the real schema, then closed
        let contents = try OutboxFixture.fill(path: path, rows: rows)
        let pristine = dir.path(name + ".pristine")
        try FileManager.default.copyItem(atPath: path, toPath: pristine)
        try OutboxFixture.damage(path: path, at: fraction)
        return DamagedOutbox(path: path, pristine: pristine, contents: contents)
    }

    /// A copy of the damaged file (and of its `-wal`, if any) at `path`.
    func copy(to path: String) throws {
        try FileManager.default.copyItem(atPath: self.path, toPath: path)
        if FileManager.default.fileExists(atPath: self.path + "-wal") {
            try FileManager.default.copyItem(atPath: self.path + "-wal", toPath: path + "-wal")
        }
    }
}

/// One stored row as bytes, for comparing outbox files.
struct StoredRow: Equatable {
    var kind: Int64
    var time: Int64
    var payload: [UInt8]
}

enum OutboxFile {
    /// Every row of the outbox file at `path`, by seq.
    static func rows(_ path: String) throws -> [Int64: StoredRow] {
        let db = try SQLiteConnection(path: path, readOnly: true)
        let statement = try db.prepare("SELECT seq, kind, time, payload FROM outbox")
        defer { statement.reset() }
        var rows: [Int64: StoredRow] = [:]
        while try statement.step() {
            rows[statement.int64(0)] = StoredRow(
                kind: statement.int64(1), time: statement.int64(2), payload: statement.bytes(3))
        }
        return rows
    }

    /// (order id, status) of every task.
    static func tasks(_ path: String) throws -> [String: String] {
        let db = try SQLiteConnection(path: path, readOnly: true)
        let statement = try db.prepare("SELECT order_id, status FROM tasks")
        defer { statement.reset() }
        var tasks: [String: String] = [:]
        while try statement.step() { tasks[statement.text(0) ?? ""] = statement.text(1) ?? "" }
        return tasks
    }

    static func meta(_ path: String, _ key: String) throws -> Int64? {
        try SQLiteConnection(path: path, readOnly: true).scalarInt("SELECT value FROM meta WHERE key = ?", [.text(key)])
    }

    /// Files in `dir` whose names contain `marker` (".salvage-", ".corrupt-").
    static func named(_ marker: String, in dir: TestDirectory) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.url.path).filter { $0.contains(marker) }.sorted()
    }

    /// The rows a salvage of an uninterrupted copy of `damaged` keeps: the reference an interrupted one must match.
    static func referenceSalvage(of damaged: DamagedOutbox) throws -> [Int64: StoredRow] {
        let dir = try TestDirectory("salvage-reference")
        defer { dir.remove() }
        let path = dir.path("reference.db")
        try damaged.copy(to: path)
        let outbox = try Outbox(path: path, logger: Logger(label: "test"))
        #expect(outbox.recovery != nil)
        return try rows(path)
    }
}
