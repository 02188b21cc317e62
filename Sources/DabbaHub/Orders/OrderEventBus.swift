import Synchronization

/// The hub's internal stream of order events (after they are committed): each subscriber gets every event
/// published after it subscribed, in order. Subscribers that must not miss events across restarts also read the
/// durable ``OrderEventLog`` (the bus then only wakes them).
public final class OrderEventBus: Sendable {
    private let continuations = Mutex<[Int: AsyncStream<OrderEvent>.Continuation]>([:])
    private let nextID = Atomic<Int>(1)

    public init() {}

    /// A stream of the events published from now on; it ends when the subscriber stops iterating or the bus
    /// finishes. `buffer` bounds what a slow subscriber holds (oldest dropped first).
    public func subscribe(buffer: Int = 10_000) -> AsyncStream<OrderEvent> {
        let id = nextID.add(1, ordering: .relaxed).oldValue
        let (stream, continuation) = AsyncStream.makeStream(of: OrderEvent.self, bufferingPolicy: .bufferingNewest(buffer))
        continuation.onTermination = { [weak self] _ in _ = self?.continuations.withLock { $0.removeValue(forKey: id) } }
        continuations.withLock { $0[id] = continuation }
        return stream
    }

    /// Hands `event` to every subscriber (never blocks).
    public func publish(_ event: OrderEvent) {
        for continuation in continuations.withLock({ Array($0.values) }) { continuation.yield(event) }
    }

    /// Ends every subscription (shutdown).
    public func finish() {
        for continuation in continuations.withLock({ Array($0.values) }) { continuation.finish() }
    }

    public var subscriberCount: Int { continuations.withLock { $0.count } }
}
