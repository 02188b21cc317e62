import DabbaCore
import DabbaProtocol
import DabbaSQLite
import HubModel

extension SQLiteHubStore {
    /// Writes a validated, balanced posting: the transaction row, its entries, and each account's running totals.
    /// Call inside the transaction that changes the state the posting records.
    func post(_ posting: LedgerPosting, now: Int64) throws(StoreError) {
        try posting.validate()
        try run { () throws(SQLiteError) in
            try db.prepare(
                """
                INSERT INTO ledger_transactions(kind, payment_id, order_id, currency, actor, memo, created)
                VALUES(?, ?, ?, ?, ?, ?, ?)
                """
            ).run([
                .text(posting.kind), posting.paymentID.map { .text($0) } ?? .null,
                posting.orderID.map { .text($0) } ?? .null, .text(posting.currency), .text(posting.actor),
                posting.memo.map { .text($0) } ?? .null, .integer(now),
            ])
            let transaction = try db.scalarInt("SELECT last_insert_rowid()") ?? 0
            let entry = try db.prepare(
                "INSERT INTO ledger_entries(transaction_id, account, currency, side, amount) VALUES(?, ?, ?, ?, ?)")
            let account = try db.prepare(
                """
                INSERT INTO ledger_accounts(name, currency, debits, credits, created) VALUES(?, ?, ?, ?, ?)
                ON CONFLICT(name, currency) DO UPDATE
                SET debits = debits + excluded.debits, credits = credits + excluded.credits
                """)
            for leg in posting.legs {
                try entry.run([
                    .integer(transaction), .text(leg.account), .text(posting.currency), .text(leg.side.rawValue),
                    .integer(leg.amount),
                ])
                let debit = leg.side == .debit ? leg.amount : 0
                try account.run([
                    .text(leg.account), .text(posting.currency), .integer(debit), .integer(leg.amount - debit),
                    .integer(now),
                ])
            }
        }
    }

    package func agentCashHeld(agent: String, currency: String) throws(StoreError) -> Int64 {
        try run { () throws(SQLiteError) in try balance(LedgerAccount.agentCash(agent), currency) }
    }

    func balance(_ account: String, _ currency: String) throws(SQLiteError) -> Int64 {
        try db.scalarInt(
            "SELECT debits - credits FROM ledger_accounts WHERE name = ? AND currency = ?",
            [.text(account), .text(currency)]) ?? 0
    }

    package func recordCashHandIn(_ handIn: CashHandIn) throws(StoreError) -> CashHandIn {
        try writeTransaction { () throws(StoreError) in
            let held = try run { () throws(SQLiteError) in
                try balance(LedgerAccount.agentCash(handIn.agent), handIn.currency)
            }
            guard handIn.amount <= held else {
                throw StoreError(
                    .illegalTransition,
                    "amount: \(handIn.amount) exceeds the \(held) \(handIn.currency) agent \(handIn.agent) holds")
            }
            try run { () throws(SQLiteError) in
                try db.prepare(
                    "INSERT INTO cash_handins(id, agent_id, currency, amount, actor, note, time, day) VALUES(?, ?, ?, ?, ?, ?, ?, ?)"
                ).run([
                    .text(handIn.id), .text(handIn.agent), .text(handIn.currency), .integer(handIn.amount),
                    .text(handIn.actor), handIn.note.map { .text($0) } ?? .null, .integer(handIn.time),
                    .text(Self.day(handIn.time)),
                ])
            }
            try post(Postings.handIn(handIn), now: handIn.time)
            return handIn
        }
    }

    package func cashReconciliation(day: String, agent: String?) throws(StoreError) -> [CashReconciliation] {
        try run { () throws(SQLiteError) -> [CashReconciliation] in
            struct Key: Hashable {
                var agent: String
                var currency: String
            }
            var rows: [Key: CashReconciliation] = [:]
            let filter = agent == nil ? "" : " AND agent_id = ?"
            var bindings: [SQLiteValue] = [.text(day)]
            if let agent { bindings.append(.text(agent)) }
            let collections = try db.prepare(
                "SELECT agent_id, currency, COUNT(*), SUM(expected), SUM(collected) FROM cod_collections WHERE day = ?"
                    + filter + " GROUP BY agent_id, currency")
            defer { collections.reset() }
            try collections.bind(bindings)
            while try collections.step() {
                let key = Key(agent: collections.text(0) ?? "", currency: collections.text(1) ?? "")
                rows[key] = CashReconciliation(
                    agent: key.agent, currency: key.currency, day: day, orders: Int(collections.int64(2)),
                    expected: collections.int64(3), collected: collections.int64(4), handedIn: 0, heldNow: 0)
            }
            collections.reset()
            let handIns = try db.prepare(
                "SELECT agent_id, currency, SUM(amount) FROM cash_handins WHERE day = ?" + filter
                    + " GROUP BY agent_id, currency")
            defer { handIns.reset() }
            try handIns.bind(bindings)
            while try handIns.step() {
                let key = Key(agent: handIns.text(0) ?? "", currency: handIns.text(1) ?? "")
                rows[
                    key,
                    default: CashReconciliation(
                        agent: key.agent, currency: key.currency, day: day, orders: 0, expected: 0, collected: 0,
                        handedIn: 0, heldNow: 0)
                ].handedIn = handIns.int64(2)
            }
            handIns.reset()
            var result: [CashReconciliation] = []
            for key in rows.keys.sorted(by: { ($0.agent, $0.currency) < ($1.agent, $1.currency) }) {
                var row = rows[key]!
                row.heldNow = try balance(LedgerAccount.agentCash(key.agent), key.currency)
                result.append(row)
            }
            return result
        }
    }

    package func ledgerBalances(prefix: String?) throws(StoreError) -> [LedgerBalance] {
        try run { () throws(SQLiteError) in
            let s = try db.prepare(
                "SELECT name, currency, debits, credits FROM ledger_accounts WHERE substr(name, 1, length(?1)) = ?1 "
                    + "ORDER BY name, currency")
            defer { s.reset() }
            try s.bind([.text(prefix ?? "")])
            var result: [LedgerBalance] = []
            while try s.step() {
                result.append(
                    LedgerBalance(
                        account: s.text(0) ?? "", currency: s.text(1) ?? "", debits: s.int64(2), credits: s.int64(3)))
            }
            return result
        }
    }

    package func ledgerStatement(account: String, currency: String, before: Int64?, limit: Int)
        throws(StoreError) -> [LedgerEntry]
    {
        try run { () throws(SQLiteError) in
            try readEntries(
                " WHERE e.account = ? AND e.currency = ? AND e.id < ? ORDER BY e.id DESC LIMIT ?",
                [.text(account), .text(currency), .integer(before ?? Int64.max), .integer(Int64(limit))])
        }
    }

    package func ledgerEntries(after: Int64, limit: Int) throws(StoreError) -> [LedgerEntry] {
        try run { () throws(SQLiteError) in
            try readEntries(" WHERE e.id > ? ORDER BY e.id LIMIT ?", [.integer(after), .integer(Int64(limit))])
        }
    }

    private func readEntries(_ clause: String, _ bindings: [SQLiteValue]) throws(SQLiteError) -> [LedgerEntry] {
        let s = try db.prepare(
            """
            SELECT e.id, e.transaction_id, t.kind, t.payment_id, t.order_id, e.account, e.currency, e.side, e.amount,
                t.created
            FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.transaction_id
            """ + clause)
        defer { s.reset() }
        try s.bind(bindings)
        var result: [LedgerEntry] = []
        while try s.step() {
            result.append(
                LedgerEntry(
                    id: s.int64(0), transactionID: s.int64(1), kind: s.text(2) ?? "", paymentID: s.text(3),
                    orderID: s.text(4), account: s.text(5) ?? "", currency: s.text(6) ?? "",
                    side: LedgerSide(rawValue: s.text(7) ?? "") ?? .debit, amount: s.int64(8), time: s.int64(9)))
        }
        return result
    }
}
