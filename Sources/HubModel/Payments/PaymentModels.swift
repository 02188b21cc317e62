/// Where a payment is in its life.
///
/// `requires_payment` → `authorized` → `captured` → `partially_refunded` / `refunded`; `requires_payment` →
/// `failed` (declined); `authorized` → `cancelled` (voided). A card that needs asynchronous verification stays in
/// `requires_payment` (with ``PaymentRecord/nextAction`` `await_verification`) until the provider's webhook says.
/// Cash on delivery is recorded as `captured` when the agent delivers.
package enum PaymentState: String, Sendable, Codable, CaseIterable {
    case requiresPayment = "requires_payment"
    case authorized, captured
    case partiallyRefunded = "partially_refunded"
    case refunded, failed, cancelled

    /// Money has been taken (refunds apply).
    package var isCaptured: Bool { [.captured, .partiallyRefunded, .refunded].contains(self) }
}

/// One payment of one order. Money in minor units of `currency`.
package struct PaymentRecord: Sendable, Equatable {
    package var id: String
    package var orderID: String
    package var customerID: Int64
    package var method: PaymentMethod
    /// The provider's name (`test` for the built-in one); nil for cash on delivery.
    package var provider: String?
    /// The provider's reference for this payment (its webhooks name it).
    package var providerRef: String?
    package var state: PaymentState
    package var currency: String
    /// What is authorized (the order's total).
    package var amount: Int64
    /// What was captured (for cash on delivery: the cash the agent collected).
    package var captured: Int64 = 0
    /// Refunds that succeeded.
    package var refunded: Int64 = 0
    /// Refunds reserved and sent to the provider, not yet answered (counted against the captured amount).
    package var refundPending: Int64 = 0
    package var cardLast4: String?
    /// Why the payment failed (provider's decline reason).
    package var failure: String?
    /// `await_verification` while the provider verifies the card asynchronously.
    package var nextAction: String?
    /// The highest provider event sequence applied (older events arriving late are ignored).
    package var providerSeq: Int64 = 0
    package var createdAt: Int64
    package var updatedAt: Int64

    package init(
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
    package var refundable: Int64 { captured - refunded - refundPending }
}

package enum RefundState: String, Sendable, Codable {
    case pending, succeeded, failed
}

/// One refund of a captured payment.
package struct RefundRecord: Sendable, Equatable {
    package var id: String
    package var paymentID: String
    package var amount: Int64
    package var state: RefundState
    package var reason: String?
    package var actor: String
    package var createdAt: Int64
    package var updatedAt: Int64

    package init(
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
package struct CashHandIn: Sendable, Equatable {
    package var id: String
    package var agent: String
    package var currency: String
    package var amount: Int64
    package var actor: String
    package var note: String?
    /// UTC milliseconds.
    package var time: Int64

    package init(id: String, agent: String, currency: String, amount: Int64, actor: String, note: String?, time: Int64)
    {
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
package struct CashReconciliation: Sendable, Equatable, Codable {
    package var agent: String
    package var currency: String
    /// `YYYY-MM-DD` (UTC).
    package var day: String
    package var orders: Int
    package var expected: Int64
    package var collected: Int64
    package var handedIn: Int64
    /// `collected - expected` (negative: the agent collected less than the orders' totals).
    package var collectionDifference: Int64 { collected - expected }
    /// `handedIn - collected` for the day (negative: cash the agent still holds from that day, or short).
    package var handInDifference: Int64 { handedIn - collected }
    /// Cash the agent holds now (all days), from the ledger.
    package var heldNow: Int64
    package var flagged: Bool { collectionDifference != 0 || handInDifference != 0 }

    package init(
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

    package func encode(to encoder: any Encoder) throws {
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

    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            agent: try c.decode(String.self, forKey: .agent), currency: try c.decode(String.self, forKey: .currency),
            day: try c.decode(String.self, forKey: .day), orders: try c.decode(Int.self, forKey: .orders),
            expected: try c.decode(Int64.self, forKey: .expected),
            collected: try c.decode(Int64.self, forKey: .collected),
            handedIn: try c.decode(Int64.self, forKey: .handedIn), heldNow: try c.decode(Int64.self, forKey: .heldNow))
    }
}
