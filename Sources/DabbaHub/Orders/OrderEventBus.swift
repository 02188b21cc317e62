import HubModel
import Synchronization

/// The hub's internal stream of order events (after they are committed): each subscriber gets every event
/// published after it subscribed (or only one order's), in order. Subscribers that must not miss events across
/// restarts also read the durable ``OrderEventLog`` (the bus then only wakes them).
package final class OrderEventBus: Sendable {
    private struct Subscribers {
        var all: [Int: AsyncStream<OrderEvent>.Continuation] = [:]
        /// One order's subscribers (the customers' feeds): called on the publisher's thread.
        var byOrder: [String: [Int: @Sendable (OrderEvent) -> Void]] = [:]
        /// Newest event id published per order: the same event arriving twice (published here, then echoed by
        /// the broker from `dabba/v1/orders/{order}/status`) or late is dropped.
        var newest: [String: Int64] = [:]
    }
    /// Orders remembered for de-duplication before the memory is cleared (an event older than a forgotten
    /// order's newest could then pass again: only after this many other orders moved).
    static let rememberedOrders = 200_000
    private let subscribers = Mutex(Subscribers())
    private let nextID = Atomic<Int>(1)

    package init() {}

    /// A stream of the events published from now on; it ends when the subscriber stops iterating or the bus
    /// finishes. `buffer` bounds what a slow subscriber holds (oldest dropped first).
    package func subscribe(buffer: Int = 10_000) -> AsyncStream<OrderEvent> {
        let id = nextID.add(1, ordering: .relaxed).oldValue
        let (stream, continuation) = AsyncStream.makeStream(
            of: OrderEvent.self, bufferingPolicy: .bufferingNewest(buffer))
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.all.removeValue(forKey: id) }
        }
        subscribers.withLock { $0.all[id] = continuation }
        return stream
    }

    /// Calls `deliver` with each event of `order` published from now on, on the publishing thread (it must not
    /// block), until the subscription is cancelled.
    package func subscribe(order: String, _ deliver: @escaping @Sendable (OrderEvent) -> Void) -> Subscription {
        let id = nextID.add(1, ordering: .relaxed).oldValue
        subscribers.withLock { $0.byOrder[order, default: [:]][id] = deliver }
        return Subscription { [weak self] in
            self?.subscribers.withLock { s in
                s.byOrder[order]?.removeValue(forKey: id)
                if s.byOrder[order]?.isEmpty == true { s.byOrder.removeValue(forKey: order) }
            }
        }
    }

    /// One order's subscription; ``cancel()`` ends it (idempotent).
    package struct Subscription: Sendable {
        let onCancel: @Sendable () -> Void

        package func cancel() { onCancel() }
    }

    /// Hands `event` to every subscriber of all orders and of its order (never blocks). Returns false, and hands
    /// it to nobody, when an event of that order with this id or a newer one was already published.
    @discardableResult
    package func publish(_ event: OrderEvent) -> Bool {
        let targets = subscribers.withLock {
            s -> (all: [AsyncStream<OrderEvent>.Continuation], order: [@Sendable (OrderEvent) -> Void])? in
            if let newest = s.newest[event.order], newest >= event.id { return nil }
            if s.newest.count >= Self.rememberedOrders { s.newest.removeAll(keepingCapacity: true) }
            s.newest[event.order] = event.id
            return (Array(s.all.values), s.byOrder[event.order].map { Array($0.values) } ?? [])
        }
        guard let targets else { return false }
        for continuation in targets.all { continuation.yield(event) }
        for deliver in targets.order { deliver(event) }
        return true
    }

    /// Ends every stream (shutdown); one order's subscriptions just receive nothing more.
    package func finish() {
        let targets = subscribers.withLock { s in
            s.byOrder.removeAll()
            return Array(s.all.values)
        }
        for continuation in targets { continuation.finish() }
    }

    package var subscriberCount: Int {
        subscribers.withLock { s in s.all.count + s.byOrder.values.reduce(0) { $0 + $1.count } }
    }
}
