@testable import DabbaAgent
import DabbaProtocol
import DabbaSQLite
import DabbaTestSupport
import Foundation
import Logging
import Testing

/// A seq is never issued twice for one agent id, whatever happened to the outbox file (issue 12, item 2). The next
/// seq is always above the seq sidecar's fsync'd reservation; a clean stop gives the unused part back.
@Suite struct OutboxSeqTests {
    let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    func fix(_ seq: Int64) -> [UInt8] {
        PayloadCoding.encode(Fix(agent: "a-1", seq: seq, time: "2026-11-25T10:00:00.000Z", lat: 1, lon: 2))
    }

    func event(_ seq: Int64) -> [UInt8] {
        AgentEvent(agent: "a-1", seq: seq, time: "2026-11-25T10:00:00.000Z", order: "", type: .shiftStarted)
            .jsonBytes()
    }

    /// Removes the database and its WAL and shared-memory files, keeping `<outbox>.seq`.
    func deleteOutboxFiles(_ path: String) {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    @Test func deletedOutboxFilesWithTheSidecarKeptNeverReuseASeq() throws {
        let dir = try TestDirectory()
        defer { dir.remove() }
        let path = dir.path("outbox.db")
        var issued: Int64 = 0
        do {
            let outbox = try Outbox(path: path, logger: logger)
            for i in 1...50 { issued = try outbox.append(kind: .fix, time: Int64(i), makePayload: fix).seq }
        }
        deleteOutboxFiles(path)
        #expect(FileManager.default.fileExists(atPath: path + ".seq"))
        let fresh = try Outbox(path: path, logger: logger)
        #expect(fresh.depth == 0)
        let next = try fresh.append(kind: .fix, time: 51, makePayload: fix).seq
        #expect(next > issued, "seq \(next) was issued before")
    }

    @Test func eventOnlyHistoriesReserveTheirSeqsToo() throws {
        let dir = try TestDirectory()
        defer { dir.remove() }
        let path = dir.path("outbox.db")
        var issued: Int64 = 0
        do {
            let outbox = try Outbox(path: path, logger: logger)
            for i in 1...3 { issued = try outbox.recordAction(task: nil, time: Int64(i), makeEvent: event).seq }
        }
        deleteOutboxFiles(path)
        let fresh = try Outbox(path: path, logger: logger)
        let next = try fresh.recordAction(task: nil, time: 4, makeEvent: event).seq
        #expect(next > issued, "event seq \(next) was issued before")
    }

    @Test func powerLossWithNormalSyncNeverReusesASeq() throws {
        let dir = try TestDirectory()
        defer { dir.remove() }
        let path = dir.path("outbox.db")
        var options = Outbox.Options()
        options.synchronous = "NORMAL"
        var issued: Int64 = 0
        do {
            let outbox = try Outbox(path: path, options: options, logger: logger)
            for i in 1...100 { issued = try outbox.append(kind: .fix, time: Int64(i), makePayload: fix).seq }
            // What a power cut leaves on disk with synchronous=NORMAL: the files as they were some commits ago
            // (copied mid-run here), while the fixes after that had already been sent live.
            for suffix in ["", "-wal"] {
                try FileManager.default.copyItem(atPath: path + suffix, toPath: dir.path("snapshot" + suffix))
            }
            for i in 101...150 { issued = try outbox.append(kind: .fix, time: Int64(i), makePayload: fix).seq }
        }
        deleteOutboxFiles(path)
        for suffix in ["", "-wal"] {
            try FileManager.default.moveItem(atPath: dir.path("snapshot" + suffix), toPath: path + suffix)
        }
        let reopened = try Outbox(path: path, options: options, logger: logger)
        #expect(reopened.depth == 100, "the snapshot holds the first 100 rows")
        let next = try reopened.append(kind: .fix, time: 151, makePayload: fix).seq
        #expect(next > issued, "seq \(next) was sent live before the power cut")
    }

    @Test func aCleanStopGivesTheUnusedReservationBack() throws {
        let dir = try TestDirectory()
        defer { dir.remove() }
        let path = dir.path("outbox.db")
        do {
            let outbox = try Outbox(path: path, logger: logger)
            for i in 1...10 { try outbox.append(kind: .fix, time: Int64(i), makePayload: fix) }
            #expect(try outbox.closeCleanly())
        }
        // A clean restart continues without a gap …
        do {
            let reopened = try Outbox(path: path, logger: logger)
            #expect(reopened.lastSeq == 10)
            #expect(try reopened.append(kind: .fix, time: 11, makePayload: fix).seq == 11)
            // … and a crash (no clean stop) skips what was reserved: never lower, possibly higher.
        }
        let afterCrash = try Outbox(path: path, logger: logger)
        #expect(afterCrash.lastSeq > 11)
        #expect(afterCrash.lastSeq <= 11 + SeqGuard.block)
    }
}
