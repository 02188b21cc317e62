import DabbaCore
import Logging
import ServiceLifecycle

/// Moves money when orders move: captures a card payment when its order is delivered, voids it when the order is
/// cancelled, rejected or failed before capture (refunding the rest when it was captured by hand), and records the
/// agent's cash when a cash-on-delivery order is delivered.
///
/// Reads the order audit trail (``OrderEventLog``) from its own cursor. Each reaction commits with its ledger
/// posting and the cursor's advance in one SQLite transaction, conditional on the cursor not having moved (another
/// hub on the same database), so a crash never half-applies or double-applies one. Provider calls happen before
/// that commit and carry our payment id as the idempotency key, so a call repeated after a crash is deduplicated
/// by the provider. Woken by the in-process ``OrderEventBus`` and by a poll (`payment-poll-interval`).
public struct PaymentReactor<
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

    public init(payments: PaymentService<Store>, bus: OrderEventBus?, pollInterval: Duration, logger: Logger) {
        self.payments = payments
        self.bus = bus
        self.pollInterval = pollInterval
        self.logger = logger
    }

    public func run() async throws {
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
            do {
                try await drain()
            } catch {
                logger.error("Payment reactor pass failed", metadata: ["error": "\(error)"])
            }
            await wakeup.wait(timeout: pollInterval)
        }
    }

    /// Reacts to every event after the cursor; returns how many events were consumed.
    @discardableResult
    public func drain() async throws -> Int {
        var consumed = 0
        while !Task.isCancelled {
            let cursor = try await payments.store.paymentCursor()
            let events = try await payments.store.orderEvents(after: cursor, limit: batch)
            if events.isEmpty { break }
            var from = cursor
            var idle: Int64?  // events needing nothing, committed together
            for event in events {
                let reaction = try await payments.reaction(to: event)
                guard let reaction else {
                    idle = event.id
                    continue
                }
                if let last = idle {
                    guard try await payments.store.commitPaymentReaction(from: from, to: last, reaction: nil) else {
                        return consumed
                    }
                    from = last
                    idle = nil
                }
                guard try await commit(from: from, event: event, reaction: reaction) else { return consumed }
                from = event.id
                logger.debug(
                    "Payment reaction", metadata: ["order.id": "\(event.order)", "order.event": "\(event.id)"])
            }
            if let last = idle {
                guard try await payments.store.commitPaymentReaction(from: from, to: last, reaction: nil) else {
                    return consumed
                }
            }
            consumed += events.count
            if events.count < batch { break }
        }
        return consumed
    }

    /// Commits one reaction; when the payment moved meanwhile (a state the reaction no longer applies to), the
    /// event is evaluated again from the fresh state, and at worst consumed without a reaction (logged).
    private func commit(from: Int64, event: OrderEvent, reaction: PaymentReaction) async throws -> Bool {
        var reaction: PaymentReaction? = reaction
        for _ in 0..<3 {
            let illegal: Bool
            do throws(StoreError) {
                return try await payments.store.commitPaymentReaction(from: from, to: event.id, reaction: reaction)
            } catch {
                guard error.code == .illegalTransition else { throw error }
                illegal = true
            }
            if illegal { reaction = try await payments.reaction(to: event) }
        }
        logger.warning(
            "Order event consumed without a payment reaction",
            metadata: ["order.id": "\(event.order)", "order.event": "\(event.id)"])
        return try await payments.store.commitPaymentReaction(from: from, to: event.id, reaction: nil)
    }
}
