import Synchronization

/// ``MQTTClient/events``: the client's event stream, counting what the consumer takes so the network thread can
/// hold back while the consumer lags (``MQTTConfiguration/eventBufferLimit``). Single consumer.
public struct MQTTEventStream: AsyncSequence, Sendable {
    public typealias Element = MQTTEvent
    public typealias Failure = Never

    let base: AsyncStream<MQTTEvent>
    let client: MQTTClient

    public func makeAsyncIterator() -> Iterator {
        client.eventsConsumed.store(true, ordering: .relaxed)
        return Iterator(base: base.makeAsyncIterator(), client: client)
    }

    /// Takes events in order; each one taken makes room for the network thread.
    public struct Iterator: AsyncIteratorProtocol {
        var base: AsyncStream<MQTTEvent>.Iterator
        let client: MQTTClient

        public mutating func next() async -> MQTTEvent? {
            await next(isolation: nil)
        }

        public mutating func next(isolation actor: isolated (any Actor)?) async -> MQTTEvent? {
            guard let event = await base.next(isolation: actor) else { return nil }
            client.pendingEvents.subtract(1, ordering: .relaxed)
            return event
        }
    }
}
