/// Where a payment is in its life.
///
/// `requires_payment` → `authorized` → `captured` → `partially_refunded` / `refunded`; `requires_payment` →
/// `failed` (declined); `authorized` → `cancelled` (voided). A card that needs asynchronous verification stays in
/// `requires_payment` (with ``PaymentRecord/nextAction`` `await_verification`) until the provider's webhook says.
/// Cash on delivery is recorded as `captured` when the agent delivers.
public enum PaymentState: String, Sendable, Codable, CaseIterable {
    case requiresPayment = "requires_payment"
    case authorized, captured
    case partiallyRefunded = "partially_refunded"
    case refunded, failed, cancelled

    /// Money has been taken (refunds apply).
    public var isCaptured: Bool { [.captured, .partiallyRefunded, .refunded].contains(self) }
}

/// One payment of one order. Money in minor units of `currency`.
public struct PaymentRecord: Sendable, Equatable {
    public var id: String
    public var orderID: String
    public var customerID: Int64
    public var method: PaymentMethod
    /// The provider's name (`test` for the built-in one); nil for cash on delivery.
    public var provider: String?
    /// The provider's reference for this payment (its webhooks name it).
    public var providerRef: String?
    public var state: PaymentState
    public var currency: String
    /// What is authorized (the order's total).
    public var amount: Int64
    /// What was captured (for cash on delivery: the cash the agent collected).
    public var captured: Int64 = 0
    /// Refunds that succeeded.
    public var refunded: Int64 = 0
    /// Refunds reserved and sent to the provider, not yet answered (counted against the captured amount).
    public var refundPending: Int64 = 0
    public var cardLast4: String?
    /// Why the payment failed (provider's decline reason).
    public var failure: String?
    /// `await_verification` while the provider verifies the card asynchronously.
    public var nextAction: String?
    /// The highest provider event sequence applied (older events arriving late are ignored).
    public var providerSeq: Int64 = 0
    public var createdAt: Int64
    public var updatedAt: Int64

    public init(
        id: String, orderID: String, customerID: Int64, method: PaymentMethod, provider: String?,
        state: PaymentState = .requiresPayment, currency: String, amount: Int64, createdAt: Int64
    ) {
        self.id = id
        self.orderID = orderID
        self.customerID = customerID
        self.method = method
        self.provider = provider
        self.state = state
        self.currency = currency
        self.amount = amount
        self.createdAt = createdAt
        self.updatedAt = createdAt
    }

    /// What may still be refunded.
    public var refundable: Int64 { captured - refunded - refundPending }
}

public enum RefundState: String, Sendable, Codable {
    case pending, succeeded, failed
}

/// One refund of a captured payment.
public struct RefundRecord: Sendable, Equatable {
    public var id: String
    public var paymentID: String
    public var amount: Int64
    public var state: RefundState
    public var reason: String?
    public var actor: String
    public var createdAt: Int64
    public var updatedAt: Int64

    public init(
        id: String, paymentID: String, amount: Int64, state: RefundState = .pending, reason: String?, actor: String,
        createdAt: Int64
    ) {
        self.id = id
        self.paymentID = paymentID
        self.amount = amount
        self.state = state
        self.reason = reason
        self.actor = actor
        self.createdAt = createdAt
        self.updatedAt = createdAt
    }
}

/// Cash an agent handed in to an operator.
public struct CashHandIn: Sendable, Equatable {
    public var id: String
    public var agent: String
    public var currency: String
    public var amount: Int64
    public var actor: String
    public var note: String?
    /// UTC milliseconds.
    public var time: Int64

    public init(id: String, agent: String, currency: String, amount: Int64, actor: String, note: String?, time: Int64) {
        self.id = id
        self.agent = agent
        self.currency = currency
        self.amount = amount
        self.actor = actor
        self.note = note
        self.time = time
    }
}

/// One agent's cash for one UTC day: what cash-on-delivery orders said to collect, what the agent reported
/// collecting, and what the agent handed in. Differences are flagged.
public struct CashReconciliation: Sendable, Equatable, Codable {
    public var agent: String
    public var currency: String
    /// `YYYY-MM-DD` (UTC).
    public var day: String
    public var orders: Int
    public var expected: Int64
    public var collected: Int64
    public var handedIn: Int64
    /// `collected - expected` (negative: the agent collected less than the orders' totals).
    public var collectionDifference: Int64 { collected - expected }
    /// `handedIn - collected` for the day (negative: cash the agent still holds from that day, or short).
    public var handInDifference: Int64 { handedIn - collected }
    /// Cash the agent holds now (all days), from the ledger.
    public var heldNow: Int64
    public var flagged: Bool { collectionDifference != 0 || handInDifference != 0 }

    public init(
        agent: String, currency: String, day: String, orders: Int, expected: Int64, collected: Int64, handedIn: Int64,
        heldNow: Int64
    ) {
        self.agent = agent
        self.currency = currency
        self.day = day
        self.orders = orders
        self.expected = expected
        self.collected = collected
        self.handedIn = handedIn
        self.heldNow = heldNow
    }

    enum CodingKeys: String, CodingKey {
        case agent, currency, day, orders, expected, collected, handedIn, heldNow, collectionDifference,
            handInDifference, flagged
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(agent, forKey: .agent)
        try c.encode(currency, forKey: .currency)
        try c.encode(day, forKey: .day)
        try c.encode(orders, forKey: .orders)
        try c.encode(expected, forKey: .expected)
        try c.encode(collected, forKey: .collected)
        try c.encode(handedIn, forKey: .handedIn)
        try c.encode(heldNow, forKey: .heldNow)
        try c.encode(collectionDifference, forKey: .collectionDifference)
        try c.encode(handInDifference, forKey: .handInDifference)
        try c.encode(flagged, forKey: .flagged)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            agent: try c.decode(String.self, forKey: .agent), currency: try c.decode(String.self, forKey: .currency),
            day: try c.decode(String.self, forKey: .day), orders: try c.decode(Int.self, forKey: .orders),
            expected: try c.decode(Int64.self, forKey: .expected),
            collected: try c.decode(Int64.self, forKey: .collected),
            handedIn: try c.decode(Int64.self, forKey: .handedIn), heldNow: try c.decode(Int64.self, forKey: .heldNow))
    }
}
