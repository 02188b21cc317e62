import DabbaCore
import DabbaProtocol
import HubModel
import PostgresNIO

/// Payments, refunds and provider events. Every method that moves money is one READ COMMITTED transaction that
/// first locks the payment's row (`SELECT … FOR UPDATE`, ``mutatePayment(_:on:_:)``): two hubs changing one payment
/// (a refund and a capture's settlement, two refunds) run one after the other, each deciding from what the other
/// committed — what SQLite's single writer (`BEGIN IMMEDIATE`) gives — and the state change commits with its
/// balanced ledger posting or not at all.
extension PostgresHubStore: PaymentRepository, PaymentGate {
    /// One READ COMMITTED transaction: the payment and its authorization operation. The partial unique index
    /// `payments_live_per_order` makes a second live payment of the order a `conflict`, also when another hub
    /// inserts it at the same moment (the second insert waits for the first and then fails).
    package func createPayment(_ payment: PaymentRecord, authorization: PaymentOperation) async throws(StoreError)
        -> PaymentRecord
    {
        do {
            return try await transaction { connection in
                try await insertPayment(payment, on: connection)
                _ = try await insertOperation(authorization, on: connection)
                return payment
            }
        } catch  where error.code == .conflict {
            throw StoreError(.conflict, "order \(payment.orderID) already has a payment in progress or done")
        }
    }

    /// One `SELECT` by primary key.
    package func payment(id: String) async throws(StoreError) -> PaymentRecord? {
        try await run { connection in try await readPayments("WHERE id = \(id)", on: connection).first }
    }

    /// One `SELECT`, oldest first.
    package func payments(order: String) async throws(StoreError) -> [PaymentRecord] {
        try await run { connection in
            try await readPayments("WHERE order_id = \(order) ORDER BY created, id", on: connection)
        }
    }

    /// One `SELECT` on `payments_by_provider_ref`.
    package func payment(provider: String, reference: String) async throws(StoreError) -> PaymentRecord? {
        try await run { connection in
            try await readPayments("WHERE provider = \(provider) AND provider_ref = \(reference)", on: connection).first
        }
    }

    /// One READ COMMITTED transaction with the payment's row locked: the amount is checked against what may still be
    /// refunded and reserved, so concurrent refunds (any hub) never exceed the captured amount; the refund row and
    /// its provider operation (or, for cash, its settlement and posting) commit with it.
    package func reserveRefund(_ refund: RefundRecord, operation: PaymentOperation?, now: Int64)
        async throws(StoreError) -> (PaymentRecord, RefundRecord)
    {
        try await transaction { connection in
            let payment = try await mutatePayment(refund.paymentID, on: connection) { p throws(StoreError) in
                try PaymentRules.reserveRefund(&p, amount: refund.amount, now: refund.createdAt)
                return nil
            }
            try await insertRefund(refund, on: connection)
            guard let operation else {
                // Cash: paid back over the counter, nothing to ask a provider.
                return try await finishRefundRow(refund.id, succeeded: true, now: now, on: connection)
            }
            _ = try await insertOperation(operation, on: connection)
            return (payment, refund)
        }
    }

    /// Settles a reserved refund (posting on success, release on failure), inside the caller's transaction; the
    /// refund's row and then its payment's are locked first.
    @discardableResult
    func finishRefundRow(_ id: String, succeeded: Bool, now: Int64, on connection: PostgresSession) async throws
        -> (PaymentRecord, RefundRecord)
    {
        guard var refund = try await readRefunds("WHERE id = \(id) FOR UPDATE", on: connection).first else {
            throw StoreError(.notFound, "no refund \(id)")
        }
        let actor = refund.actor
        let settled = refund
        let payment = try await mutatePayment(refund.paymentID, on: connection) { p throws(StoreError) in
            try PaymentRules.finishRefund(&p, refund: settled, succeeded: succeeded, actor: actor, now: now)
        }
        refund.state = succeeded ? .succeeded : .failed
        refund.updatedAt = now
        try await connection.query(
            "UPDATE refunds SET state = \(refund.state.rawValue), updated = \(now) WHERE id = \(id)", logger: logger)
        return (payment, refund)
    }

    /// One `SELECT`, oldest first.
    package func refunds(payment: String) async throws(StoreError) -> [RefundRecord] {
        try await run { connection in
            try await readRefunds("WHERE payment_id = \(payment) ORDER BY created, id", on: connection)
        }
    }

    /// One READ COMMITTED transaction. The event's row is inserted first with `ON CONFLICT DO NOTHING`: a replay
    /// of the same `(provider, event id)` on another hub at the same moment waits for the first insert and then
    /// inserts nothing (`duplicate`), so the event applies once. The payment's row is then locked while the event
    /// is applied (only when newer than the last one applied, `provider_seq`).
    package func applyProviderEvent(_ event: ProviderEvent, provider: String) async throws(StoreError)
        -> ProviderEventOutcome
    {
        let now = wallClockMilliseconds()
        return try await transaction { connection -> ProviderEventOutcome in
            let fresh =
                try await connection.rows(
                    """
                    INSERT INTO provider_events(provider, event_id, type, payment_ref, sequence, outcome, received)
                    VALUES(\(provider), \(event.id), \(event.type.rawValue), \(event.payment), \(event.sequence),
                        'applied', \(now))
                    ON CONFLICT(provider, event_id) DO NOTHING RETURNING 1
                    """, logger
                ).count == 1
            guard fresh else { return .duplicate }
            guard
                let current = try await readPayments(
                    "WHERE provider = \(provider) AND provider_ref = \(event.payment) FOR UPDATE", on: connection
                ).first
            else {
                // Not recorded (rolled back): the provider retries, and the event applies once the payment is known.
                throw StoreError(.notFound, "no payment with reference \(event.payment)")
            }
            let (changed, posting, outcome) = try PaymentRules.providerEvent(
                event, provider: provider, to: current, now: now)
            if let p = changed { try await updatePayment(p, on: connection) }
            if let posting { try await post(posting, now: now, on: connection) }
            try await connection.query(
                """
                UPDATE provider_events SET outcome = \(outcome.rawValue), payment_id = \(current.id)
                WHERE provider = \(provider) AND event_id = \(event.id)
                """, logger: logger)
            return outcome
        }
    }

    /// One `SELECT`.
    package func paymentCursor() async throws(StoreError) -> Int64 {
        try await run { connection in
            try await connection.scalar(Int64.self, "SELECT event_id FROM payment_cursor WHERE id = 1", logger) ?? 0
        }
    }

    /// Two `SELECT`s outside a transaction: the answer is advisory (the order's confirmation re-checks nothing
    /// here either in SQLite), and a payment only ever moves into `authorized`/`captured` once.
    package func paymentAllowsConfirmation(order id: String) async throws(StoreError) -> Bool {
        try await run { connection in
            guard
                let method = try await connection.scalar(
                    String.self, "SELECT payment_method FROM orders WHERE id = \(id)", logger)
            else { return true }
            if method == PaymentMethod.cod.rawValue { return true }
            let count = try await connection.scalar(
                Int64.self,
                "SELECT count(*) FROM payments WHERE order_id = \(id) AND state IN ('authorized', 'captured')", logger)
            return (count ?? 0) > 0
        }
    }

    // MARK: - Inside a transaction

    /// Locks and reads a payment, applies `rule` and writes the result with the posting the rule returned.
    @discardableResult
    func mutatePayment(
        _ id: String, on connection: PostgresSession,
        _ rule: (inout PaymentRecord) throws(StoreError) -> LedgerPosting?
    ) async throws -> PaymentRecord {
        guard var p = try await readPayments("WHERE id = \(id) FOR UPDATE", on: connection).first else {
            throw StoreError(.notFound, "no payment \(id)")
        }
        let posting = try rule(&p)
        try await updatePayment(p, on: connection)
        if let posting { try await post(posting, now: p.updatedAt, on: connection) }
        return p
    }

    /// Captures an authorized payment with its posting (the order's split), inside the caller's transaction.
    func applyCapture(_ p: inout PaymentRecord, order: OrderRecord?, actor: String, now: Int64) throws(StoreError)
        -> LedgerPosting
    {
        guard let order else { throw StoreError(.notFound, "no order \(p.orderID)") }
        return try PaymentRules.capture(&p, order: order, actor: actor, now: now)
    }

    /// A cash payment for a delivered cash-on-delivery order, once per order (`cod_collections`' primary key; the
    /// reactor, the only writer, is serialised by its cursor's row).
    func applyCodCollect(
        payment id: String, order orderID: String, agent: String, collected: Int64, time: Int64,
        on connection: PostgresSession
    ) async throws {
        guard let order = try await readOrder(id: orderID, on: connection) else {
            throw StoreError(.notFound, "no order \(orderID)")
        }
        let known = try await connection.scalar(
            Int64.self, "SELECT count(*) FROM cod_collections WHERE order_id = \(orderID)", logger)
        guard (known ?? 0) == 0 else { return }
        let (payment, posting) = PaymentRules.codCollected(
            id: id, order: order, agent: agent, collected: collected, actor: "agent:\(agent)", now: time)
        try await insertPayment(payment, on: connection)
        try await connection.query(
            """
            INSERT INTO cod_collections(order_id, payment_id, agent_id, currency, expected, collected, time, day)
            VALUES(\(orderID), \(id), \(agent), \(order.currency), \(order.total), \(collected), \(time),
                \(Self.day(time)))
            """, logger: logger)
        try await post(posting, now: time, on: connection)
    }

    /// `YYYY-MM-DD` (UTC) of a time in milliseconds.
    static func day(_ milliseconds: Int64) -> String { String(Timestamp.format(milliseconds: milliseconds).prefix(10)) }

    // MARK: - Rows

    static let paymentColumns =
        "id, order_id, customer_id, method, provider, provider_ref, state, currency, amount, captured, refunded, "
        + "refund_pending, card_last4, failure, next_action, provider_seq, created, updated"

    func insertPayment(_ p: PaymentRecord, on connection: PostgresSession) async throws {
        try await connection.query(
            """
            INSERT INTO payments(\(unescaped: Self.paymentColumns))
            VALUES(\(p.id), \(p.orderID), \(p.customerID), \(p.method.rawValue), \(p.provider), \(p.providerRef),
                \(p.state.rawValue), \(p.currency), \(p.amount), \(p.captured), \(p.refunded), \(p.refundPending),
                \(p.cardLast4), \(p.failure), \(p.nextAction), \(p.providerSeq), \(p.createdAt), \(p.updatedAt))
            """, logger: logger)
    }

    func updatePayment(_ p: PaymentRecord, on connection: PostgresSession) async throws {
        try await connection.query(
            """
            UPDATE payments SET provider_ref = \(p.providerRef), state = \(p.state.rawValue), captured = \(p.captured),
                refunded = \(p.refunded), refund_pending = \(p.refundPending), failure = \(p.failure),
                next_action = \(p.nextAction), provider_seq = \(p.providerSeq), updated = \(p.updatedAt)
            WHERE id = \(p.id)
            """, logger: logger)
    }

    /// Payments selected by `clause` (a `WHERE …`, possibly ending in `FOR UPDATE`).
    func readPayments(_ clause: PostgresQuery, on connection: PostgresSession) async throws -> [PaymentRecord] {
        var query = PostgresQuery(unsafeSQL: "SELECT \(Self.paymentColumns) FROM payments ")
        query.sql += clause.sql
        query.binds = clause.binds
        return try await connection.rows(query, logger).map { row in
            let (
                id, order, customer, method, provider, reference, state, currency, amount, captured, refunded,
                pending, last4, failure, nextAction, seq, created, updated
            ) = try row.decode(
                (
                    String, String, Int64, String, String?, String?, String, String, Int64, Int64, Int64, Int64,
                    String?, String?, String?, Int64, Int64, Int64
                ).self)
            guard let method = PaymentMethod(rawValue: method), let state = PaymentState(rawValue: state) else {
                throw StoreError(.corrupt, "payments \(id): method \(method), state \(state)")
            }
            var p = PaymentRecord(
                id: id, orderID: order, customerID: customer, method: method, provider: provider, state: state,
                currency: currency, amount: amount, createdAt: created)
            p.providerRef = reference
            p.captured = captured
            p.refunded = refunded
            p.refundPending = pending
            p.cardLast4 = last4
            p.failure = failure
            p.nextAction = nextAction
            p.providerSeq = seq
            p.updatedAt = updated
            return p
        }
    }

    func insertRefund(_ r: RefundRecord, on connection: PostgresSession) async throws {
        try await connection.query(
            """
            INSERT INTO refunds(id, payment_id, amount, state, reason, actor, created, updated)
            VALUES(\(r.id), \(r.paymentID), \(r.amount), \(r.state.rawValue), \(r.reason), \(r.actor), \(r.createdAt),
                \(r.updatedAt))
            """, logger: logger)
    }

    /// Refunds selected by `clause` (a `WHERE …`, possibly ending in `FOR UPDATE`).
    func readRefunds(_ clause: PostgresQuery, on connection: PostgresSession) async throws -> [RefundRecord] {
        var query = PostgresQuery(
            unsafeSQL: "SELECT id, payment_id, amount, state, reason, actor, created, updated FROM refunds ")
        query.sql += clause.sql
        query.binds = clause.binds
        return try await connection.rows(query, logger).map { row in
            let (id, payment, amount, state, reason, actor, created, updated) = try row.decode(
                (String, String, Int64, String, String?, String, Int64, Int64).self)
            guard let state = RefundState(rawValue: state) else {
                throw StoreError(.corrupt, "refunds \(id): state \(state)")
            }
            var r = RefundRecord(
                id: id, paymentID: payment, amount: amount, state: state, reason: reason, actor: actor,
                createdAt: created)
            r.updatedAt = updated
            return r
        }
    }
}
