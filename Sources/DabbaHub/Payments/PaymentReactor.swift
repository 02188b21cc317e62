import DabbaCore
import DabbaProtocol
import HubModel
import Logging
import ServiceLifecycle

/// Moves money when orders move: captures a card payment when its order is delivered, voids it when the order is
/// cancelled, rejected or failed before capture (refunding the rest when it was captured by hand), and records the
/// agent's cash when a cash-on-delivery order is delivered.
///
/// Reads the order audit trail (``OrderEventLog``) from its own cursor. The reactions to a batch of events commit
/// with the cursor's advance in one SQLite transaction, conditional on the cursor not having moved (another hub on
/// the same database), so a crash never half-applies or double-applies one; no provider is called there. Provider
/// calls are ``PaymentOperation``s recorded in that transaction and run right after, each with an idempotency key
/// derived from stored state, its own backoff (`payment-retry-base`, `payment-retry-max`), a status query before it
/// is repeated when its outcome is unknown, and a dead letter after `payment-max-attempts`: one failing payment never
/// holds up the others, nor cash on delivery (and so the cash-limit gate). An event whose reaction the store refuses
/// is consumed with an operator alert. Woken by the in-process ``OrderEventBus``, by a poll
/// (`payment-poll-interval`) and when the next operation falls due.
package struct PaymentReactor<
    Store: PaymentRepository & OrderRepository & RestaurantDirectory & AgentRepository & PaymentGate
>:
    Service
{
    let payments: PaymentService<Store>
    let bus: OrderEventBus?
    let pollInterval: Duration
    let logger: Logger
    /// Events read per pass.
    var batch = 200

    package init(payments: PaymentService<Store>, bus: OrderEventBus?, pollInterval: Duration, logger: Logger) {
        self.payments = payments
        self.bus = bus
        self.pollInterval = pollInterval
        self.logger = logger
    }

    package func run() async throws {
        let wakeup = WebhookWakeup()
        logger.info("Payment reactor started")
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { listeners in
                if let bus {
                    let events = bus.subscribe(buffer: 1)
                    listeners.addTask { for await _ in events { wakeup.signal() } }
                }
                await loop(wakeup: wakeup)
                listeners.cancelAll()
            }
        } onGracefulShutdown: {
            wakeup.signal()
        }
        logger.info("Payment reactor stopped")
    }

    private func loop(wakeup: WebhookWakeup) async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            var wait = pollInterval
            do {
                try await drain()
                if let due = try await payments.store.nextOperationDue() {
                    let untilDue = Duration.milliseconds(max(0, due - payments.clock()))
                    wait = min(wait, max(untilDue, .milliseconds(10)))
                }
            } catch {
                logger.error("Payment reactor pass failed", metadata: ["error": "\(error)"])
            }
            await wakeup.wait(timeout: wait)
        }
    }

    /// Reacts to every event after the cursor, then runs the provider operations due now; returns how many events
    /// were consumed.
    @discardableResult
    package func drain() async throws -> Int {
        let consumed = try await consumeEvents()
        try await payments.runDueOperations(limit: batch)
        payments.metrics?.paymentDeadLettersOpen.record(try await payments.store.deadLetterCount())
        payments.metrics?.paymentReactorLastPass.record(Double(payments.clock()) / 1000)
        return consumed
    }

    private func consumeEvents() async throws -> Int {
        var consumed = 0
        var firstRead = true
        while !Task.isCancelled {
            let cursor = try await payments.store.paymentCursor()
            let events = try await payments.store.orderEvents(after: cursor, limit: batch)
            if firstRead {
                firstRead = false
                // How far behind the pass began: the oldest event it found waiting (0 when read up).
                payments.metrics?.paymentReactorLag.record(
                    secondsBehind(since: events.first.flatMap { Timestamp.parse($0.time) }, now: payments.clock()))
            }
            if events.isEmpty { break }
            // Nil: another hub moved the cursor first; it reacts to these.
            guard
                let pass = try await payments.store.reactToOrderEvents(
                    from: cursor, events: events, now: payments.clock())
            else { break }
            for failure in pass.failures {
                payments.metrics?.alerts(PaymentAlert.reactionFailed).increment()
                logger.error(
                    "Order event consumed without its payment reaction",
                    metadata: [
                        "order.id": "\(failure.order)", "order.event": "\(failure.event)", "error": "\(failure.error)",
                    ])
            }
            consumed += pass.consumed
            if events.count < batch { break }
        }
        return consumed
    }
}
