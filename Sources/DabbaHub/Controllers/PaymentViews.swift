import DabbaProtocol
import Hummingbird

/// A payment as the API shows it. Money in minor units of `currency`.
struct PaymentView: ResponseCodable, Equatable {
    struct Refund: Codable, Equatable {
        var id: String
        var amount: Int64
        var state: RefundState
        var reason: String?
        var createdAt: String

        init(_ r: RefundRecord) {
            id = r.id
            amount = r.amount
            state = r.state
            reason = r.reason
            createdAt = Timestamp.format(milliseconds: r.createdAt)
        }
    }
    var id: String
    var order: String
    var customer: Int64
    var method: PaymentMethod
    var provider: String?
    var state: PaymentState
    var currency: String
    var amount: Int64
    var captured: Int64
    var refunded: Int64
    var refundPending: Int64
    var refundable: Int64
    var cardLast4: String?
    var failure: String?
    var nextAction: String?
    var createdAt: String
    var updatedAt: String
    var refunds: [Refund]

    init(_ p: PaymentRecord, refunds: [RefundRecord] = []) {
        id = p.id
        order = p.orderID
        customer = p.customerID
        method = p.method
        provider = p.provider
        state = p.state
        currency = p.currency
        amount = p.amount
        captured = p.captured
        refunded = p.refunded
        refundPending = p.refundPending
        refundable = p.refundable
        cardLast4 = p.cardLast4
        failure = p.failure
        nextAction = p.nextAction
        createdAt = Timestamp.format(milliseconds: p.createdAt)
        updatedAt = Timestamp.format(milliseconds: p.updatedAt)
        self.refunds = refunds.map(Refund.init)
    }
}

struct PaymentList: ResponseEncodable {
    var payments: [PaymentView]
}

struct RefundResult: ResponseEncodable {
    var refund: PaymentView.Refund
    var payment: PaymentView
}

struct ProviderWebhookResult: ResponseEncodable {
    var event: String
    var outcome: ProviderEventOutcome
}

struct BalanceView: ResponseEncodable {
    var account: String
    var currency: String
    var debits: Int64
    var credits: Int64
    var balance: Int64

    init(_ b: LedgerBalance) {
        account = b.account
        currency = b.currency
        debits = b.debits
        credits = b.credits
        balance = b.balance
    }
}

struct BalanceList: ResponseEncodable {
    var accounts: [BalanceView]
    /// Sums over the listed accounts per currency: debits always equal credits over the whole ledger.
    var totals: [BalanceTotal]
}

struct BalanceTotal: ResponseEncodable {
    var currency: String
    var debits: Int64
    var credits: Int64
}

struct StatementLine: ResponseEncodable {
    var entry: Int64
    var transaction: Int64
    var kind: String
    var payment: String?
    var order: String?
    var side: LedgerSide
    var amount: Int64
    var time: String

    init(_ e: LedgerEntry) {
        entry = e.id
        transaction = e.transactionID
        kind = e.kind
        payment = e.paymentID
        order = e.orderID
        side = e.side
        amount = e.amount
        time = Timestamp.format(milliseconds: e.time)
    }
}

struct Statement: ResponseEncodable {
    var account: String
    var currency: String
    var debits: Int64
    var credits: Int64
    var balance: Int64
    /// Newest first.
    var entries: [StatementLine]
    /// Pass as `before` for the next (older) page; nil on the last.
    var next: Int64?
}

struct Reconciliation: ResponseEncodable {
    var date: String
    var agents: [CashReconciliation]
}

struct HandInView: ResponseEncodable {
    var id: String
    var agent: String
    var currency: String
    var amount: Int64
    var note: String?
    var time: String
    /// Cash the agent still holds after the hand-in.
    var heldNow: Int64
}

struct AgentCashView: ResponseEncodable {
    var agent: String
    var currency: String
    var held: Int64
    var limit: Int64
    /// Whether a cash-on-delivery order of `amount` (query, default 0) may still be offered to the agent.
    var mayTakeCashOrders: Bool
}
