import DabbaProtocol
import HubModel
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

/// A provider operation (``PaymentOperation``) as operators see it.
struct PaymentOperationView: ResponseEncodable, Equatable {
    var key: String
    var payment: String
    var kind: PaymentOperation.Kind
    var state: PaymentOperation.State
    var amount: Int64
    var refund: String?
    var attempts: Int
    /// The last attempt got no answer that says what happened: the provider is asked before anything else.
    var outcomeUnknown: Bool
    var lastError: String?
    var nextAttempt: String?
    var createdAt: String
    var updatedAt: String

    init(_ op: PaymentOperation) {
        key = op.key
        payment = op.paymentID
        kind = op.kind
        state = op.state
        amount = op.amount
        refund = op.refundID
        attempts = op.attempts
        outcomeUnknown = op.outcomeUnknown
        lastError = op.lastError
        nextAttempt = op.state == .pending ? Timestamp.format(milliseconds: op.nextAttempt) : nil
        createdAt = Timestamp.format(milliseconds: op.createdAt)
        updatedAt = Timestamp.format(milliseconds: op.updatedAt)
    }
}

struct DeadLetterView: ResponseEncodable, Equatable {
    var operation: PaymentOperationView
    var order: String
    var currency: String

    init(_ d: PaymentDeadLetter) {
        operation = PaymentOperationView(d.operation)
        order = d.orderID
        currency = d.currency
    }
}

struct DeadLetterList: ResponseEncodable {
    var deadLetters: [DeadLetterView]
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
