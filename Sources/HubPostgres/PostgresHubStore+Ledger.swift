import DabbaCore
import HubModel
import PostgresNIO

/// The double-entry ledger: postings, balances, statements, cash hand-ins and the day's cash reconciliation.
extension PostgresHubStore {
    /// Serialises postings (a transaction-scoped advisory lock), so ledger ids become visible in increasing order
    /// as under SQLite's single writer and ``ledgerEntries(after:limit:)`` never passes an entry that commits later.
    static let ledgerLock: Int64 = 0x6461_6262_615F_6C67  // "dabba_lg"

    /// Writes a validated, balanced posting — the transaction row, its entries, and each account's running totals —
    /// inside the transaction that changes the state it records. The totals are incremented by `INSERT … ON
    /// CONFLICT DO UPDATE`, which adds to the newest committed version of the account's row under its row lock, so
    /// concurrent postings to one account never lose an amount. A total that would pass BIGINT fails the statement
    /// (22003) and with it the whole transaction: money is never wrapped or dropped.
    func post(_ posting: LedgerPosting, now: Int64, on connection: PostgresSession) async throws {
        try posting.validate()
        try await connection.query("SELECT pg_advisory_xact_lock(\(Self.ledgerLock))", logger: logger)
        let transaction = try await connection.scalar(
            Int64.self,
            """
            INSERT INTO ledger_transactions(kind, payment_id, order_id, currency, actor, memo, created)
            VALUES(\(posting.kind), \(posting.paymentID), \(posting.orderID), \(posting.currency), \(posting.actor),
                \(posting.memo), \(now))
            RETURNING id
            """, logger)
        guard let transaction else { throw StoreError(.other, "ledger_transactions: the insert returned no id") }
        for leg in posting.legs {
            try await connection.query(
                """
                INSERT INTO ledger_entries(transaction_id, account, currency, side, amount)
                VALUES(\(transaction), \(leg.account), \(posting.currency), \(leg.side.rawValue), \(leg.amount))
                """, logger: logger)
            let debit = leg.side == .debit ? leg.amount : 0
            let credit = leg.side == .credit ? leg.amount : 0
            try await connection.query(
                """
                INSERT INTO ledger_accounts(name, currency, debits, credits, created)
                VALUES(\(leg.account), \(posting.currency), \(debit), \(credit), \(now))
                ON CONFLICT(name, currency) DO UPDATE
                SET debits = ledger_accounts.debits + EXCLUDED.debits, credits = ledger_accounts.credits + EXCLUDED.credits
                """, logger: logger)
        }
    }

    /// One `SELECT` of the account's totals.
    package func agentCashHeld(agent: String, currency: String) async throws(StoreError) -> Int64 {
        try await run { connection in try await balance(LedgerAccount.agentCash(agent), currency, on: connection) }
    }

    /// An account's balance (debits − credits, checked: `corrupt` if the stored totals could not have been posted);
    /// with `lock`, the account's row is locked until the transaction ends.
    func balance(_ account: String, _ currency: String, lock: Bool = false, on connection: PostgresSession)
        async throws -> Int64
    {
        guard
            let row = try await connection.rows(
                """
                SELECT debits, credits FROM ledger_accounts WHERE name = \(account) AND currency = \(currency)
                \(unescaped: lock ? "FOR UPDATE" : "")
                """, logger
            ).first
        else { return 0 }
        let (debits, credits) = try row.decode((Int64, Int64).self)
        guard let balance = Checked.subtract(debits, credits) else {
            throw StoreError(.corrupt, "ledger account \(account) \(currency): its balance does not fit in 64 bits")
        }
        return balance
    }

    /// One READ COMMITTED transaction that locks the agent's cash account first: two hand-ins at once (two
    /// operators, two hubs) are checked one after the other against what is held, so together they never exceed
    /// it; the hand-in and its posting commit together.
    package func recordCashHandIn(_ handIn: CashHandIn) async throws(StoreError) -> CashHandIn {
        try await transaction { connection in
            let held = try await balance(
                LedgerAccount.agentCash(handIn.agent), handIn.currency, lock: true, on: connection)
            guard handIn.amount <= held else {
                throw StoreError(
                    .illegalTransition,
                    "amount: \(handIn.amount) exceeds the \(held) \(handIn.currency) agent \(handIn.agent) holds")
            }
            try await connection.query(
                """
                INSERT INTO cash_handins(id, agent_id, currency, amount, actor, note, time, day)
                VALUES(\(handIn.id), \(handIn.agent), \(handIn.currency), \(handIn.amount), \(handIn.actor),
                    \(handIn.note), \(handIn.time), \(Self.day(handIn.time)))
                """, logger: logger)
            try await post(Postings.handIn(handIn), now: handIn.time, on: connection)
            return handIn
        }
    }

    /// One REPEATABLE READ transaction (read-only): the day's collections, hand-ins and the balances held now, from
    /// one snapshot, so a hand-in committing meanwhile is in all of them or none. Sums are `numeric` in PostgreSQL
    /// and checked to fit in 64 bits here.
    package func cashReconciliation(day: String, agent: String?) async throws(StoreError) -> [CashReconciliation] {
        try await transaction(.repeatableRead) { connection -> [CashReconciliation] in
            struct Key: Hashable {
                var agent: String
                var currency: String
            }
            var rows: [Key: CashReconciliation] = [:]
            for row in try await connection.rows(
                """
                SELECT agent_id, currency, count(*), sum(expected)::text, sum(collected)::text FROM cod_collections
                WHERE day = \(day) AND (\(agent)::text IS NULL OR agent_id = \(agent)) GROUP BY agent_id, currency
                """, logger)
            {
                let (agentID, currency, orders, expected, collected) = try row.decode(
                    (String, String, Int64, String, String).self)
                let key = Key(agent: agentID, currency: currency)
                rows[key] = CashReconciliation(
                    agent: agentID, currency: currency, day: day, orders: Int(orders),
                    expected: try Self.sum(expected, "expected"), collected: try Self.sum(collected, "collected"),
                    handedIn: 0, heldNow: 0)
            }
            for row in try await connection.rows(
                """
                SELECT agent_id, currency, sum(amount)::text FROM cash_handins
                WHERE day = \(day) AND (\(agent)::text IS NULL OR agent_id = \(agent)) GROUP BY agent_id, currency
                """, logger)
            {
                let (agentID, currency, handedIn) = try row.decode((String, String, String).self)
                let key = Key(agent: agentID, currency: currency)
                rows[
                    key,
                    default: CashReconciliation(
                        agent: agentID, currency: currency, day: day, orders: 0, expected: 0, collected: 0,
                        handedIn: 0, heldNow: 0)
                ].handedIn = try Self.sum(handedIn, "handed in")
            }
            var result: [CashReconciliation] = []
            for key in rows.keys.sorted(by: { ($0.agent, $0.currency) < ($1.agent, $1.currency) }) {
                guard var row = rows[key] else { continue }
                row.heldNow = try await balance(LedgerAccount.agentCash(key.agent), key.currency, on: connection)
                result.append(row)
            }
            return result
        }
    }

    /// A `sum(…)::text` as Int64; `other` when the day's total does not fit.
    static func sum(_ text: String, _ what: String) throws(StoreError) -> Int64 {
        guard let value = Int64(text) else { throw StoreError(.other, "cash reconciliation: \(what) total \(text)") }
        return value
    }

    /// One `SELECT`, by account then currency; a prefix matches byte by byte (`starts_with`, no pattern).
    package func ledgerBalances(prefix: String?) async throws(StoreError) -> [LedgerBalance] {
        try await run { connection in
            try await connection.rows(
                """
                SELECT name, currency, debits, credits FROM ledger_accounts WHERE starts_with(name, \(prefix ?? ""))
                ORDER BY name, currency
                """, logger
            ).map { row in
                let (name, currency, debits, credits) = try row.decode((String, String, Int64, Int64).self)
                return LedgerBalance(account: name, currency: currency, debits: debits, credits: credits)
            }
        }
    }

    /// One `SELECT`, newest first.
    package func ledgerStatement(account: String, currency: String, before: Int64?, limit: Int)
        async throws(StoreError) -> [LedgerEntry]
    {
        try await run { connection in
            try await readEntries(
                """
                WHERE e.account = \(account) AND e.currency = \(currency) AND e.id < \(before ?? Int64.max)
                ORDER BY e.id DESC LIMIT \(Int64(limit))
                """, on: connection)
        }
    }

    /// One `SELECT`, oldest first (ids visible in commit order: ``ledgerLock``).
    package func ledgerEntries(after: Int64, limit: Int) async throws(StoreError) -> [LedgerEntry] {
        try await run { connection in
            try await readEntries("WHERE e.id > \(after) ORDER BY e.id LIMIT \(Int64(limit))", on: connection)
        }
    }

    private func readEntries(_ clause: PostgresQuery, on connection: PostgresSession) async throws
        -> [LedgerEntry]
    {
        var query = PostgresQuery(
            unsafeSQL: """
                SELECT e.id, e.transaction_id, t.kind, t.payment_id, t.order_id, e.account, e.currency, e.side,
                    e.amount, t.created
                FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
                """)
        query.sql += " " + clause.sql
        query.binds = clause.binds
        return try await connection.rows(query, logger).map { row in
            let (id, transaction, kind, payment, order, account, currency, side, amount, time) = try row.decode(
                (Int64, Int64, String, String?, String?, String, String, String, Int64, Int64).self)
            guard let side = LedgerSide(rawValue: side) else {
                throw StoreError(.corrupt, "ledger_entries \(id): side \(side)")
            }
            return LedgerEntry(
                id: id, transactionID: transaction, kind: kind, paymentID: payment, orderID: order, account: account,
                currency: currency, side: side, amount: amount, time: time)
        }
    }
}
