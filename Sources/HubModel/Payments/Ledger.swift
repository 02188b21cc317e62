import DabbaCore

/// The side of a ledger entry. Every account's balance is `debits - credits`.
package enum LedgerSide: String, Sendable, Codable {
    case debit, credit
}

/// One leg of a ledger transaction: a positive amount on one side of one account.
package struct LedgerLeg: Sendable, Equatable {
    package var account: String
    package var side: LedgerSide
    package var amount: Int64

    package init(_ side: LedgerSide, _ account: String, _ amount: Int64) {
        self.account = account
        self.side = side
        self.amount = amount
    }
}

/// A balanced set of legs in one currency, written atomically with the state change it records. Entries are
/// append-only (the database refuses UPDATE and DELETE on them); a correction is a new posting.
package struct LedgerPosting: Sendable, Equatable {
    /// `authorize`, `capture`, `void`, `refund`, `cod_collect`, `cash_hand_in`.
    package var kind: String
    package var paymentID: String?
    package var orderID: String?
    package var currency: String
    package var actor: String
    package var memo: String?
    package var legs: [LedgerLeg]

    package init(
        kind: String, paymentID: String? = nil, orderID: String? = nil, currency: String, actor: String,
        memo: String? = nil, legs: [LedgerLeg]
    ) {
        self.kind = kind
        self.paymentID = paymentID
        self.orderID = orderID
        self.currency = currency
        self.actor = actor
        self.memo = memo
        // Zero legs carry nothing (a cash-on-delivery order paid with no cash, say) and are left out.
        self.legs = legs.filter { $0.amount != 0 }
    }

    /// The sum of the debit legs; nil when it does not fit in Int64 (``validate()`` refuses such a posting).
    package var debits: Int64? { total(.debit) }
    /// The sum of the credit legs; nil when it does not fit in Int64 (``validate()`` refuses such a posting).
    package var credits: Int64? { total(.credit) }

    /// Checked: amounts can come from devices and providers, and a trap inside the reactor's transaction would
    /// crash the hub again on every restart.
    func total(_ side: LedgerSide) -> Int64? {
        Checked.sum(legs.lazy.filter { $0.side == side }.map(\.amount))
    }

    /// Refuses a posting that is empty, unbalanced, has a non-positive leg or a malformed currency: the one check
    /// every write goes through, inside its transaction.
    package func validate() throws(StoreError) {
        guard !legs.isEmpty else { throw StoreError(.other, "ledger: a posting needs legs") }
        guard Money.isCurrency(currency) else { throw StoreError(.other, "ledger: bad currency \(currency)") }
        guard legs.allSatisfy({ $0.amount > 0 && !$0.account.isEmpty }) else {
            throw StoreError(.other, "ledger: every leg needs an account and a positive amount")
        }
        guard legs.allSatisfy({ $0.amount <= Money.maxAmount }) else {
            throw StoreError(.other, "ledger: a leg above \(Money.maxAmount) minor units in a \(kind) posting")
        }
        guard let debits, let credits, debits == credits else {
            throw StoreError(
                .other,
                "ledger: unbalanced \(kind) posting (debits \(debits.map(String.init) ?? "overflow"), "
                    + "credits \(credits.map(String.init) ?? "overflow"))")
        }
    }
}

/// The ledger's account names. One account per name and currency.
package enum LedgerAccount {
    /// What the customer owes the platform (debit) or is owed (credit).
    package static func customer(_ id: Int64) -> String { "customer:\(id)" }
    /// Authorization holds on the customer's card (credit while held).
    package static func customerHolds(_ id: Int64) -> String { "customer:\(id):authorized" }
    /// Authorized funds the provider holds for us (debit while held).
    package static func providerHolds(_ provider: String) -> String { "provider:\(provider):authorized" }
    /// Captured funds the provider owes the platform (settlements would credit it).
    package static func providerClearing(_ provider: String) -> String { "provider:\(provider):clearing" }
    /// What the platform owes a restaurant (credit).
    package static func restaurantPayable(_ id: String) -> String { "restaurant:\(id):payable" }
    /// Cash an agent holds for the platform (debit).
    package static func agentCash(_ id: String) -> String { "agent:\(id):cash" }
    /// Delivery fees earned.
    package static let platformRevenue = "platform:revenue"
    /// Tax collected, owed to the tax authority.
    package static let platformTax = "platform:tax"
    /// Money given back to customers.
    package static let platformRefunds = "platform:refunds"
    /// Cash handed in by agents.
    package static let platformCash = "platform:cash"
}

/// Money in the API: integer minor units, ISO 4217 currency codes.
package enum Money {
    /// Three upper-case ASCII letters.
    package static func isCurrency(_ code: String) -> Bool {
        code.utf8.count == 3 && code.utf8.allSatisfy { $0 >= 0x41 && $0 <= 0x5A }
    }

    /// Largest amount accepted anywhere (10^13 minor units): far below overflow when summed.
    package static let maxAmount: Int64 = 10_000_000_000_000
}

/// The postings of each money movement; the only place that decides which accounts move.
package enum Postings {
    /// Card authorized: the provider holds `amount` for us against the customer's card.
    package static func authorize(_ p: PaymentRecord, actor: String) -> LedgerPosting {
        LedgerPosting(
            kind: "authorize", paymentID: p.id, orderID: p.orderID, currency: p.currency, actor: actor,
            legs: [
                LedgerLeg(.debit, LedgerAccount.providerHolds(p.provider ?? "-"), p.amount),
                LedgerLeg(.credit, LedgerAccount.customerHolds(p.customerID), p.amount),
            ])
    }

    /// Authorization released without capture.
    package static func void(_ p: PaymentRecord, actor: String) -> LedgerPosting {
        LedgerPosting(
            kind: "void", paymentID: p.id, orderID: p.orderID, currency: p.currency, actor: actor,
            legs: [
                LedgerLeg(.debit, LedgerAccount.customerHolds(p.customerID), p.amount),
                LedgerLeg(.credit, LedgerAccount.providerHolds(p.provider ?? "-"), p.amount),
            ])
    }

    /// The order's total split into what the restaurant is owed, the delivery fee and the tax (anything the
    /// parts do not explain goes to revenue, so the split always sums to `amount`).
    static func sale(_ order: OrderRecord, amount: Int64) -> [LedgerLeg] {
        let subtotal = min(max(order.subtotal, 0), amount)
        let tax = min(max(order.tax, 0), amount - subtotal)
        return [
            LedgerLeg(.credit, LedgerAccount.restaurantPayable(order.restaurantID), subtotal),
            LedgerLeg(.credit, LedgerAccount.platformRevenue, amount - subtotal - tax),
            LedgerLeg(.credit, LedgerAccount.platformTax, tax),
        ]
    }

    /// Card captured: the hold is released, the provider owes us the money, and the sale is booked.
    package static func capture(_ p: PaymentRecord, order: OrderRecord, actor: String) -> LedgerPosting {
        let provider = p.provider ?? "-"
        var legs: [LedgerLeg] = [
            LedgerLeg(.debit, LedgerAccount.customerHolds(p.customerID), p.amount),
            LedgerLeg(.credit, LedgerAccount.providerHolds(provider), p.amount),
            LedgerLeg(.debit, LedgerAccount.providerClearing(provider), p.amount),
        ]
        legs.append(contentsOf: sale(order, amount: p.amount))
        return LedgerPosting(
            kind: "capture", paymentID: p.id, orderID: p.orderID, currency: p.currency, actor: actor, legs: legs)
    }

    /// A refund paid back through the provider (cards) or in cash (cash on delivery).
    package static func refund(_ p: PaymentRecord, amount: Int64, refundID: String, actor: String) -> LedgerPosting {
        let source =
            p.method == .cod ? LedgerAccount.platformCash : LedgerAccount.providerClearing(p.provider ?? "-")
        return LedgerPosting(
            kind: "refund", paymentID: p.id, orderID: p.orderID, currency: p.currency, actor: actor, memo: refundID,
            legs: [LedgerLeg(.debit, LedgerAccount.platformRefunds, amount), LedgerLeg(.credit, source, amount)])
    }

    /// Cash on delivery: the sale is booked against the customer and the agent now holds what was collected
    /// (any difference stays on the customer's account and shows in the reconciliation).
    package static func codCollect(
        _ p: PaymentRecord, order: OrderRecord, agent: String, collected: Int64, actor: String
    )
        -> LedgerPosting
    {
        var legs: [LedgerLeg] = [LedgerLeg(.debit, LedgerAccount.customer(p.customerID), order.total)]
        legs.append(contentsOf: sale(order, amount: order.total))
        legs.append(LedgerLeg(.debit, LedgerAccount.agentCash(agent), collected))
        legs.append(LedgerLeg(.credit, LedgerAccount.customer(p.customerID), collected))
        return LedgerPosting(
            kind: "cod_collect", paymentID: p.id, orderID: p.orderID, currency: p.currency, actor: actor, legs: legs)
    }

    /// An agent hands cash in to an operator.
    package static func handIn(_ h: CashHandIn) -> LedgerPosting {
        LedgerPosting(
            kind: "cash_hand_in", currency: h.currency, actor: h.actor, memo: h.id,
            legs: [
                LedgerLeg(.debit, LedgerAccount.platformCash, h.amount),
                LedgerLeg(.credit, LedgerAccount.agentCash(h.agent), h.amount),
            ])
    }
}

/// An account's totals. `balance = debits - credits`.
package struct LedgerBalance: Sendable, Equatable, Codable {
    package var account: String
    package var currency: String
    package var debits: Int64
    package var credits: Int64
    package var balance: Int64 { debits - credits }

    package init(account: String, currency: String, debits: Int64, credits: Int64) {
        self.account = account
        self.currency = currency
        self.debits = debits
        self.credits = credits
    }
}

/// One stored entry, with its transaction's details.
package struct LedgerEntry: Sendable, Equatable {
    package var id: Int64
    package var transactionID: Int64
    package var kind: String
    package var paymentID: String?
    package var orderID: String?
    package var account: String
    package var currency: String
    package var side: LedgerSide
    package var amount: Int64
    package var time: Int64

    package init(
        id: Int64, transactionID: Int64, kind: String, paymentID: String? = nil, orderID: String? = nil,
        account: String, currency: String, side: LedgerSide, amount: Int64, time: Int64
    ) {
        self.id = id
        self.transactionID = transactionID
        self.kind = kind
        self.paymentID = paymentID
        self.orderID = orderID
        self.account = account
        self.currency = currency
        self.side = side
        self.amount = amount
        self.time = time
    }
}
