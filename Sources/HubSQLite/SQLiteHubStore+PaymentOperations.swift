import DabbaCore
import DabbaProtocol
import DabbaSQLite
import HubModel

/// Provider operations (``PaymentOperation``): stored before
/// the call, leased to one runner at a time (a conditional write, so it holds across hubs), settled with their
/// effect on the payment and the ledger in one transaction.
extension SQLiteHubStore {
    static let alertReactionFailed = PaymentAlert.reactionFailed

    package func enqueueOperation(_ operation: PaymentOperation, owner: String, until: Int64)
        throws(StoreError) -> (operation: PaymentOperation, claimed: Bool)
    {
        try writeTransaction { () throws(StoreError) in
            let blocking = try run { () throws(SQLiteError) in
                try readOperations(
                    """
                     WHERE payment_id = ? AND key != ? AND state IN ('pending', 'dead') AND kind != 'refund'
                     ORDER BY id LIMIT 1
                    """, [.text(operation.paymentID), .text(operation.key)]
                ).first
            }
            if let blocking {
                throw StoreError(
                    .conflict,
                    "payment \(operation.paymentID) has a \(blocking.kind.rawValue) in progress (\(blocking.key), "
                        + "\(blocking.state.rawValue)); try again when it is settled")
            }
            try run { () throws(SQLiteError) in _ = try insertOperation(operation) }
            let claimed = try claim(operation.key, owner: owner, now: operation.createdAt, until: until)
            guard let stored = try run({ () throws(SQLiteError) in try readOperation(operation.key) }) else {
                throw StoreError(.notFound, "no operation \(operation.key)")
            }
            return (stored, claimed)
        }
    }

    /// The condition that `table`'s operation waits for no other: money movements of one payment go one at a time,
    /// oldest first (a void waits for a capture that is not settled, even a dead one: an operator settles that
    /// first); refunds never hold others back.
    static func unblocked(_ table: String) -> String {
        """
        NOT EXISTS (SELECT 1 FROM payment_ops e WHERE e.payment_id = \(table).payment_id AND e.id < \(table).id
            AND e.state IN ('pending', 'dead') AND e.kind != 'refund')
        """
    }

    package func dueOperations(now: Int64, limit: Int) throws(StoreError) -> [PaymentOperation] {
        try run { () throws(SQLiteError) in
            try readOperations(
                " o WHERE o.state = 'pending' AND o.next_attempt <= ?1 AND o.lease_until <= ?1 AND "
                    + Self.unblocked("o") + " ORDER BY o.next_attempt, o.id LIMIT ?2",
                [.integer(now), .integer(Int64(limit))], alias: "o.")
        }
    }

    package func nextOperationDue() throws(StoreError) -> Int64? {
        try run { () throws(SQLiteError) in
            try db.scalarInt(
                "SELECT MIN(MAX(o.next_attempt, o.lease_until)) FROM payment_ops o WHERE o.state = 'pending' AND "
                    + Self.unblocked("o"))
        }
    }

    package func claimOperation(key: String, owner: String, now: Int64, until: Int64) throws(StoreError)
        -> PaymentOperation?
    {
        guard try claim(key, owner: owner, now: now, until: until) else { return nil }
        return try run { () throws(SQLiteError) in try readOperation(key) }
    }

    private func claim(_ key: String, owner: String, now: Int64, until: Int64) throws(StoreError) -> Bool {
        try run { () throws(SQLiteError) -> Bool in
            try db.prepare(
                """
                UPDATE payment_ops SET lease_owner = ?1, lease_until = ?2
                WHERE key = ?3 AND state = 'pending' AND (lease_until <= ?4 OR lease_owner = ?1) AND
                """ + " " + Self.unblocked("payment_ops")
            ).run([.text(owner), .integer(until), .text(key), .integer(now)])
            return db.changes == 1
        }
    }

    package func settleOperation(
        _ key: String, outcome: PaymentOperationOutcome, owner: String?, actor: String, now: Int64
    ) throws(StoreError) -> (PaymentOperation, PaymentRecord) {
        try writeTransaction { () throws(StoreError) in
            guard var op = try run({ () throws(SQLiteError) in try readOperation(key) }) else {
                throw StoreError(.notFound, "no operation \(key)")
            }
            guard
                let p = try run({ () throws(SQLiteError) in try readPayments(" WHERE id = ?", [.text(op.paymentID)]) })
                    .first
            else { throw StoreError(.notFound, "no payment \(op.paymentID)") }
            // Someone else holds it now (our lease ran out and another runner took it): theirs to settle.
            guard op.state == .pending, owner == nil || op.leaseOwner == nil || op.leaseOwner == owner else {
                return (op, p)
            }
            for step in op.settle(outcome, payment: p, now: now) {
                try carryOut(step, op, p, actor: actor, now: now)
            }
            try run { () throws(SQLiteError) in try updateOperation(op) }
            guard
                let after = try run({ () throws(SQLiteError) in
                    try readPayments(" WHERE id = ?", [.text(op.paymentID)]).first
                })
            else { throw StoreError(.notFound, "no payment \(op.paymentID)") }
            return (op, after)
        }
    }

    /// One ``PaymentSettlementStep`` of settling `op`, on payment `p` as it was read.
    private func carryOut(
        _ step: PaymentSettlementStep, _ op: PaymentOperation, _ p: PaymentRecord, actor: String, now: Int64
    ) throws(StoreError) {
        switch step {
        case .settle(let authorization):
            try mutatePayment(p.id) { (p: inout PaymentRecord) throws(StoreError) -> LedgerPosting? in
                try PaymentRules.settle(&p, with: authorization, actor: actor, now: now)
            }
        case .releaseLateHold(let reference):
            var held = p
            if held.providerRef == nil {
                held.providerRef = reference
                held.updatedAt = now
                try run { () throws(SQLiteError) in try updatePayment(held) }
            }
            try run { () throws(SQLiteError) in _ = try insertOperation(.void(held, event: op.eventID, now: now)) }
        case .capture:
            try mutatePayment(p.id) { (p: inout PaymentRecord) throws(StoreError) in
                try applyCapture(&p, actor: actor, now: now)
            }
        case .void:
            try mutatePayment(p.id) { (p: inout PaymentRecord) throws(StoreError) in
                try PaymentRules.void(&p, actor: actor, now: now)
            }
        case .finishRefund(let succeeded):
            try finishRefundRow(op.refundID ?? "", succeeded: succeeded, now: now)
        case .abandonWaiting:
            try mutatePayment(p.id) { (p: inout PaymentRecord) throws(StoreError) in
                try PaymentRules.declined(&p, reference: nil, reason: PaymentRules.providerUnavailable, now: now)
                return nil
            }
        case .alertDeadLetter:
            _ = try raiseAlert(
                kind: PaymentAlert.deadLetter, agent: nil, order: p.orderID, message: op.deadLetterMessage(p))
        }
    }

    package func supersedeVoid(_ key: String, now: Int64) throws(StoreError) {
        try writeTransaction { () throws(StoreError) in
            guard var op = try run({ () throws(SQLiteError) in try readOperation(key) }), op.kind == .void,
                op.state == .pending
            else { return }
            guard
                let p = try run({ () throws(SQLiteError) in
                    try readPayments(" WHERE id = ?", [.text(op.paymentID)]).first
                }), p.state.isCaptured
            else { return }
            op.supersededByCapture(now: now)
            try run { () throws(SQLiteError) in try updateOperation(op) }
            if p.refundable > 0 {
                try reserveAutomaticRefund(
                    p, amount: p.refundable, source: op.eventID.map { "\($0)" } ?? "void", event: op.eventID,
                    reason: "order ended after capture", now: now)
            }
        }
    }

    package func operation(key: String) throws(StoreError) -> PaymentOperation? {
        try run { () throws(SQLiteError) in try readOperation(key) }
    }

    package func operations(payment: String) throws(StoreError) -> [PaymentOperation] {
        try run { () throws(SQLiteError) in try readOperations(" WHERE payment_id = ? ORDER BY id", [.text(payment)]) }
    }

    package func deadLetters(limit: Int) throws(StoreError) -> [PaymentDeadLetter] {
        try run { () throws(SQLiteError) in
            let s = try db.prepare(
                "SELECT \(Self.operationColumns(alias: "o.")), p.order_id, p.currency FROM payment_ops o "
                    + "JOIN payments p ON p.id = o.payment_id WHERE o.state = 'dead' ORDER BY o.id LIMIT ?")
            defer { s.reset() }
            try s.bind([.integer(Int64(limit))])
            var result: [PaymentDeadLetter] = []
            while try s.step() {
                result.append(
                    PaymentDeadLetter(
                        operation: Self.operationRow(s), orderID: s.text(16) ?? "", currency: s.text(17) ?? ""))
            }
            return result
        }
    }

    package func deadLetterCount() throws(StoreError) -> Int {
        try run { () throws(SQLiteError) in
            Int(try db.scalarInt("SELECT COUNT(*) FROM payment_ops WHERE state = 'dead'") ?? 0)
        }
    }

    package func retryDeadLetter(key: String, now: Int64) throws(StoreError) -> PaymentOperation {
        try writeTransaction { () throws(StoreError) in
            guard var op = try run({ () throws(SQLiteError) in try readOperation(key) }) else {
                throw StoreError(.notFound, "no payment operation \(key)")
            }
            try op.retry(now: now)
            try run { () throws(SQLiteError) in try updateOperation(op) }
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

    /// Inserts unless the key is stored; true when inserted.
    func insertOperation(_ op: PaymentOperation) throws(SQLiteError) -> Bool {
        try db.prepare(
            """
            INSERT INTO payment_ops(key, payment_id, kind, refund_id, amount, state, outcome_unknown, attempts,
                next_attempt, lease_owner, lease_until, last_error, event_id, created, updated)
            VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO NOTHING
            """
        ).run([
            .text(op.key), .text(op.paymentID), .text(op.kind.rawValue), op.refundID.map { .text($0) } ?? .null,
            .integer(op.amount), .text(op.state.rawValue), .integer(op.outcomeUnknown ? 1 : 0),
            .integer(Int64(op.attempts)), .integer(op.nextAttempt), op.leaseOwner.map { .text($0) } ?? .null,
            .integer(op.leaseUntil), op.lastError.map { .text($0) } ?? .null, op.eventID.map { .integer($0) } ?? .null,
            .integer(op.createdAt), .integer(op.updatedAt),
        ])
        return db.changes == 1
    }

    func updateOperation(_ op: PaymentOperation) throws(SQLiteError) {
        try db.prepare(
            """
            UPDATE payment_ops SET state = ?, outcome_unknown = ?, attempts = ?, next_attempt = ?, lease_owner = ?,
                lease_until = ?, last_error = ?, updated = ? WHERE key = ?
            """
        ).run([
            .text(op.state.rawValue), .integer(op.outcomeUnknown ? 1 : 0), .integer(Int64(op.attempts)),
            .integer(op.nextAttempt), op.leaseOwner.map { .text($0) } ?? .null, .integer(op.leaseUntil),
            op.lastError.map { .text($0) } ?? .null, .integer(op.updatedAt), .text(op.key),
        ])
    }

    func readOperation(_ key: String) throws(SQLiteError) -> PaymentOperation? {
        try readOperations(" WHERE key = ?", [.text(key)]).first
    }

    func readOperations(_ clause: String, _ bindings: [SQLiteValue], alias: String = "") throws(SQLiteError)
        -> [PaymentOperation]
    {
        let s = try db.prepare("SELECT \(Self.operationColumns(alias: alias)) FROM payment_ops" + clause)
        defer { s.reset() }
        try s.bind(bindings)
        var result: [PaymentOperation] = []
        while try s.step() { result.append(Self.operationRow(s)) }
        return result
    }

    static func operationRow(_ s: SQLiteStatement) -> PaymentOperation {
        var op = PaymentOperation(
            key: s.text(1) ?? "", paymentID: s.text(2) ?? "",
            kind: PaymentOperation.Kind(rawValue: s.text(3) ?? "") ?? .capture, refundID: s.text(4),
            amount: s.int64(5), eventID: s.isNull(13) ? nil : s.int64(13), now: s.int64(14))
        op.id = s.int64(0)
        op.state = PaymentOperation.State(rawValue: s.text(6) ?? "") ?? .dead
        op.outcomeUnknown = s.int64(7) != 0
        op.attempts = Int(s.int64(8))
        op.nextAttempt = s.int64(9)
        op.leaseOwner = s.text(10)
        op.leaseUntil = s.int64(11)
        op.lastError = s.text(12)
        op.updatedAt = s.int64(15)
        return op
    }
}
