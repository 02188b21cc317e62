import DabbaSQLite
import DabbaTestSupport
import HubModel
import Testing

@testable import HubSQLite

/// The store's background checkpoints (``SQLiteCheckpointer``), on a real file with the store writing to it.
@Suite struct SQLiteCheckpointerTests {
    /// A fresh store with agent `a-1` and a checkpointer on its file.
    struct Rig {
        let directory: TestDirectory
        let path: String
        let store: SQLiteHubStore
        let checkpointer: SQLiteCheckpointer

        init(_ name: String) async throws {
            directory = try TestDirectory(name)
            path = directory.path("hub.db")
            store = try await SQLiteHubStoreRecoveryTests.open(path)
            let path = path
            checkpointer = try await offPool { try SQLiteCheckpointer(path: path) }
            _ = try await store.createAgent(id: "a-1", name: "Ravi")
        }

        func close() {
            checkpointer.close()
            store.close()
            directory.remove()
        }
    }

    @Test func aCheckpointCopiesWhatTheStoreCommittedAndTheWALStartsOver() async throws {
        let rig = try await Rig("hub-sqlite-checkpoint")
        defer { rig.close() }
        let (path, store, checkpointer) = (rig.path, rig.store, rig.checkpointer)
        _ = try await store.store(positions: SQLiteHubStoreRecoveryTests.fixes("a-1", count: 500), events: [])

        let first = try await checkpointer.checkpoint()
        #expect(first.frames > 0 && first.complete, "\(first)")
        // Nothing new: nothing to copy, and the same answer.
        #expect(try await checkpointer.checkpoint() == first)
        // The next write starts the WAL over (everything in it was copied): far fewer frames than before.
        _ = try await store.createAgent(id: "a-2", name: "Asha")
        let next = try await checkpointer.checkpoint()
        #expect(next.frames > 0 && next.frames < first.frames && next.complete, "\(next) after \(first)")
        #expect(try await store.agent(id: "a-2")?.name == "Asha")
        #expect(try SQLiteHubStoreRecoveryTests.integrity(path) == "ok")
    }

    /// A reader on an older snapshot keeps the frames after it in the WAL: the checkpoint copies what it may, and
    /// the rest once the read is over.
    @Test func aReadInProgressHoldsBackWhatItMightStillNeed() async throws {
        let rig = try await Rig("hub-sqlite-checkpoint-busy")
        defer { rig.close() }
        let (path, store, checkpointer) = (rig.path, rig.store, rig.checkpointer)
        // A reader (another process would do the same: the sqlite3 tool, an admin command) opens a snapshot.
        let reader = try SQLiteConnection(path: path, readOnly: true)
        let read = try reader.prepare("SELECT id FROM agents")
        #expect(try read.step())
        _ = try await store.store(positions: SQLiteHubStoreRecoveryTests.fixes("a-1", count: 200), events: [])
        let held = try await checkpointer.checkpoint()
        #expect(!held.complete && held.copied < held.frames, "\(held)")
        read.reset()
        let done = try await checkpointer.checkpoint()
        #expect(done.complete && done.frames == held.frames, "\(done) after \(held)")
    }

    /// Several hubs on one file each run their checkpoints: at the same time as each other and as the store's
    /// commits, none fails, every row stays, and the WAL is all copied in the end.
    @Test func twoCheckpointersOnOneFileAlongsideCommits() async throws {
        let rig = try await Rig("hub-sqlite-checkpoint-two")
        defer { rig.close() }
        let (path, store, first) = (rig.path, rig.store, rig.checkpointer)
        let second = try await offPool { try SQLiteCheckpointer(path: path) }
        defer { second.close() }
        let fixes = SQLiteHubStoreRecoveryTests.fixes("a-1", count: 2_000)
        var outcomes: [SQLiteCheckpointer.Outcome] = []
        for batch in stride(from: 0, to: fixes.count, by: 100) {
            async let a = first.checkpoint()
            async let b = second.checkpoint()
            _ = try await store.store(positions: Array(fixes[batch..<batch + 100]), events: [])
            outcomes += [try await a, try await b]
        }
        #expect(outcomes.allSatisfy { $0.busy ? $0.frames == -1 : $0.copied <= $0.frames }, "\(outcomes)")
        #expect(outcomes.contains { $0.copied > 0 })
        #expect(try await first.checkpoint().complete)
        #expect(
            try await store.positions(agent: "a-1", since: nil, until: nil, after: nil, limit: 5_000).count == 2_000)
        #expect(try SQLiteHubStoreRecoveryTests.integrity(path) == "ok")
    }
}
