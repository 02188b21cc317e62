import DabbaCore
import DabbaProtocol
import DabbaSQLite
import HubModel

/// The payment reactor's pass over the order trail: each order event's effect on payments (captures, voids, refunds
/// due, cash collected) stored as provider operations in the same transaction as the reactor's cursor.
extension SQLiteHubStore {
    package func reactToOrderEvents(from: Int64, events: [OrderEvent], now: Int64) throws(StoreError)
        -> PaymentReactorPass?
    {
        guard let last = events.last?.id else { return PaymentReactorPass() }
        return try writeTransaction { () throws(StoreError) -> PaymentReactorPass? in
            // The claim: only the hub that still sees the cursor at `from` moves it (and reacts).
            let moved = try run { () throws(SQLiteError) -> Bool in
                try db.prepare("UPDATE payment_cursor SET event_id = ? WHERE id = 1 AND event_id = ?")
                    .run([.integer(last), .integer(from)])
                return db.changes == 1
            }
            guard moved else { return nil }
            var pass = PaymentReactorPass()
            pass.consumed = events.count
            for event in events where [.delivered, .cancelled, .rejected, .failed].contains(event.status) {
                try run { () throws(SQLiteError) in try db.execute("SAVEPOINT payment_reaction") }
                do throws(StoreError) {
                    if try react(to: event, now: now) { pass.reactions += 1 }
                    try run { () throws(SQLiteError) in try db.execute("RELEASE payment_reaction") }
                } catch {
                    try run { () throws(SQLiteError) in
                        try db.execute("ROLLBACK TO payment_reaction; RELEASE payment_reaction")
                    }
                    pass.failures.append(.init(event: event.id, order: event.order, error: error.message))
                    _ = try raiseAlert(
                        kind: Self.alertReactionFailed, agent: nil, order: event.order,
                        message: "order event \(event.id) (\(event.status.rawValue)) moved no money: \(error.message)")
                }
            }
            return pass
        }
    }

    /// Records the reaction to one event (inside the pass's transaction); false when it asks for nothing.
    private func react(to event: OrderEvent, now: Int64) throws(StoreError) -> Bool {
        guard let order = try run({ () throws(SQLiteError) in try readOrder(id: event.order) }) else { return false }
        let payments = try run { () throws(SQLiteError) in
            try readPayments(" WHERE order_id = ? ORDER BY created, id", [.text(order.id)])
        }
        guard let reaction = PaymentRules.reaction(to: event, order: order, payments: payments) else { return false }
        func payment(_ id: String) -> PaymentRecord { payments.first { $0.id == id }! }
        switch reaction {
        case .capture(let id):
            try run { () throws(SQLiteError) in
                _ = try insertOperation(.capture(payment(id), event: event.id, now: now))
            }
        case .void(let id):
            try run { () throws(SQLiteError) in _ = try insertOperation(.void(payment(id), event: event.id, now: now)) }
        case .cancel(let id):
            let p = try mutatePayment(id) { (p: inout PaymentRecord) throws(StoreError) in
                try PaymentRules.void(&p, actor: "system", now: now)
            }
            // The provider has it (a verification in progress): release it there too.
            if p.providerRef != nil {
                try run { () throws(SQLiteError) in _ = try insertOperation(.void(p, event: event.id, now: now)) }
            }
        case .refundRemainder(let id, let amount):
            try reserveAutomaticRefund(
                payment(id), amount: amount, source: "\(event.id)", event: event.id,
                reason: "order \(event.status.rawValue)", now: now)
        case .codCollect(let orderID, let agent, let collected, let time):
            try applyCodCollect(
                payment: "pay_" + AuthRandom.token(bytes: 12), order: orderID, agent: agent, collected: collected,
                time: time)
        }
        return true
    }

    /// Reserves a refund the hub makes by itself, with its operation keyed `refund-<payment>-<source>`; the refund's
    /// id is derived the same way, so the reservation happens once.
    func reserveAutomaticRefund(
        _ p: PaymentRecord, amount: Int64, source: String, event: Int64?, reason: String, now: Int64
    ) throws(StoreError) {
        let refund = RefundRecord(
            id: "re-\(p.id)-\(source)", paymentID: p.id, amount: amount, reason: reason, actor: "system",
            createdAt: now)
        try mutatePayment(p.id) { (p: inout PaymentRecord) throws(StoreError) in
            try PaymentRules.reserveRefund(&p, amount: amount, now: now)
            return nil
        }
        try run { () throws(SQLiteError) in
            try insertRefund(refund)
            _ = try insertOperation(.refund(refund, source: source, event: event, now: now))
        }
    }
}
