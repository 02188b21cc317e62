import DabbaCore
import HubModel
import Logging
import Synchronization

/// Dispatch on exactly one hub of several (`ingest-group` set): a lease named `dispatch` in the database
/// (``LeaseRepository``), `dispatch-lease` long (default 10 s). Every hub asks for it every third of its length; the
/// holder's ask renews it, the others' succeed only once it has expired. Only the holder runs dispatch rounds (the
/// service's ticks and wake-ups, and the rounds REST actions ask for); the others still serve every route and
/// re-send their own tasks after a reconnect.
///
/// A hub counts the lease as held until the ``ContinuousClock`` instant its ask started plus the length — never
/// later than the expiry the database recorded, so once another hub can take it (its wall clock past that expiry,
/// hubs' clocks synchronised) the old holder has stopped starting rounds. A round already running then finishes;
/// the store's conditional writes (one pending offer per order, ``AssignmentLimits`` in each assignment's
/// transaction) keep such an overlap harmless. After the holder dies another hub takes over within the lease plus one
/// renewal period (≤ 4⁄3 of the lease, plus a round trip to the database); a graceful stop releases the lease so
/// another hub takes it at its next ask. A failed ask (database unreachable) keeps nothing: the hub's view lapses on
/// its own. `dabba_dispatch_lease_held` shows 1 on the holder.
package final class DispatchLease: Sendable {
    /// The lease's name in the database.
    package static let name = "dispatch"

    let store: any LeaseRepository
    /// This hub's name as a holder (its ``HubComponents/hubID``).
    package let holder: String
    package let length: Duration
    let metrics: HubMetrics
    let logger: Logger
    /// The wall clock (Unix ms) written into the database.
    let clock: @Sendable () -> Int64
    /// Until when this hub counts the lease as its own (nil: not held).
    private let heldUntil = Mutex<ContinuousClock.Instant?>(nil)

    package init(
        store: any LeaseRepository, holder: String, length: Duration, metrics: HubMetrics, logger: Logger,
        clock: @escaping @Sendable () -> Int64 = { wallClockMilliseconds() }
    ) {
        self.store = store
        self.holder = holder
        self.length = length
        self.metrics = metrics
        self.logger = logger
        self.clock = clock
    }

    /// True while this hub holds the lease (by its own clock, conservatively).
    package var isHeld: Bool {
        heldUntil.withLock { until in until.map { ContinuousClock.now < $0 } ?? false }
    }

    /// Asks for the lease once (acquire or renew); returns whether this hub holds it now.
    @discardableResult
    package func renew() async -> Bool {
        let started = ContinuousClock.now
        let now = clock()
        let wasHeld = isHeld
        let held: Bool
        do {
            held = try await store.acquireLease(
                Self.name, holder: holder, now: now, until: now + length.dabbaMilliseconds)
        } catch {
            metrics.dispatchLeaseErrors.increment()
            logger.error("Cannot renew the dispatch lease", metadata: ["error": "\(error)"])
            metrics.dispatchLeaseHeld.record(isHeld ? 1 : 0)
            return isHeld
        }
        heldUntil.withLock { $0 = held ? started + length : nil }
        metrics.dispatchLeaseHeld.record(held ? 1 : 0)
        if held != wasHeld {
            logger.info(
                held ? "Dispatch lease taken: this hub dispatches" : "Dispatch lease lost: another hub dispatches",
                metadata: ["hub.id": "\(holder)"])
        }
        return held
    }

    /// Gives the lease up (graceful stop), so another hub takes over at its next ask.
    package func release() async {
        heldUntil.withLock { $0 = nil }
        metrics.dispatchLeaseHeld.record(0)
        do {
            try await store.releaseLease(Self.name, holder: holder)
        } catch {
            metrics.dispatchLeaseErrors.increment()
            logger.error("Cannot release the dispatch lease", metadata: ["error": "\(error)"])
        }
    }

    /// Asks every third of the lease until cancelled; calls `acquired` each time the lease becomes this hub's (a
    /// round should run at once: orders may have waited for the old holder).
    func run(acquired: @Sendable () -> Void) async {
        while !Task.isCancelled {
            let wasHeld = isHeld
            if await renew(), !wasHeld { acquired() }
            try? await Task.sleep(for: length / 3)
        }
    }
}
