import DabbaCore
import HubModel
import Logging
import ServiceLifecycle

/// Runs the dispatcher: a round every `dispatch-interval`, and at once when an order event makes one worthwhile
/// (an order confirmed, ready, given back or cancelled) or a device event arrived; and after every (re)connect of
/// the hub to the broker (the first at start) it sends every pending offer and current assignment again
/// (``Dispatcher/resendTasks()``). With several hubs it keeps asking for the ``DispatchLease`` (rounds run only on its
/// holder) and releases it when it stops. Stops on graceful shutdown.
package struct DispatchService<Store: DispatchStore>: Service {
    let dispatcher: Dispatcher<Store>
    let bus: OrderEventBus
    let deviceEvents: AsyncStream<Void>
    let brokerConnected: AsyncStream<Void>
    let interval: Duration
    /// With several hubs: asked for while the service runs, released when it stops.
    let lease: DispatchLease?
    let logger: Logger

    package init(
        dispatcher: Dispatcher<Store>, bus: OrderEventBus, deviceEvents: AsyncStream<Void>,
        brokerConnected: AsyncStream<Void>, interval: Duration, lease: DispatchLease? = nil, logger: Logger
    ) {
        self.lease = lease
        self.dispatcher = dispatcher
        self.bus = bus
        self.deviceEvents = deviceEvents
        self.brokerConnected = brokerConnected
        self.interval = interval
        self.logger = logger
    }

    package func run() async throws {
        let (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let events = bus.subscribe(buffer: 1_000)
        logger.info("Dispatch started", metadata: ["dispatch.interval_ms": "\(interval.dabbaMilliseconds)"])
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await event in events where Self.triggers.contains(event.status) || event.action == .unassign {
                    wake.yield()
                }
            }
            group.addTask {
                for await _ in deviceEvents { wake.yield() }
            }
            group.addTask {
                for await _ in brokerConnected { await dispatcher.resendTasks() }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    wake.yield()
                }
            }
            if let lease {
                // Taking the lease over runs a round at once (orders may have waited for the old holder).
                group.addTask { await lease.run { wake.yield() } }
            }
            group.addTask {
                for await _ in wakeups {
                    if Task.isCancelled { break }
                    await dispatcher.round()
                }
            }
            try? await gracefulShutdown()
            wake.finish()
            group.cancelAll()
        }
        await lease?.release()
        logger.info("Dispatch stopped")
    }

    /// Order statuses after which a round may place something.
    static var triggers: Set<OrderStatus> { [.confirmed, .preparing, .readyForPickup, .cancelled, .delivered] }
}
