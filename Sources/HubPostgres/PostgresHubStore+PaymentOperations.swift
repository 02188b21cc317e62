import DabbaCore
import DabbaProtocol
import HubModel
import PostgresNIO

/// Provider operations (``PaymentOperation``): stored before the call, leased to one runner at a time (a conditional
/// `UPDATE`, which PostgreSQL re-checks on the newest row version, so it holds across hubs), settled with their
/// effect on the payment and the ledger in one transaction.
extension PostgresHubStore {
    /// One READ COMMITTED transaction with the payment's row locked first: every operation of one payment is queued
    /// under that lock, so "one money movement at a time per payment" is checked against what the others committed
    /// (SQLite: `BEGIN IMMEDIATE`). The insert ignores a key already stored; the lease is the conditional claim.
    package func enqueueOperation(_ operation: PaymentOperation, owner: String, until: Int64)
        async throws(StoreError) -> (operation: PaymentOperation, claimed: Bool)
    {
        try await transaction { connection in
            try await connection.query(
                "SELECT 1 FROM payments WHERE id = \(operation.paymentID) FOR UPDATE", logger: logger)
            let blocking = try await readOperations(
                """
                WHERE payment_id = \(operation.paymentID) AND key <> \(operation.key) AND state IN ('pending', 'dead')
                  AND kind <> 'refund'
                ORDER BY id LIMIT 1
                """, on: connection
            ).first
            if let blocking {
                throw StoreError(
                    .conflict,
                    "payment \(operation.paymentID) has a \(blocking.kind.rawValue) in progress (\(blocking.key), "
                        + "\(blocking.state.rawValue)); try again when it is settled")
            }
            _ = try await insertOperation(operation, on: connection)
            let claimed = try await claim(
                operation.key, owner: owner, now: operation.createdAt, until: until, on: connection)
            guard let stored = try await readOperations("WHERE key = \(operation.key)", on: connection).first else {
                throw StoreError(.notFound, "no operation \(operation.key)")
            }
            return (stored, claimed)
        }
    }

    /// The condition that operation `o` waits for no other: money movements of one payment go one at a time, oldest
    /// first (a void waits for a capture that is not settled, even a dead one: an operator settles that first);
    /// refunds never hold others back.
    static let unblocked = """
        NOT EXISTS (SELECT 1 FROM payment_ops e WHERE e.payment_id = o.payment_id AND e.id < o.id
            AND e.state IN ('pending', 'dead') AND e.kind <> 'refund')
        """

    /// One `SELECT`, oldest due first.
    package func dueOperations(now: Int64, limit: Int) async throws(StoreError) -> [PaymentOperation] {
        try await run { connection in
            try await readOperations(
                """
                WHERE o.state = 'pending' AND o.next_attempt <= \(now) AND o.lease_until <= \(now)
                  AND \(unescaped: Self.unblocked)
                ORDER BY o.next_attempt, o.id LIMIT \(Int64(limit))
                """, on: connection)
        }
    }

    /// One `SELECT`.
    package func nextOperationDue() async throws(StoreError) -> Int64? {
        try await run { connection in
            try await connection.scalar(
                Int64?.self,
                """
                SELECT min(greatest(o.next_attempt, o.lease_until)) FROM payment_ops o
                WHERE o.state = 'pending' AND \(unescaped: Self.unblocked)
                """, logger) ?? nil
        }
    }

    /// One conditional `UPDATE` (its own transaction): of two hubs claiming at once, the second waits for the
    /// first's row lock, re-checks the lease on the row it committed, and claims nothing.
    package func claimOperation(key: String, owner: String, now: Int64, until: Int64) async throws(StoreError)
        -> PaymentOperation?
    {
        try await run { connection in
            guard try await claim(key, owner: owner, now: now, until: until, on: connection) else { return nil }
            return try await readOperations("WHERE key = \(key)", on: connection).first
        }
    }

    private func claim(_ key: String, owner: String, now: Int64, until: Int64, on connection: PostgresSession)
        async throws -> Bool
    {
        try await connection.rows(
            """
            UPDATE payment_ops o SET lease_owner = \(owner), lease_until = \(until)
            WHERE o.key = \(key) AND o.state = 'pending' AND (o.lease_until <= \(now) OR o.lease_owner = \(owner))
              AND \(unescaped: Self.unblocked)
            RETURNING 1
            """, logger
        ).count == 1
    }

    /// One READ COMMITTED transaction that locks the payment's row, then the operation's: the outcome, the
    /// payment's state and posting, a refund's settlement, a void for a hold found late and a dead letter's alert
    /// commit together. Nothing is written when the operation is no longer pending or another runner holds it.
    package func settleOperation(
        _ key: String, outcome: PaymentOperationOutcome, owner: String?, actor: String, now: Int64
    ) async throws(StoreError) -> (PaymentOperation, PaymentRecord) {
        try await transaction { connection in
            guard
                let payment = try await connection.scalar(
                    String.self, "SELECT payment_id FROM payment_ops WHERE key = \(key)", logger)
            else { throw StoreError(.notFound, "no operation \(key)") }
            guard let p = try await readPayments("WHERE id = \(payment) FOR UPDATE", on: connection).first else {
                throw StoreError(.notFound, "no payment \(payment)")
            }
            guard var op = try await readOperations("WHERE key = \(key) FOR UPDATE", on: connection).first else {
                throw StoreError(.notFound, "no operation \(key)")
            }
            // Someone else holds it now (our lease ran out and another runner took it): theirs to settle.
            guard op.state == .pending, owner == nil || op.leaseOwner == nil || op.leaseOwner == owner else {
                return (op, p)
            }
            for step in op.settle(outcome, payment: p, now: now) {
                try await carryOut(step, op, p, actor: actor, now: now, on: connection)
            }
            try await updateOperation(op, on: connection)
            guard let after = try await readPayments("WHERE id = \(op.paymentID)", on: connection).first else {
                throw StoreError(.notFound, "no payment \(op.paymentID)")
            }
            return (op, after)
        }
    }

    /// One ``PaymentSettlementStep`` of settling `op`, on payment `p` as it was read (its row locked by the caller).
    private func carryOut(
        _ step: PaymentSettlementStep, _ op: PaymentOperation, _ p: PaymentRecord, actor: String, now: Int64,
        on connection: PostgresSession
    ) async throws {
        switch step {
        case .settle(let authorization):
            try await mutatePayment(p.id, on: connection) { p throws(StoreError) -> LedgerPosting? in
                try PaymentRules.settle(&p, with: authorization, actor: actor, now: now)
            }
        case .releaseLateHold(let reference):
            var held = p
            if held.providerRef == nil {
                held.providerRef = reference
                held.updatedAt = now
                try await updatePayment(held, on: connection)
            }
            _ = try await insertOperation(.void(held, event: op.eventID, now: now), on: connection)
        case .capture:
            let order = try await readOrder(id: p.orderID, on: connection)
            try await mutatePayment(p.id, on: connection) { p throws(StoreError) in
                try applyCapture(&p, order: order, actor: actor, now: now)
            }
        case .void:
            try await mutatePayment(p.id, on: connection) { p throws(StoreError) in
                try PaymentRules.void(&p, actor: actor, now: now)
            }
        case .finishRefund(let succeeded):
            try await finishRefundRow(op.refundID ?? "", succeeded: succeeded, now: now, on: connection)
        case .abandonWaiting:
            try await mutatePayment(p.id, on: connection) { p throws(StoreError) in
                try PaymentRules.declined(&p, reference: nil, reason: PaymentRules.providerUnavailable, now: now)
                return nil
            }
        case .alertDeadLetter:
            _ = try await insertAlert(
                kind: PaymentAlert.deadLetter, agent: nil, order: p.orderID, message: op.deadLetterMessage(p),
                on: connection)
        }
    }

    /// One READ COMMITTED transaction with the payment's row locked, then the void's: the void is finished and the
    /// captured remainder reserved for a refund together.
    package func supersedeVoid(_ key: String, now: Int64) async throws(StoreError) {
        try await transaction { connection in
            guard
                let payment = try await connection.scalar(
                    String.self, "SELECT payment_id FROM payment_ops WHERE key = \(key)", logger),
                let p = try await readPayments("WHERE id = \(payment) FOR UPDATE", on: connection).first,
                var op = try await readOperations("WHERE key = \(key) FOR UPDATE", on: connection).first,
                op.kind == .void, op.state == .pending, p.state.isCaptured
            else { return }
            op.supersededByCapture(now: now)
            try await updateOperation(op, on: connection)
            if p.refundable > 0 {
                try await reserveAutomaticRefund(
                    p, amount: p.refundable, source: op.eventID.map { "\($0)" } ?? "void", event: op.eventID,
                    reason: "order ended after capture", now: now, on: connection)
            }
        }
    }

    /// One `SELECT` by key.
    package func operation(key: String) async throws(StoreError) -> PaymentOperation? {
        try await run { connection in try await readOperations("WHERE key = \(key)", on: connection).first }
    }

    /// One `SELECT`, oldest first.
    package func operations(payment: String) async throws(StoreError) -> [PaymentOperation] {
        try await run { connection in
            try await readOperations("WHERE payment_id = \(payment) ORDER BY id", on: connection)
        }
    }

    /// One `SELECT` joined with the payments, oldest first.
    package func deadLetters(limit: Int) async throws(StoreError) -> [PaymentDeadLetter] {
        try await run { connection in
            let query: PostgresQuery = """
                SELECT \(unescaped: Self.operationColumns(alias: "o.")), p.order_id, p.currency FROM payment_ops o
                JOIN payments p ON p.id = o.payment_id WHERE o.state = 'dead' ORDER BY o.id LIMIT \(Int64(limit))
                """
            return try await connection.rows(query, logger).map { row in
                let operation = try Self.operationRow(row)
                let columns = row.makeRandomAccess()
                return PaymentDeadLetter(
                    operation: operation, orderID: try columns[16].decode(String.self),
                    currency: try columns[17].decode(String.self))
            }
        }
    }

    /// One `SELECT count(*)`.
    package func deadLetterCount() async throws(StoreError) -> Int {
        try await run { connection in
            Int(
                try await connection.scalar(
                    Int64.self, "SELECT count(*) FROM payment_ops WHERE state = 'dead'", logger) ?? 0)
        }
    }

    /// One READ COMMITTED transaction with the operation's row locked: two operators retrying at once make it
    /// pending once (the second finds it no longer dead).
    package func retryDeadLetter(key: String, now: Int64) async throws(StoreError) -> PaymentOperation {
        try await transaction { connection in
            guard var op = try await readOperations("WHERE key = \(key) FOR UPDATE", on: connection).first else {
                throw StoreError(.notFound, "no payment operation \(key)")
            }
            try op.retry(now: now)
            try await updateOperation(op, on: connection)
            return op
        }
    }

    // MARK: - Rows

    static func operationColumns(alias a: String = "") -> String {
        [
            "id", "key", "payment_id", "kind", "refund_id", "amount", "state", "outcome_unknown", "attempts",
            "next_attempt", "lease_owner", "lease_until", "last_error", "event_id", "created", "updated",
        ]
        .map { a + $0 }.joined(separator: ", ")
    }

    /// Inserts unless the key is stored (`ON CONFLICT DO NOTHING` waits for a concurrent insert of the key); true
    /// when inserted.
    @discardableResult
    func insertOperation(_ op: PaymentOperation, on connection: PostgresSession) async throws -> Bool {
        try await connection.rows(
            """
            INSERT INTO payment_ops(key, payment_id, kind, refund_id, amount, state, outcome_unknown, attempts,
                next_attempt, lease_owner, lease_until, last_error, event_id, created, updated)
            VALUES(\(op.key), \(op.paymentID), \(op.kind.rawValue), \(op.refundID), \(op.amount), \(op.state.rawValue),
                \(op.outcomeUnknown), \(Int64(op.attempts)), \(op.nextAttempt), \(op.leaseOwner), \(op.leaseUntil),
                \(op.lastError), \(op.eventID), \(op.createdAt), \(op.updatedAt))
            ON CONFLICT(key) DO NOTHING RETURNING 1
            """, logger
        ).count == 1
    }

    func updateOperation(_ op: PaymentOperation, on connection: PostgresSession) async throws {
        try await connection.query(
            """
            UPDATE payment_ops SET state = \(op.state.rawValue), outcome_unknown = \(op.outcomeUnknown),
                attempts = \(Int64(op.attempts)), next_attempt = \(op.nextAttempt), lease_owner = \(op.leaseOwner),
                lease_until = \(op.leaseUntil), last_error = \(op.lastError), updated = \(op.updatedAt)
            WHERE key = \(op.key)
            """, logger: logger)
    }

    /// Operations selected by `clause` (a `WHERE …` over `payment_ops o`, possibly ending in `FOR UPDATE`).
    func readOperations(_ clause: PostgresQuery, on connection: PostgresSession) async throws
        -> [PaymentOperation]
    {
        var query = PostgresQuery(unsafeSQL: "SELECT \(Self.operationColumns(alias: "o.")) FROM payment_ops o ")
        query.sql += clause.sql
        query.binds = clause.binds
        return try await connection.rows(query, logger).map(Self.operationRow)
    }

    /// The first 16 columns (``operationColumns(alias:)``) as an operation.
    static func operationRow(_ row: PostgresRow) throws -> PaymentOperation {
        let columns = row.makeRandomAccess()
        let (id, key, payment, kind, refund, amount, state, unknown) = try (
            columns[0].decode(Int64.self), columns[1].decode(String.self), columns[2].decode(String.self),
            columns[3].decode(String.self), columns[4].decode(String?.self), columns[5].decode(Int64.self),
            columns[6].decode(String.self), columns[7].decode(Bool.self)
        )
        let (attempts, next, leaseOwner, leaseUntil, lastError, event, created, updated) = try (
            columns[8].decode(Int64.self), columns[9].decode(Int64.self), columns[10].decode(String?.self),
            columns[11].decode(Int64.self), columns[12].decode(String?.self), columns[13].decode(Int64?.self),
            columns[14].decode(Int64.self), columns[15].decode(Int64.self)
        )
        guard let kind = PaymentOperation.Kind(rawValue: kind), let state = PaymentOperation.State(rawValue: state)
        else { throw StoreError(.corrupt, "payment_ops \(key): kind \(kind), state \(state)") }
        var op = PaymentOperation(
            key: key, paymentID: payment, kind: kind, refundID: refund, amount: amount, eventID: event, now: created)
        op.id = id
        op.state = state
        op.outcomeUnknown = unknown
        op.attempts = Int(attempts)
        op.nextAttempt = next
        op.leaseOwner = leaseOwner
        op.leaseUntil = leaseUntil
        op.lastError = lastError
        op.updatedAt = updated
        return op
    }
}
