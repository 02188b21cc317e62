/// How the customer pays.
package enum PaymentMethod: String, Sendable, Codable, CaseIterable {
    case card
    /// Cash on delivery.
    case cod
}

/// An option as the order recorded it when placed (the menu's option then: id, name, price delta in minor units);
/// later menu changes do not touch it.
package typealias OrderLineOption = MenuOption

/// One line of an order, priced server side from the menu when the order was placed.
package struct OrderLine: Sendable, Codable, Equatable {
    package var itemID: String
    package var name: String
    package var quantity: Int
    /// Item price plus its options' deltas, minor units.
    package var unitPrice: Int64
    package var options: [OrderLineOption]
    /// `unitPrice × quantity`.
    package var lineTotal: Int64

    package init(itemID: String, name: String, quantity: Int, unitPrice: Int64, options: [OrderLineOption]) {
        self.itemID = itemID
        self.name = name
        self.quantity = quantity
        self.unitPrice = unitPrice
        self.options = options
        self.lineTotal = unitPrice * Int64(quantity)
    }
}

/// An order as stored. Money is in minor units of `currency`.
package struct OrderRecord: Sendable, Equatable {
    package var id: String
    /// The customer's user id.
    package var customerID: Int64
    package var restaurantID: String
    package var status: OrderStatus
    /// The assigned agent (from assignment on; kept after delivery for the record).
    package var agentID: String?
    package var paymentMethod: PaymentMethod
    package var currency: String
    package var subtotal: Int64
    package var deliveryFee: Int64
    package var tax: Int64
    package var total: Int64
    package var address: String
    package var dropLat: Double
    package var dropLon: Double
    package var zoneID: String?
    /// Preparation time the restaurant gave when accepting.
    package var prepMinutes: Int?
    /// When the restaurant marked the food ready (milliseconds), nil before.
    package var readyAt: Int64?
    package var createdAt: Int64
    package var updatedAt: Int64
    package var lines: [OrderLine]

    package init(
        id: String, customerID: Int64, restaurantID: String, status: OrderStatus = .placed, agentID: String? = nil,
        paymentMethod: PaymentMethod, currency: String, subtotal: Int64, deliveryFee: Int64, tax: Int64, total: Int64,
        address: String, dropLat: Double, dropLon: Double, zoneID: String?, prepMinutes: Int? = nil,
        readyAt: Int64? = nil, createdAt: Int64, updatedAt: Int64, lines: [OrderLine]
    ) {
        self.id = id
        self.customerID = customerID
        self.restaurantID = restaurantID
        self.status = status
        self.agentID = agentID
        self.paymentMethod = paymentMethod
        self.currency = currency
        self.subtotal = subtotal
        self.deliveryFee = deliveryFee
        self.tax = tax
        self.total = total
        self.address = address
        self.dropLat = dropLat
        self.dropLon = dropLon
        self.zoneID = zoneID
        self.prepMinutes = prepMinutes
        self.readyAt = readyAt
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.lines = lines
    }
}

/// A requested change of an order's state, applied atomically with its audit entry.
package struct OrderChange: Sendable, Equatable {
    package var action: OrderAction
    /// `customer:ID`, `restaurant:ID`, `operator:ID`, `agent:ID` or `system`.
    package var actor: String
    package var reason: String?
    /// For `assign`: the agent.
    package var agent: String?
    /// For `accept`: the preparation time in minutes.
    package var prepMinutes: Int?
    /// Only apply when the order is in one of these states (policy checks such as "customers cancel only before
    /// confirmation"); nil: any state the machine allows.
    package var allowedFrom: Set<OrderStatus>?
    /// For `deliver` of a cash-on-delivery order: the cash collected (minor units), recorded in the audit trail.
    package var cashCollected: Int64?
    /// Only apply when the order is assigned to this agent (an agent acting on its own order), checked in the
    /// transaction that applies the change; another agent's order is "no order" (404), as it is to read.
    package var requiredAgent: String?

    package init(
        action: OrderAction, actor: String, reason: String? = nil, agent: String? = nil, prepMinutes: Int? = nil,
        allowedFrom: Set<OrderStatus>? = nil, cashCollected: Int64? = nil, requiredAgent: String? = nil
    ) {
        self.requiredAgent = requiredAgent
        self.action = action
        self.actor = actor
        self.reason = reason
        self.agent = agent
        self.prepMinutes = prepMinutes
        self.allowedFrom = allowedFrom
        self.cashCollected = cashCollected
    }
}

/// Which orders a list shows.
package struct OrderFilter: Sendable, Equatable {
    package var customerID: Int64?
    package var restaurantIDs: [String]?
    package var agentID: String?
    package var statuses: Set<OrderStatus>?
    /// Created at or after (ms).
    package var since: Int64?
    /// Created before (ms).
    package var until: Int64?

    package init(
        customerID: Int64? = nil, restaurantIDs: [String]? = nil, agentID: String? = nil,
        statuses: Set<OrderStatus>? = nil, since: Int64? = nil, until: Int64? = nil
    ) {
        self.customerID = customerID
        self.restaurantIDs = restaurantIDs
        self.agentID = agentID
        self.statuses = statuses
        self.since = since
        self.until = until
    }
}

/// Orders, their lines and their audit trail.
package protocol OrderRepository: OrderEventLog {
    /// Stores a new order (status `placed`) with its lines and its first audit entry in one transaction.
    /// With an idempotency key: a second create by the same customer with the same key returns the stored order
    /// and `created == false` when `requestHash` matches, and throws `conflict` when it does not.
    func createOrder(_ order: OrderRecord, idempotencyKey: String?, requestHash: String?, actor: String)
        async throws(StoreError) -> (order: OrderRecord, event: OrderEvent?, created: Bool)
    func order(id: String) async throws(StoreError) -> OrderRecord?
    /// ``order(id:)`` of several orders in one call, by id; unknown ids are left out.
    func orders(ids: [String]) async throws(StoreError) -> [String: OrderRecord]
    /// Applies `change` through ``OrderStatus/transition(from:action:kitchenReady:)`` with its audit entry in one
    /// transaction. `illegalTransition` (with the current state in the message) when it does not apply;
    /// `notFound` for an unknown id.
    func applyOrderChange(_ change: OrderChange, to id: String) async throws(StoreError) -> (OrderRecord, OrderEvent)
    /// Newest first, after the cursor `(createdAt, id)` of the previous page.
    func orders(_ filter: OrderFilter, after: (createdAt: Int64, id: String)?, limit: Int) async throws(StoreError)
        -> [OrderRecord]
}

/// A share link's record: anyone holding the token may follow the order's live feed until `expires` (or until the
/// order ended plus a grace period), unless revoked. Only the token's SHA-256 is stored.
package struct OrderShare: Sendable, Equatable {
    package var orderID: String
    package var createdBy: Int64
    package var expires: Int64
    package var revoked: Bool

    package init(orderID: String, createdBy: Int64, expires: Int64, revoked: Bool = false) {
        self.orderID = orderID
        self.createdBy = createdBy
        self.expires = expires
        self.revoked = revoked
    }
}

/// Share links of orders.
package protocol OrderShareRepository: Sendable {
    func createShare(tokenHash: String, share: OrderShare) async throws(StoreError)
    func share(tokenHash: String) async throws(StoreError) -> OrderShare?
    /// Revokes every share link of `order`; returns how many were active.
    func revokeShares(order: String) async throws(StoreError) -> Int
}
