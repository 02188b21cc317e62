@testable import DabbaAgent
import DabbaSQLite
import DabbaTestSupport
import Foundation
import Logging
import Synchronization
import Testing

/// Salvage of a damaged outbox (issue 12, item 3): into a temp file renamed into place, `last_seq` first, tasks and
/// meta copied, and every crash point of it recovered at the next open without losing a readable row.
@Suite(.serialized) struct OutboxSalvageTests {
    let logger = Logger(label: "test")

    @Test func fiftyThousandRowsAreSalvagedWithTasksMetaAndProgress() async throws {
        try await offPool {
            let dir = try TestDirectory()
            defer { dir.remove() }
            let damaged = try DamagedOutbox.make(in: dir, rows: 50_000)
            let pristine = try OutboxFile.rows(damaged.pristine)
            let reports = Mutex<[SalvageProgress]>([])
            var options = Outbox.Options()
            options.salvageProgress = { progress in reports.withLock { $0.append(progress) } }
            let started = ContinuousClock.now
            let outbox = try Outbox(path: damaged.path, options: options, logger: logger)
            let seconds = (ContinuousClock.now - started).timeInterval
            let recovery = try #require(outbox.recovery)
            #expect(!recovery.resumed && !recovery.seqMargin)

            // Every salvaged row is the row as written; rows are lost only around the three damaged pages.
            let salvaged = try OutboxFile.rows(damaged.path)
            #expect(salvaged.count == recovery.salvagedRows && outbox.depth == salvaged.count)
            #expect(salvaged.allSatisfy { pristine[$0.key] == $0.value }, "a salvaged row differs from the original")
            #expect(salvaged.count >= 50_000 - 1_000, "salvaged \(salvaged.count) of 50,000 in \(seconds) s")
            #expect(salvaged.count < 50_000, "the damage was not noticed")
            #expect(salvaged[1] != nil && salvaged[50_000] != nil)
            // Tasks and meta came across; seqs continue above the old last_seq (above the highest row).
            #expect(recovery.salvagedTasks == 5)
            #expect(try outbox.task(order: "o-3")?.status == "accepted")
            #expect(outbox.thinnedTotal == damaged.contents.thinned)
            #expect(outbox.lastFixTime == damaged.contents.lastFixTime)
            #expect(outbox.lastSeq == damaged.contents.lastSeq)
            #expect(try outbox.append(kind: .fix, time: 1) { _ in [] }.seq == damaged.contents.lastSeq + 1)
            #expect(try outbox.integrityCheck() == "ok")
            // The damaged file is kept aside; no temp file is left.
            #expect(try OutboxFile.named(".salvage-", in: dir).isEmpty)
            #expect(FileManager.default.fileExists(atPath: recovery.movedTo))
            // Progress went up to the final count, reported often enough for systemd.
            let progress = reports.withLock { $0 }
            #expect(progress.count >= 5, "\(progress)")
            #expect(progress.map(\.rows) == progress.map(\.rows).sorted())
            #expect(
                progress.last == SalvageProgress(rows: salvaged.count, seconds: progress.last!.seconds, finished: true))
        }
    }

    @Test func aCopyInterruptedMidwayResumesToTheSameRows() async throws {
        try await offPool {
            let dir = try TestDirectory()
            defer { dir.remove() }
            let damaged = try DamagedOutbox.make(in: dir, rows: 120_000, at: 0.3)
            let reference = try OutboxFile.referenceSalvage(of: damaged)

            // Killed after the first 50,000-row transaction: the outbox path is empty, the temp file is partial.
            #expect(throws: SQLiteError.self) {
                _ = try OutboxRecovery.openOrSalvage(
                    path: damaged.path, seqFloor: nil, progress: nil, interruptAfterRows: 50_000, logger: logger
                ) { () throws(SQLiteError) in try Outbox.openChecked(path: damaged.path, options: Outbox.Options()) }
            }
            #expect(!FileManager.default.fileExists(atPath: damaged.path))
            let temp = try #require(try OutboxFile.named(".salvage-", in: dir).first.map(dir.path))
            #expect(try OutboxFile.rows(temp).count == 50_000)
            #expect(try OutboxFile.tasks(temp).count == 5)
            #expect(try OutboxFile.meta(temp, "last_seq") ?? 0 >= damaged.contents.lastSeq, "last_seq is not first")

            let outbox = try Outbox(path: damaged.path, logger: logger)
            #expect(outbox.recovery?.resumed == true)
            #expect(try OutboxFile.rows(damaged.path) == reference)
            #expect(reference.count > 100_000)
            #expect(try OutboxFile.tasks(damaged.path).count == 5)
            #expect(outbox.lastSeq == damaged.contents.lastSeq)
            #expect(try OutboxFile.named(".salvage-", in: dir).isEmpty)
            #expect(
                try OutboxFile.named(".corrupt-", in: dir).filter { !$0.contains("-wal") && !$0.contains("-shm") }.count
                    == 1)
        }
    }

    @Test func aTempFileLeftBeforeTheOutboxWasMovedIsDiscarded() async throws {
        try await offPool {
            let dir = try TestDirectory()
            defer { dir.remove() }
            let damaged = try DamagedOutbox.make(in: dir, rows: 20_000)
            let reference = try OutboxFile.referenceSalvage(of: damaged)
            let stale = damaged.path + ".salvage-20260101T000000000Z"
            #expect(FileManager.default.createFile(atPath: stale, contents: nil))

            let outbox = try Outbox(path: damaged.path, logger: logger)
            #expect(outbox.recovery?.resumed == false)
            #expect(try OutboxFile.rows(damaged.path) == reference)
            #expect(try OutboxFile.named(".salvage-", in: dir).isEmpty)
        }
    }

    @Test func aCrashWhileMovingAsideKeepsTheRowsInTheWAL() async throws {
        try await offPool {
            let dir = try TestDirectory()
            defer { dir.remove() }
            let damaged = try DamagedOutbox.make(in: dir, rows: 20_000, at: 0.4)
            // 1,000 newer rows only in the WAL: written on an undamaged copy, the WAL copied while still open.
            let writer = try SQLiteConnection(path: damaged.pristine)
            try writer.execute("PRAGMA wal_autocheckpoint = 0")
            try writer.execute(
                """
                WITH RECURSIVE n(i) AS (SELECT 20001 UNION ALL SELECT i + 1 FROM n WHERE i < 21000)
                INSERT INTO outbox(seq, kind, time, payload) SELECT i, 1, i,
                    CAST(printf('{"v":1,"agent":"a-1","seq":%d,"time":"t","order":"o-1","type":"delivered"}', i) AS BLOB)
                FROM n
                """)
            try FileManager.default.copyItem(atPath: damaged.pristine + "-wal", toPath: damaged.path + "-wal")
            // The crash: temp file created, the outbox renamed, its WAL not yet.
            let stamp = "20260101T000000000Z"
            #expect(FileManager.default.createFile(atPath: damaged.path + ".salvage-\(stamp)", contents: nil))
            try FileManager.default.moveItem(atPath: damaged.path, toPath: damaged.path + ".corrupt-\(stamp)")

            let outbox = try Outbox(path: damaged.path, logger: logger)
            #expect(outbox.recovery?.resumed == true)
            let rows = try OutboxFile.rows(damaged.path)
            #expect((20_001...21_000).allSatisfy { rows[$0] != nil }, "rows only in the WAL were lost")
            #expect(rows.count > 19_000)
            #expect(outbox.lastSeq >= 21_000)
        }
    }

    @Test func aCompleteTempFileWhoseRenameWasLostIsRenamed() async throws {
        try await offPool {
            let dir = try TestDirectory()
            defer { dir.remove() }
            let damaged = try DamagedOutbox.make(in: dir, rows: 20_000)
            var movedTo = ""
            var salvaged: [Int64: StoredRow] = [:]
            do {  // salvaged, read, then closed: the WAL is folded in and removed, as at step 5
                let outbox = try Outbox(path: damaged.path, logger: logger)
                movedTo = try #require(outbox.recovery).movedTo
                salvaged = try OutboxFile.rows(damaged.path)
            }
            #expect(salvaged.count > 19_000)
            #expect(!FileManager.default.fileExists(atPath: damaged.path + "-wal"))
            // Power lost before the directory fsync: the rename never happened.
            let stamp = String(movedTo.split(separator: ".corrupt-").last!)
            try FileManager.default.moveItem(atPath: damaged.path, toPath: damaged.path + ".salvage-\(stamp)")

            let outbox = try Outbox(path: damaged.path, logger: logger)
            #expect(outbox.recovery?.resumed == true)
            #expect(try OutboxFile.rows(damaged.path) == salvaged)
            #expect(outbox.lastSeq == damaged.contents.lastSeq)
            #expect(try OutboxFile.named(".salvage-", in: dir).isEmpty)
        }
    }

    @Test func aDamagedTempFileIsRebuiltFromTheDamagedOutbox() async throws {
        try await offPool {
            let dir = try TestDirectory()
            defer { dir.remove() }
            let damaged = try DamagedOutbox.make(in: dir, rows: 20_000)
            let reference = try OutboxFile.referenceSalvage(of: damaged)
            // Power lost mid-copy with synchronous=OFF: the temp file is garbage; the outbox was moved aside.
            let stamp = "20260101T000000000Z"
            try Data((0..<65_536).map { UInt8(($0 * 7) % 256) }).write(
                to: URL(fileURLWithPath: damaged.path + ".salvage-\(stamp)"))
            try FileManager.default.moveItem(atPath: damaged.path, toPath: damaged.path + ".corrupt-\(stamp)")

            let outbox = try Outbox(path: damaged.path, logger: logger)
            #expect(outbox.recovery?.resumed == true)
            #expect(try OutboxFile.rows(damaged.path) == reference)
            #expect(outbox.lastSeq == damaged.contents.lastSeq)
            #expect(try outbox.integrityCheck() == "ok")
        }
    }
}
