/// A wake-up bell between services: `ring()` never blocks and rings coalesce; one listener reads `stream`.
package final class Signal: Sendable {
    package let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    package init() {
        (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    package func ring() { continuation.yield() }
}
