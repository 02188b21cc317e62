import HubModel
import Synchronization

/// What one order feed (`/v1/orders/{id}/live`) has to write: the order's events and the watched agent's fixes,
/// posted by ``OrderEventBus`` and ``FleetFeed`` from their publishers' threads.
///
/// Nothing waits on the inbox. The feed has no writing task of its own: when items arrive and no writer runs, the
/// inbox calls its `startWriter` closure, which starts a short-lived task that ``take()``s until the inbox is
/// empty. So at most one writer runs per feed (frames stay in order), and an idle feed holds no writer's memory
/// (with 10,000 feeds open, per-task memory is most of the hub's: BENCHMARKS.md).
///
/// Items stay in arrival order. Fixes are coalesced: a newer fix replaces the pending one in its place (the view
/// only shows the newest), so a slow client skips fixes and the hub never waits for it. Events are kept (an order
/// has a handful), the oldest dropped beyond `maxEvents`. A re-check of the viewer's access is kept once.
final class OrderFeedInbox: Sendable {
    enum Item: Sendable, Equatable {
        case event(OrderEvent)
        case position(StoredPosition)
        /// Check that the feed's viewer may still see it (posted by the feed's timers); one pending at most.
        case recheck
    }

    private struct State {
        var items: [Item] = []
        var events = 0
        /// A writer owns the feed. True from the start: the feed's first writer (the snapshot's) is started by
        /// ``start(_:)``, not by a post.
        var writing = true
        var finished = false
        var startWriter: (@Sendable () -> Void)?
    }

    let maxEvents: Int
    private let state = Mutex(State())

    init(maxEvents: Int = 1_000) { self.maxEvents = maxEvents }

    /// Adds an item (nothing once finished); starts a writer when none runs.
    func post(_ item: Item) {
        let start = state.withLock { s -> (@Sendable () -> Void)? in
            guard !s.finished else { return nil }
            switch item {
            case .position:
                if let pending = s.items.firstIndex(where: { if case .position = $0 { true } else { false } }) {
                    s.items[pending] = item
                } else {
                    s.items.append(item)
                }
            case .event:
                if s.events == maxEvents,
                    let oldest = s.items.firstIndex(where: { if case .event = $0 { true } else { false } })
                {
                    s.items.remove(at: oldest)
                    s.events -= 1
                }
                s.items.append(item)
                s.events += 1
            case .recheck:
                if !s.items.contains(.recheck) { s.items.append(item) }
            }
            guard !s.writing, let startWriter = s.startWriter else { return nil }
            s.writing = true
            return startWriter
        }
        start?()
    }

    /// Sets how writers are started and starts the first one (which owns the feed until its ``take()`` finds the
    /// inbox empty).
    func start(_ startWriter: @escaping @Sendable () -> Void) {
        let start = state.withLock { s -> Bool in
            guard !s.finished else { return false }
            s.startWriter = startWriter
            return true
        }
        if start { startWriter() }
    }

    /// For the running writer: everything pending, in arrival order, or nil when there is nothing (the writer then
    /// stops; the next post starts another) or the inbox is finished.
    func take() -> [Item]? {
        state.withLock { s in
            guard !s.finished, !s.items.isEmpty else {
                s.writing = false
                return nil
            }
            defer {
                s.items = []
                s.events = 0
            }
            return s.items
        }
    }

    /// Ends the inbox (the client went or the feed ended): pending items are dropped and no writer starts again.
    func finish() {
        let startWriter = state.withLock { s -> (@Sendable () -> Void)? in
            s.finished = true
            s.items = []
            defer { s.startWriter = nil }
            return s.startWriter
        }
        _ = startWriter  // released outside the lock (it holds the feed's session)
    }
}
