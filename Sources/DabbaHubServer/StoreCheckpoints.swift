import DabbaHub
import HubModel
import HubSQLite
import Logging
import ServiceLifecycle

/// The SQLite store's background checkpoints (``SQLiteCheckpointer``) until the application shuts down: one every
/// `interval`, or every `busyInterval` while the last one found at least `busyFrames` in the WAL, counted on
/// `/metrics` (`dabba_sqlite_checkpoints_total{result}`, `dabba_sqlite_wal_frames`). A failed one is logged and
/// counted and the next is tried an interval later; the store's own automatic checkpoint still bounds the WAL
/// meanwhile.
package struct StoreCheckpoints: Service {
    /// When little is written: each checkpoint copies a page once however many commits rewrote it since the last,
    /// so ingest's hot pages are not copied many times over, and the database file is synced once a second.
    package static let interval: Duration = .seconds(1)
    /// While much is written: the store's automatic checkpoint runs in the commit that takes the WAL past 10,000
    /// frames, and a dispatch round's benchmark writes that many in under a second (BENCHMARKS.md), so the WAL is
    /// copied ten times a second then.
    package static let busyInterval: Duration = .milliseconds(100)
    /// 1,000 frames (~4 MB) in the WAL at a checkpoint: busy.
    package static let busyFrames = 1_000

    let checkpointer: SQLiteCheckpointer
    let metrics: HubMetrics
    let logger: Logger
    let interval: Duration

    package init(
        checkpointer: SQLiteCheckpointer, metrics: HubMetrics, logger: Logger,
        interval: Duration = StoreCheckpoints.interval
    ) {
        self.checkpointer = checkpointer
        self.metrics = metrics
        self.logger = logger
        self.interval = interval
    }

    package func run() async throws {
        defer { checkpointer.close() }
        var wait = interval
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            // The wait ends early on graceful shutdown.
            try? await cancelWhenGracefulShutdown { [wait] in try await Task.sleep(for: wait) }
            guard !Task.isShuttingDownGracefully, !Task.isCancelled else { break }
            let frames = await checkpointOnce()
            wait = frames ?? 0 >= Self.busyFrames ? min(interval, Self.busyInterval) : interval
        }
    }

    /// One checkpoint, counted; the WAL's frames it found (nil when it failed).
    @discardableResult
    package func checkpointOnce() async -> Int? {
        do {
            let outcome = try await checkpointer.checkpoint()
            metrics.sqliteCheckpoints(outcome.complete ? "copied" : "partial").increment()
            // -1 when it could not run at all (another connection's checkpoint held the lock: several hubs on one
            // file); the gauge keeps the last real size.
            if outcome.frames >= 0 { metrics.sqliteWALFrames.record(outcome.frames) }
            return outcome.frames
        } catch {
            metrics.sqliteCheckpoints("failed").increment()
            logger.warning("WAL checkpoint failed", metadata: ["error": "\(error)"])
            return nil
        }
    }
}
