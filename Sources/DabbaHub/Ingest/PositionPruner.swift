import DabbaCore
import HubModel
import Logging
import ServiceLifecycle

/// Deletes positions older than `position-retention-days` in the background: in chunks, with a pause between them,
/// so ingest's commits interleave and never wait long. The newest position of every agent is always kept.
package struct PositionPruner: Service {
    let store: any HubStore
    let retentionDays: Int
    let interval: Duration
    let chunk: Int
    let logger: Logger

    package init(
        store: any HubStore, retentionDays: Int, interval: Duration = .seconds(3600), chunk: Int = 5000, logger: Logger
    ) {
        self.store = store
        self.retentionDays = retentionDays
        self.interval = interval
        self.chunk = chunk
        self.logger = logger
    }

    package func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            _ = await pruneOnce()
            // The wait ends early on graceful shutdown, so SIGTERM (and the tests' shutdown) never waits an hour.
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    /// One pass: deletes everything older than the retention, a chunk at a time (bounded: at most 10,000 chunks).
    /// Returns how many positions went.
    @discardableResult
    package func pruneOnce(now: Int64 = wallClockMilliseconds()) async -> Int {
        let cutoff = now - Int64(retentionDays) * 86_400_000
        var total = 0
        for _ in 0..<10_000 {
            guard !Task.isShuttingDownGracefully, !Task.isCancelled else { break }
            let removed: Int
            do {
                removed = try await store.prunePositions(before: cutoff, limit: chunk)
            } catch {
                logger.error("Pruning positions failed", metadata: ["error": "\(error)"])
                break
            }
            total += removed
            if removed < chunk { break }
            try? await Task.sleep(for: .milliseconds(20))
        }
        if total > 0 {
            logger.info("Pruned old positions", metadata: ["prune.rows": "\(total)", "prune.days": "\(retentionDays)"])
        }
        return total
    }
}
