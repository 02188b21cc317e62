import Synchronization

/// The hub's internal stream of order events (after they are committed): each subscriber gets every event
/// published after it subscribed (or only one order's), in order. Subscribers that must not miss events across
/// restarts also read the durable ``OrderEventLog`` (the bus then only wakes them).
public final class OrderEventBus: Sendable {
    private struct Subscribers {
        var all: [Int: AsyncStream<OrderEvent>.Continuation] = [:]
        var byOrder: [String: [Int: AsyncStream<OrderEvent>.Continuation]] = [:]
        /// Newest event id published per order: the same event arriving twice (published here, then echoed by
        /// the broker from `dabba/v1/orders/{order}/status`) or late is dropped.
        var newest: [String: Int64] = [:]
    }
    /// Orders remembered for de-duplication before the memory is cleared (an event older than a forgotten
    /// order's newest could then pass again: only after this many other orders moved).
    static let rememberedOrders = 200_000
    private let subscribers = Mutex(Subscribers())
    private let nextID = Atomic<Int>(1)

    public init() {}

    /// A stream of the events published from now on (only `order`'s when given); it ends when the subscriber stops
    /// iterating or the bus finishes. `buffer` bounds what a slow subscriber holds (oldest dropped first).
    public func subscribe(order: String? = nil, buffer: Int = 10_000) -> AsyncStream<OrderEvent> {
        let id = nextID.add(1, ordering: .relaxed).oldValue
        let (stream, continuation) = AsyncStream.makeStream(
            of: OrderEvent.self, bufferingPolicy: .bufferingNewest(buffer))
        continuation.onTermination = { [weak self] _ in
            self?.subscribers.withLock { s in
                if let order {
                    s.byOrder[order]?.removeValue(forKey: id)
                    if s.byOrder[order]?.isEmpty == true { s.byOrder.removeValue(forKey: order) }
                } else {
                    s.all.removeValue(forKey: id)
                }
            }
        }
        subscribers.withLock { s in
            if let order { s.byOrder[order, default: [:]][id] = continuation } else { s.all[id] = continuation }
        }
        return stream
    }

    /// Hands `event` to every subscriber of all orders and of its order (never blocks). Returns false, and hands
    /// it to nobody, when an event of that order with this id or a newer one was already published.
    @discardableResult
    public func publish(_ event: OrderEvent) -> Bool {
        let targets = subscribers.withLock { s -> [AsyncStream<OrderEvent>.Continuation]? in
            if let newest = s.newest[event.order], newest >= event.id { return nil }
            if s.newest.count >= Self.rememberedOrders { s.newest.removeAll(keepingCapacity: true) }
            s.newest[event.order] = event.id
            return Array(s.all.values) + Array((s.byOrder[event.order] ?? [:]).values)
        }
        guard let targets else { return false }
        for continuation in targets { continuation.yield(event) }
        return true
    }

    /// Ends every subscription (shutdown).
    public func finish() {
        let targets = subscribers.withLock { s in Array(s.all.values) + s.byOrder.values.flatMap(\.values) }
        for continuation in targets { continuation.finish() }
    }

    public var subscriberCount: Int { subscribers.withLock { s in s.all.count + s.byOrder.values.reduce(0) { $0 + $1.count } } }
}
