import Synchronization

/// What one order feed (`/v1/orders/{id}/live`) waits on: the order's events and the watched agent's fixes, posted
/// by ``OrderEventBus`` and ``FleetFeed`` from their publishers' threads, taken by the feed's one task.
///
/// Items stay in arrival order. Fixes are coalesced: a newer fix replaces the pending one in its place (the view
/// only shows the newest), so a slow client skips fixes and the hub never waits for it. Events are kept (an order
/// has a handful), the oldest dropped beyond `maxEvents`.
final class OrderFeedInbox: Sendable {
    enum Item: Sendable, Equatable {
        case event(OrderEvent)
        case position(StoredPosition)
        /// End the feed with this reason (e.g. a revoked share link).
        case close(String)
    }

    private struct State {
        var items: [Item] = []
        var events = 0
        var waiter: CheckedContinuation<Void, Never>?
        var finished = false
    }

    let maxEvents: Int
    private let state = Mutex(State())

    init(maxEvents: Int = 1_000) { self.maxEvents = maxEvents }

    /// Adds an item (nothing once finished).
    func post(_ item: Item) {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard !s.finished else { return nil }
            switch item {
            case .position:
                if let pending = s.items.firstIndex(where: { if case .position = $0 { true } else { false } }) {
                    s.items[pending] = item
                } else {
                    s.items.append(item)
                }
            case .event:
                if s.events == maxEvents, let oldest = s.items.firstIndex(where: { if case .event = $0 { true } else { false } }) {
                    s.items.remove(at: oldest)
                    s.events -= 1
                }
                s.items.append(item)
                s.events += 1
            case .close:
                s.items.append(item)
            }
            let w = s.waiter
            s.waiter = nil
            return w
        }
        waiter?.resume()
    }

    /// Ends the inbox (the client went): ``next()`` returns nil from now on, pending items are dropped.
    func finish() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            s.finished = true
            s.items = []
            let w = s.waiter
            s.waiter = nil
            return w
        }
        waiter?.resume()
    }

    /// Waits for items and takes all pending ones, in arrival order; nil once finished or when the task is cancelled.
    func next() async -> [Item]? {
        while true {
            let taken: [Item]?? = state.withLock { s in
                if s.finished { return .some(nil) }
                guard !s.items.isEmpty else { return nil }
                defer {
                    s.items = []
                    s.events = 0
                }
                return .some(s.items)
            }
            if let taken { return taken }
            if Task.isCancelled { return nil }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let resumeNow = state.withLock { s -> Bool in
                        if s.finished || !s.items.isEmpty { return true }
                        s.waiter = c
                        return false
                    }
                    if resumeNow { c.resume() }
                }
            } onCancel: {
                self.finish()
            }
        }
    }
}
