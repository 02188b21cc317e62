import DabbaProtocol

/// One transition of one order, as recorded in the audit trail (`order_events`) and as published to the
/// notification consumers: the customer's and operators' WebSockets, the agent's task topic, other hubs
/// (`dabba/v1/orders/{order}/status`) and outgoing webhooks.
///
/// JSON: `{"v":1,"id":…,"order":…,"restaurant":…,"customer":…,"agent":…,"status":…,"previous":…,"action":…,
/// "time":"…Z","actor":"restaurant:5","reason":…,"cashCollected":…}`; `agent`, `previous`, `reason` and
/// `cashCollected` may be absent.
package struct OrderEvent: Sendable, Codable, Equatable {
    package var v: Int = 1
    /// Position in the hub's audit trail: strictly increasing over all orders (consumers keep a cursor).
    package var id: Int64
    package var order: String
    package var restaurant: String
    /// The customer's user id.
    package var customer: Int64
    /// The assigned agent, when there is one.
    package var agent: String?
    package var status: OrderStatus
    package var previous: OrderStatus?
    package var action: OrderAction?
    /// When it happened (UTC, milliseconds).
    package var time: String
    /// Who did it: `customer:ID`, `restaurant:ID`, `operator:ID`, `agent:ID` or `system`.
    package var actor: String
    package var reason: String?
    /// On `delivered` of a cash-on-delivery order: the cash the agent collected (minor units), when reported.
    package var cashCollected: Int64?

    package init(
        id: Int64, order: String, restaurant: String, customer: Int64, agent: String? = nil, status: OrderStatus,
        previous: OrderStatus? = nil, action: OrderAction? = nil, time: String, actor: String, reason: String? = nil,
        cashCollected: Int64? = nil
    ) {
        self.id = id
        self.order = order
        self.restaurant = restaurant
        self.customer = customer
        self.agent = agent
        self.status = status
        self.previous = previous
        self.action = action
        self.time = time
        self.actor = actor
        self.reason = reason
        self.cashCollected = cashCollected
    }

    /// The MQTT topic other hubs read: `dabba/v1/orders/{order}/status`.
    package var topic: String { Topics.orderStatus(order: order) }
}

/// The durable audit trail of order transitions, read by consumers that keep their own cursor (webhooks) so a
/// restart loses none.
package protocol OrderEventLog: Sendable {
    /// Events with `id > after`, oldest first, at most `limit`.
    func orderEvents(after: Int64, limit: Int) async throws(StoreError) -> [OrderEvent]
    /// Every event of one order, oldest first (its timeline).
    func orderEvents(order: String) async throws(StoreError) -> [OrderEvent]
}
