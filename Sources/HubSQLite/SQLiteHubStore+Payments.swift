import DabbaCore
import DabbaProtocol
import DabbaSQLite
import HubModel

extension SQLiteHubStore: PaymentRepository, PaymentGate {
    package func createPayment(_ payment: PaymentRecord, authorization: PaymentOperation) throws(StoreError)
        -> PaymentRecord
    {
        try writeTransaction { () throws(StoreError) in
            do throws(StoreError) {
                try run { () throws(SQLiteError) in try insertPayment(payment) }
            } catch {
                guard error.code == .conflict else { throw error }
                throw StoreError(.conflict, "order \(payment.orderID) already has a payment in progress or done")
            }
            try run { () throws(SQLiteError) in _ = try insertOperation(authorization) }
            return payment
        }
    }

    package func payment(id: String) throws(StoreError) -> PaymentRecord? {
        try run { () throws(SQLiteError) in try readPayments(" WHERE id = ?", [.text(id)]).first }
    }

    package func payments(order: String) throws(StoreError) -> [PaymentRecord] {
        try run { () throws(SQLiteError) in try readPayments(" WHERE order_id = ? ORDER BY created, id", [.text(order)])
        }
    }

    package func payment(provider: String, reference: String) throws(StoreError) -> PaymentRecord? {
        try run { () throws(SQLiteError) in
            try readPayments(" WHERE provider = ? AND provider_ref = ?", [.text(provider), .text(reference)]).first
        }
    }

    package func reserveRefund(_ refund: RefundRecord, operation: PaymentOperation?, now: Int64)
        throws(StoreError) -> (PaymentRecord, RefundRecord)
    {
        try writeTransaction { () throws(StoreError) in
            let payment = try mutatePayment(refund.paymentID) { (p: inout PaymentRecord) throws(StoreError) in
                try PaymentRules.reserveRefund(&p, amount: refund.amount, now: refund.createdAt)
                return nil
            }
            try run { () throws(SQLiteError) in try insertRefund(refund) }
            guard let operation else {
                // Cash: paid back over the counter, nothing to ask a provider.
                return try finishRefundRow(refund.id, succeeded: true, now: now)
            }
            try run { () throws(SQLiteError) in _ = try insertOperation(operation) }
            return (payment, refund)
        }
    }

    /// Settles a reserved refund (posting on success, release on failure). Inside a transaction.
    @discardableResult
    func finishRefundRow(_ id: String, succeeded: Bool, now: Int64) throws(StoreError) -> (PaymentRecord, RefundRecord)
    {
        guard var refund = try run({ () throws(SQLiteError) in try readRefunds(" WHERE id = ?", [.text(id)]).first })
        else { throw StoreError(.notFound, "no refund \(id)") }
        let payment = try mutatePayment(refund.paymentID) { (p: inout PaymentRecord) throws(StoreError) in
            try PaymentRules.finishRefund(&p, refund: refund, succeeded: succeeded, actor: refund.actor, now: now)
        }
        refund.state = succeeded ? .succeeded : .failed
        refund.updatedAt = now
        try run { () throws(SQLiteError) in
            try db.prepare("UPDATE refunds SET state = ?, updated = ? WHERE id = ?")
                .run([.text(refund.state.rawValue), .integer(now), .text(id)])
        }
        return (payment, refund)
    }

    package func refunds(payment: String) throws(StoreError) -> [RefundRecord] {
        try run { () throws(SQLiteError) in
            try readRefunds(" WHERE payment_id = ? ORDER BY created, id", [.text(payment)])
        }
    }

    package func applyProviderEvent(_ event: ProviderEvent, provider: String) throws(StoreError) -> ProviderEventOutcome
    {
        let now = wallClockMilliseconds()
        return try writeTransaction { () throws(StoreError) -> ProviderEventOutcome in
            let fresh = try run { () throws(SQLiteError) -> Bool in
                try db.prepare(
                    """
                    INSERT INTO provider_events(provider, event_id, type, payment_ref, sequence, outcome, received)
                    VALUES(?, ?, ?, ?, ?, 'applied', ?) ON CONFLICT(provider, event_id) DO NOTHING
                    """
                ).run([
                    .text(provider), .text(event.id), .text(event.type.rawValue), .text(event.payment),
                    .integer(event.sequence), .integer(now),
                ])
                return db.changes == 1
            }
            guard fresh else { return .duplicate }
            guard
                let current = try run({ () throws(SQLiteError) in
                    try readPayments(
                        " WHERE provider = ? AND provider_ref = ?", [.text(provider), .text(event.payment)]
                    )
                    .first
                })
            else {
                // Not recorded: the provider retries, and the event applies once the payment is known.
                throw StoreError(.notFound, "no payment with reference \(event.payment)")
            }
            let (changed, posting, outcome) = try PaymentRules.providerEvent(
                event, provider: provider, to: current, now: now)
            if let p = changed { try run { () throws(SQLiteError) in try updatePayment(p) } }
            if let posting { try post(posting, now: now) }
            try run { () throws(SQLiteError) in
                try db.prepare(
                    "UPDATE provider_events SET outcome = ?, payment_id = ? WHERE provider = ? AND event_id = ?"
                )
                .run([.text(outcome.rawValue), .text(current.id), .text(provider), .text(event.id)])
            }
            return outcome
        }
    }

    package func paymentCursor() throws(StoreError) -> Int64 {
        try run { () throws(SQLiteError) in try db.scalarInt("SELECT event_id FROM payment_cursor WHERE id = 1") ?? 0 }
    }

    package func paymentAllowsConfirmation(order id: String) throws(StoreError) -> Bool {
        try run { () throws(SQLiteError) -> Bool in
            guard let order = try readOrder(id: id) else { return true }
            if order.paymentMethod == .cod { return true }
            let count = try db.scalarInt(
                "SELECT COUNT(*) FROM payments WHERE order_id = ? AND state IN ('authorized', 'captured')", [.text(id)])
            return (count ?? 0) > 0
        }
    }

    // MARK: - Inside a transaction

    /// Runs `body` between `BEGIN IMMEDIATE` and `COMMIT`, rolling back when it throws.
    func writeTransaction<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        try run { () throws(SQLiteError) in try db.execute("BEGIN IMMEDIATE") }
        do {
            let result = try body()
            try run { () throws(SQLiteError) in try db.execute("COMMIT") }
            return result
        } catch {
            try? db.execute("ROLLBACK")
            throw error
        }
    }

    /// Reads a payment, applies `rule` and writes the result with the posting the rule returned.
    @discardableResult
    func mutatePayment(_ id: String, _ rule: (inout PaymentRecord) throws(StoreError) -> LedgerPosting?)
        throws(StoreError) -> PaymentRecord
    {
        guard var p = try run({ () throws(SQLiteError) in try readPayments(" WHERE id = ?", [.text(id)]).first }) else {
            throw StoreError(.notFound, "no payment \(id)")
        }
        let posting = try rule(&p)
        try run { () throws(SQLiteError) in try updatePayment(p) }
        if let posting { try post(posting, now: p.updatedAt) }
        return p
    }

    /// Captures an authorized payment with its posting (the order's split). Inside a transaction.
    func applyCapture(_ p: inout PaymentRecord, actor: String, now: Int64) throws(StoreError) -> LedgerPosting {
        guard let order = try run({ () throws(SQLiteError) in try readOrder(id: p.orderID) }) else {
            throw StoreError(.notFound, "no order \(p.orderID)")
        }
        return try PaymentRules.capture(&p, order: order, actor: actor, now: now)
    }

    /// A cash payment for a delivered cash-on-delivery order, once per order.
    func applyCodCollect(payment id: String, order orderID: String, agent: String, collected: Int64, time: Int64)
        throws(StoreError)
    {
        guard let order = try run({ () throws(SQLiteError) in try readOrder(id: orderID) }) else {
            throw StoreError(.notFound, "no order \(orderID)")
        }
        let known = try run { () throws(SQLiteError) in
            try db.scalarInt("SELECT COUNT(*) FROM cod_collections WHERE order_id = ?", [.text(orderID)]) ?? 0
        }
        guard known == 0 else { return }
        let (payment, posting) = PaymentRules.codCollected(
            id: id, order: order, agent: agent, collected: collected, actor: "agent:\(agent)", now: time)
        try run { () throws(SQLiteError) in
            try insertPayment(payment)
            try db.prepare(
                """
                INSERT INTO cod_collections(order_id, payment_id, agent_id, currency, expected, collected, time, day)
                VALUES(?, ?, ?, ?, ?, ?, ?, ?)
                """
            ).run([
                .text(orderID), .text(id), .text(agent), .text(order.currency), .integer(order.total),
                .integer(collected), .integer(time), .text(Self.day(time)),
            ])
        }
        try post(posting, now: time)
    }

    /// `YYYY-MM-DD` (UTC) of a time in milliseconds.
    static func day(_ milliseconds: Int64) -> String { String(Timestamp.format(milliseconds: milliseconds).prefix(10)) }

    // MARK: - Rows

    static let paymentColumns =
        "id, order_id, customer_id, method, provider, provider_ref, state, currency, amount, captured, refunded, "
        + "refund_pending, card_last4, failure, next_action, provider_seq, created, updated"

    func insertPayment(_ p: PaymentRecord) throws(SQLiteError) {
        try db.prepare(
            "INSERT INTO payments(\(Self.paymentColumns)) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ).run(Self.paymentValues(p))
    }

    func updatePayment(_ p: PaymentRecord) throws(SQLiteError) {
        try db.prepare(
            """
            UPDATE payments SET provider_ref = ?, state = ?, captured = ?, refunded = ?, refund_pending = ?,
                failure = ?, next_action = ?, provider_seq = ?, updated = ? WHERE id = ?
            """
        ).run([
            p.providerRef.map { .text($0) } ?? .null, .text(p.state.rawValue), .integer(p.captured),
            .integer(p.refunded), .integer(p.refundPending), p.failure.map { .text($0) } ?? .null,
            p.nextAction.map { .text($0) } ?? .null, .integer(p.providerSeq), .integer(p.updatedAt), .text(p.id),
        ])
    }

    static func paymentValues(_ p: PaymentRecord) -> [SQLiteValue] {
        [
            .text(p.id), .text(p.orderID), .integer(p.customerID), .text(p.method.rawValue),
            p.provider.map { .text($0) } ?? .null, p.providerRef.map { .text($0) } ?? .null, .text(p.state.rawValue),
            .text(p.currency), .integer(p.amount), .integer(p.captured), .integer(p.refunded),
            .integer(p.refundPending),
            p.cardLast4.map { .text($0) } ?? .null, p.failure.map { .text($0) } ?? .null,
            p.nextAction.map { .text($0) } ?? .null, .integer(p.providerSeq), .integer(p.createdAt),
            .integer(p.updatedAt),
        ]
    }

    func readPayments(_ clause: String, _ bindings: [SQLiteValue]) throws(SQLiteError) -> [PaymentRecord] {
        let s = try db.prepare("SELECT \(Self.paymentColumns) FROM payments" + clause)
        defer { s.reset() }
        try s.bind(bindings)
        var result: [PaymentRecord] = []
        while try s.step() {
            var p = PaymentRecord(
                id: s.text(0) ?? "", orderID: s.text(1) ?? "", customerID: s.int64(2),
                method: PaymentMethod(rawValue: s.text(3) ?? "") ?? .card, provider: s.text(4),
                state: PaymentState(rawValue: s.text(6) ?? "") ?? .failed, currency: s.text(7) ?? "",
                amount: s.int64(8), createdAt: s.int64(16))
            p.providerRef = s.text(5)
            p.captured = s.int64(9)
            p.refunded = s.int64(10)
            p.refundPending = s.int64(11)
            p.cardLast4 = s.text(12)
            p.failure = s.text(13)
            p.nextAction = s.text(14)
            p.providerSeq = s.int64(15)
            p.updatedAt = s.int64(17)
            result.append(p)
        }
        return result
    }

    func insertRefund(_ r: RefundRecord) throws(SQLiteError) {
        try db.prepare(
            "INSERT INTO refunds(id, payment_id, amount, state, reason, actor, created, updated) VALUES(?, ?, ?, ?, ?, ?, ?, ?)"
        ).run([
            .text(r.id), .text(r.paymentID), .integer(r.amount), .text(r.state.rawValue),
            r.reason.map { .text($0) } ?? .null, .text(r.actor), .integer(r.createdAt), .integer(r.updatedAt),
        ])
    }

    func readRefunds(_ clause: String, _ bindings: [SQLiteValue]) throws(SQLiteError) -> [RefundRecord] {
        let s = try db.prepare(
            "SELECT id, payment_id, amount, state, reason, actor, created, updated FROM refunds" + clause)
        defer { s.reset() }
        try s.bind(bindings)
        var result: [RefundRecord] = []
        while try s.step() {
            var r = RefundRecord(
                id: s.text(0) ?? "", paymentID: s.text(1) ?? "", amount: s.int64(2),
                state: RefundState(rawValue: s.text(3) ?? "") ?? .failed, reason: s.text(4), actor: s.text(5) ?? "",
                createdAt: s.int64(6))
            r.updatedAt = s.int64(7)
            result.append(r)
        }
        return result
    }
}
