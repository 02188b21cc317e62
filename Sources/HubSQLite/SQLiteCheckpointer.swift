import DabbaCore
import DabbaSQLite
import HubModel
import Logging

/// Copies the store's WAL into the database file from a connection and thread of its own, so that the hub's commits
/// do not.
///
/// With SQLite's automatic checkpoint alone, the commit that takes the WAL past `wal_autocheckpoint` pages (10,000,
/// ~40 MB) copies all of it and syncs the database file before it returns: that commit — an ingest batch, or a
/// dispatch round's offers — waits ~30 ms longer (BENCHMARKS.md, the hub's dispatch round). A `PASSIVE` checkpoint
/// on another connection copies what has been committed while writers go on appending (it takes no writer lock and
/// never waits); once it has copied everything, the next write starts the WAL over. The store's automatic
/// checkpoint stays as the backstop: when this one falls behind, the commit that crosses the limit copies only the
/// rest.
package actor SQLiteCheckpointer {
    private let executor: ThreadExecutor
    package nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }
    private let db: SQLiteConnection

    /// What one checkpoint found: the WAL's frames and how many of them are now in the database file. Fewer when a
    /// read still needs the older pages (another connection's snapshot); `busy`, with both −1, when another
    /// connection's checkpoint held the lock (several hubs on one file). The next checkpoint copies the rest.
    package struct Outcome: Sendable, Equatable {
        package var frames: Int
        package var copied: Int
        package var busy: Bool

        /// Every frame is in the database file: the next write starts the WAL over.
        package var complete: Bool { !busy && copied == frames }
    }

    /// Opens a second connection to the store's file at `path` (after ``SQLiteHubStore`` has created and migrated
    /// it: the file must exist and be in WAL mode).
    package init(path: String) throws(StoreError) {
        do {
            db = try SQLiteConnection(path: path)
        } catch {
            throw StoreError(error)
        }
        executor = ThreadExecutor(name: "dabba-hub-wal")
    }

    /// One `PASSIVE` checkpoint, on the checkpointer's thread.
    package func checkpoint() throws(StoreError) -> Outcome {
        do {
            let result = try db.checkpoint("PASSIVE")
            return Outcome(frames: result.frames, copied: result.done, busy: result.busy)
        } catch {
            throw StoreError(error)
        }
    }

    /// Stops the thread (after the last checkpoint).
    package nonisolated func close() { executor.shutdown() }
}
