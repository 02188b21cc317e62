@testable import DabbaAgent
import DabbaProtocol
import DabbaSQLite
import DabbaTestSupport
import Foundation
import Logging
import Testing

@Suite struct OutboxTests {
    let logger = Logger(label: "test")

    func fixPayload(_ seq: Int64) -> [UInt8] {
        PayloadCoding.encode(Fix(agent: "a-1", seq: seq, time: "2026-11-25T10:00:00.000Z", lat: 1, lon: 2))
    }

    @Test func seqsAreDurableAndNeverReused() throws {
        let dir = try TestDirectory()
        defer { dir.remove() }
        let path = dir.path("outbox.db")
        do {
            let outbox = try Outbox(path: path, logger: logger)
            for i in 1...10 {
                let row = try outbox.append(kind: .fix, time: Int64(i), makePayload: fixPayload)
                #expect(row.seq == Int64(i))
            }
            #expect(try outbox.delete([1...10]) == 10)
            #expect(outbox.depth == 0)
            #expect(try outbox.closeCleanly())
        }
        // Every row was deleted; after a clean stop the next seq continues from 11 (OutboxSeqTests: after a crash
        // it continues above the sidecar's reservation).
        let reopened = try Outbox(path: path, logger: logger)
        #expect(reopened.lastSeq == 10)
        #expect(try reopened.append(kind: .fix, time: 11, makePayload: fixPayload).seq == 11)
        #expect(try reopened.integrityCheck() == "ok")
    }

    /// Acked rows are deleted without waiting for the disk (`synchronous = NORMAL` for that commit), but appends
    /// keep FULL, and the deletes are there when the outbox is opened again.
    @Test func deletesDoNotWaitForTheDiskButAppendsStayFull() throws {
        let dir = try TestDirectory()
        defer { dir.remove() }
        let path = dir.path("outbox.db")
        do {
            let outbox = try Outbox(path: path, logger: logger)
            #expect(try outbox.db.scalarInt("PRAGMA synchronous") == 2)  // FULL
            for i in 1...20 { _ = try outbox.append(kind: .fix, time: Int64(i), makePayload: fixPayload) }
            #expect(try outbox.delete([1...5, 8...9]) == 7)
            #expect(try outbox.db.scalarInt("PRAGMA synchronous") == 2, "FULL again after the delete")
            _ = try outbox.append(kind: .fix, time: 21, makePayload: fixPayload)
            #expect(try outbox.db.scalarInt("PRAGMA synchronous") == 2)
        }
        let reopened = try Outbox(path: path, logger: logger)
        #expect(reopened.depth == 14)
        #expect(try reopened.rows(after: 0, limit: 100).map(\.seq) == [6, 7] + Array(10...21))
        #expect(try reopened.integrityCheck() == "ok")
    }

    @Test func rowsComeOldestFirstAfterACursor() throws {
        let dir = try TestDirectory()
        defer { dir.remove() }
        let outbox = try Outbox(path: dir.path("o.db"), logger: logger)
        for i in 1...20 { try outbox.append(kind: i % 5 == 0 ? .event : .fix, time: Int64(i), makePayload: fixPayload) }
        try outbox.delete([3...4])
        let rows = try outbox.rows(after: 2, limit: 5)
        #expect(rows.map(\.seq) == [5, 6, 7, 8, 9])
        #expect(rows.first?.kind == .event)
        #expect(try outbox.oldestTime() == 1)
        #expect(try outbox.newestRow(kind: .fix)?.seq == 19)
    }

    @Test func fullOutboxThinsOldFixesButNeverEventsOrTheNewest() throws {
        let dir = try TestDirectory()
        defer { dir.remove() }
        var options = Outbox.Options()
        options.maxRows = 100
        let outbox = try Outbox(path: dir.path("o.db"), options: options, logger: logger)
        var events: [Int64] = []
        for i in 1...100 {
            let kind: Outbox.Kind = i % 10 == 0 ? .event : .fix
            let row = try outbox.append(kind: kind, time: Int64(i), makePayload: fixPayload)
            if kind == .event { events.append(row.seq) }
        }
        #expect(outbox.depth == 100)
        #expect(outbox.thinnedTotal == 0)
        // The 101st row triggers thinning: among the oldest 50 fixes, every second one goes.
        try outbox.append(kind: .fix, time: 101, makePayload: fixPayload)
        #expect(outbox.thinnedTotal == 25)
        #expect(outbox.depth == 100 - 25 + 1)
        let remaining = try outbox.rows(after: 0, limit: 1000)
        let seqs = Set(remaining.map(\.seq))
        for e in events { #expect(seqs.contains(e), "event \(e) was thinned") }
        #expect(seqs.contains(101))
        #expect(seqs.contains(100 - 1))  // the newer half is untouched
        // Kept fixes in the thinned stretch alternate: 1 kept, 2 gone, 3 kept, 4 gone …
        #expect(seqs.contains(1) && !seqs.contains(2) && seqs.contains(3) && !seqs.contains(4))
        // Seqs keep counting; the thinned count survives a reopen.
        let reopened = try Outbox(path: dir.path("o.db"), options: options, logger: logger)
        #expect(reopened.thinnedTotal == 25)
        #expect(reopened.lastSeq >= 101)
    }

    @Test func garbageFileIsMovedAsideAndAFreshOutboxOpens() throws {
        let dir = try TestDirectory()
        defer { dir.remove() }
        let path = dir.path("outbox.db")
        try Data((0..<65536).map { UInt8(($0 * 7) % 256) }).write(to: URL(fileURLWithPath: path))
        let outbox = try Outbox(path: path, logger: logger)
        let recovery = try #require(outbox.recovery)
        #expect(recovery.movedTo.hasPrefix(path + ".corrupt-"))
        #expect(FileManager.default.fileExists(atPath: recovery.movedTo))
        #expect(recovery.salvagedRows == 0)
        // Unknown last seq: a safety margin so seqs already sent are never reused.
        #expect(recovery.seqMargin)
        #expect(try outbox.append(kind: .fix, time: 1, makePayload: fixPayload).seq > 10_000)
        #expect(try outbox.integrityCheck() == "ok")
    }

    @Test func damagedPagesAreSalvagedRowByRow() throws {
        let dir = try TestDirectory()
        defer { dir.remove() }
        let path = dir.path("outbox.db")
        do {
            let outbox = try Outbox(path: path, logger: logger)
            for i in 1...3000 { try outbox.append(kind: .fix, time: Int64(i), makePayload: fixPayload) }
            #expect(try outbox.checkpoint())
        }
        // Overwrite a few pages in the middle of the table with garbage.
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        let size = try handle.seekToEnd()
        try handle.seek(toOffset: size / 2)
        handle.write(Data(repeating: 0xA5, count: 3 * 4096))
        try handle.close()

        let outbox = try Outbox(path: path, logger: logger)
        let recovery = try #require(outbox.recovery)
        #expect(recovery.salvagedRows > 1000, "salvaged \(recovery.salvagedRows)")
        #expect(recovery.salvagedRows < 3000)
        #expect(outbox.depth == recovery.salvagedRows)
        #expect(outbox.lastSeq >= 3000)
        #expect(try outbox.append(kind: .fix, time: 1, makePayload: fixPayload).seq > 3000)
        #expect(try outbox.integrityCheck() == "ok")
    }

    @Test func diskFullIsReportedAndRecoverable() throws {
        let dir = try TestDirectory()
        defer { dir.remove() }
        var options = Outbox.Options()
        options.maxPageCount = 30
        let outbox = try Outbox(path: dir.path("o.db"), options: options, logger: logger)
        var full: SQLiteError?
        for i in 1...5000 {
            do { try outbox.append(kind: .fix, time: Int64(i), makePayload: fixPayload) } catch {
                full = error
                break
            }
        }
        #expect(full?.isFull == true)
        let stored = outbox.depth
        let seqBefore = outbox.lastSeq
        // Nothing stored was damaged, and deleting acked rows makes room again.
        #expect(try outbox.integrityCheck() == "ok")
        try outbox.delete([1...Int64(stored / 2)])
        let row = try outbox.append(kind: .fix, time: 1, makePayload: fixPayload)
        #expect(row.seq == seqBefore + 1)
    }
}

@Suite struct OutboxSeqGuardTests {
    let logger = Logger(label: "test")

    func fixPayload(_ seq: Int64) -> [UInt8] {
        Fix(agent: "a-1", seq: seq, time: "2026-11-25T10:00:00.000Z", lat: 1, lon: 2).jsonBytes()
    }

    @Test func damagedHeaderAfterAcksNeverReusesSeqs() throws {
        let dir = try TestDirectory()
        defer { dir.remove() }
        let path = dir.path("outbox.db")
        var used: Int64 = 0
        do {
            let outbox = try Outbox(path: path, logger: logger)
            for i in 1...300 { used = try outbox.append(kind: .fix, time: Int64(i), makePayload: fixPayload).seq }
            try outbox.delete([1...295])  // almost everything acked and gone
            #expect(try outbox.checkpoint())
        }
        // Zero the database header: meta is unreadable, and so is every row.
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        handle.write(Data(repeating: 0, count: 100))
        try handle.close()
        let outbox = try Outbox(path: path, logger: logger)
        #expect(outbox.recovery != nil)
        #expect(outbox.recovery?.seqMargin == false)  // the sidecar knew the floor
        #expect(try outbox.append(kind: .fix, time: 1, makePayload: fixPayload).seq > used)
    }

    @Test func seqsSentLiveOnAFullDiskAreNotReusedAfterARestart() throws {
        let dir = try TestDirectory()
        defer { dir.remove() }
        let path = dir.path("outbox.db")
        var volatile: [Int64] = []
        do {
            var options = Outbox.Options()
            options.maxPageCount = 30
            let outbox = try Outbox(path: path, options: options, logger: logger)
            while (try? outbox.append(kind: .fix, time: 1, makePayload: fixPayload)) != nil {}
            for _ in 0..<5 { volatile.append(try #require(outbox.reserveVolatileSeq())) }
        }
        #expect(volatile == volatile.sorted() && Set(volatile).count == 5)
        let reopened = try Outbox(path: path, logger: logger)
        #expect(reopened.lastSeq >= volatile.last!)
        #expect(try reopened.append(kind: .fix, time: 2, makePayload: fixPayload).seq > volatile.last!)
    }
}

/// The outbox's WAL stays bounded while recording, reading the newest row and tasks, and deleting acked rows
/// (issue 12: a lookup that returned without resetting its statement held a read open, so no checkpoint could
/// reset the WAL and it grew ~9 KB per fix until the disk was full).
@Suite struct OutboxWALTests {
    let logger = Logger(label: "test")

    static func walBytes(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path + "-wal"))?[.size] as? NSNumber)?.intValue ?? 0
    }

    @Test func walStaysBoundedWhileRecordingReadingAndAcking() async throws {
        try await offPool {
            let dir = try TestDirectory()
            defer { dir.remove() }
            let path = dir.path("outbox.db")
            var options = Outbox.Options()
            options.synchronous = "NORMAL"  // fewer fsyncs on a busy CI disk; the WAL behaves the same
            let outbox = try Outbox(path: path, options: options, logger: logger)
            let task = AgentTask(status: "assigned", task: TaskMessage(agent: "a-1", order: "o-1", type: .assigned))
            try outbox.saveTask(task, now: 1)
            let rows = 6_000
            var largest = 0
            for i in 1...rows {
                let time = 1_795_082_400_000 + Int64(i) * 1000
                try outbox.append(kind: i % 50 == 0 ? .event : .fix, time: time) { seq in
                    PayloadCoding.encode(
                        Fix(
                            agent: "a-1", seq: seq, time: Timestamp.format(milliseconds: time), lat: 22.3, lon: 87.3,
                            alt: 31.5, speed: 7.25, track: 181.5, hacc: 3.2, mode: 3))
                }
                // What the engine does between commits: the newest fix for `status`, a task lookup, a window of rows.
                if i % 10 == 0 {
                    #expect(try outbox.newestRow(kind: .fix)?.seq == Int64(i) || i % 50 == 0)
                    _ = try outbox.rows(after: Int64(max(0, i - 100)), limit: 10)
                    #expect(try outbox.task(order: "o-1") == task)
                }
                if i % 100 == 0 { #expect(try outbox.delete([1...Int64(i - 50)]) >= 0) }
                largest = max(largest, Self.walBytes(path))
            }
            // The bound: the size the WAL is truncated to plus one transaction's pages (a few pages here).
            let bound = Outbox.walSizeLimit + 256 * 1024
            #expect(largest <= bound, "WAL reached \(largest) bytes (bound \(bound)) over \(rows) commits")
            #expect(try outbox.checkpoint(), "a read was left open: the checkpoint could not finish")
            #expect(Self.walBytes(path) == 0)
            #expect(outbox.depth == 50 && outbox.lastSeq == Int64(rows))
        }
    }
}
