import DabbaCore
import DabbaProtocol
import HubModel
import PostgresNIO

/// The payment reactor's pass over the order trail: each order event's effect on payments (captures, voids, refunds
/// due, cash collected) stored as provider operations in the same transaction as the reactor's cursor.
extension PostgresHubStore {
    /// One READ COMMITTED transaction whose first statement is the claim: a conditional `UPDATE` of the cursor's
    /// row from `from` to the last event. A second hub that read the same cursor waits for that row's lock, re-checks
    /// the condition on the committed row, moves nothing and returns nil — so each event is reacted to once. Each
    /// reaction runs under a savepoint and locks its payment's row (``mutatePayment(_:on:_:)``); one the store
    /// refuses is rolled back alone, alerted and consumed, as in SQLite. A deadlock or serialization failure inside
    /// a reaction is not a refusal: it rolls the whole pass back to be retried.
    package func reactToOrderEvents(from: Int64, events: [OrderEvent], now: Int64) async throws(StoreError)
        -> PaymentReactorPass?
    {
        guard let last = events.last?.id else { return PaymentReactorPass() }
        return try await transaction { connection -> PaymentReactorPass? in
            let moved =
                try await connection.rows(
                    "UPDATE payment_cursor SET event_id = \(last) WHERE id = 1 AND event_id = \(from) RETURNING 1",
                    logger
                ).count == 1
            guard moved else { return nil }
            var pass = PaymentReactorPass()
            pass.consumed = events.count
            for event in events where [.delivered, .cancelled, .rejected, .failed].contains(event.status) {
                try await connection.query("SAVEPOINT payment_reaction", logger: logger)
                do {
                    if try await react(to: event, now: now, on: connection) { pass.reactions += 1 }
                    try await connection.query("RELEASE SAVEPOINT payment_reaction", logger: logger)
                } catch {
                    guard let refusal = Self.refusal(error) else { throw error }
                    try await connection.query("ROLLBACK TO SAVEPOINT payment_reaction", logger: logger)
                    try await connection.query("RELEASE SAVEPOINT payment_reaction", logger: logger)
                    pass.failures.append(.init(event: event.id, order: event.order, error: refusal.message))
                    _ = try await insertAlert(
                        kind: PaymentAlert.reactionFailed, agent: nil, order: event.order,
                        message:
                            "order event \(event.id) (\(event.status.rawValue)) moved no money: \(refusal.message)",
                        on: connection)
                }
            }
            return pass
        }
    }

    /// `error` as a refusal of one reaction (a rule or a constraint said no), or nil when it must end the whole
    /// transaction: a deadlock or serialization failure (retried as a whole), or a connection that failed.
    static func refusal(_ error: any Error) -> StoreError? {
        if let error = error as? StoreError { return error }
        guard sqlState(error) != nil, !isRetryable(error) else { return nil }
        return StoreError(postgres: error)
    }

    /// Records the reaction to one event (inside the pass's transaction); false when it asks for nothing.
    private func react(to event: OrderEvent, now: Int64, on connection: PostgresSession) async throws -> Bool {
        guard let order = try await readOrder(id: event.order, on: connection) else { return false }
        let payments = try await readPayments("WHERE order_id = \(order.id) ORDER BY created, id", on: connection)
        guard let reaction = PaymentRules.reaction(to: event, order: order, payments: payments) else { return false }
        func payment(_ id: String) throws -> PaymentRecord {
            guard let p = payments.first(where: { $0.id == id }) else {
                throw StoreError(.notFound, "no payment \(id) of order \(order.id)")
            }
            return p
        }
        switch reaction {
        case .capture(let id):
            try await insertOperation(.capture(try payment(id), event: event.id, now: now), on: connection)
        case .void(let id):
            try await insertOperation(.void(try payment(id), event: event.id, now: now), on: connection)
        case .cancel(let id):
            let p = try await mutatePayment(id, on: connection) { p throws(StoreError) in
                try PaymentRules.void(&p, actor: "system", now: now)
            }
            // The provider has it (a verification in progress): release it there too.
            if p.providerRef != nil {
                try await insertOperation(.void(p, event: event.id, now: now), on: connection)
            }
        case .refundRemainder(let id, let amount):
            try await reserveAutomaticRefund(
                try payment(id), amount: amount, source: "\(event.id)", event: event.id,
                reason: "order \(event.status.rawValue)", now: now, on: connection)
        case .codCollect(let orderID, let agent, let collected, let time):
            try await applyCodCollect(
                payment: "pay_" + AuthRandom.token(bytes: 12), order: orderID, agent: agent, collected: collected,
                time: time, on: connection)
        }
        return true
    }

    /// Reserves a refund the hub makes by itself, with its operation keyed `refund-<payment>-<source>`; the refund's
    /// id is derived the same way, so the reservation happens once. Inside the caller's transaction (the payment's
    /// row is locked by ``mutatePayment(_:on:_:)``).
    func reserveAutomaticRefund(
        _ p: PaymentRecord, amount: Int64, source: String, event: Int64?, reason: String, now: Int64,
        on connection: PostgresSession
    ) async throws {
        let refund = RefundRecord(
            id: "re-\(p.id)-\(source)", paymentID: p.id, amount: amount, reason: reason, actor: "system",
            createdAt: now)
        try await mutatePayment(p.id, on: connection) { p throws(StoreError) in
            try PaymentRules.reserveRefund(&p, amount: amount, now: now)
            return nil
        }
        try await insertRefund(refund, on: connection)
        try await insertOperation(.refund(refund, source: source, event: event, now: now), on: connection)
    }
}
