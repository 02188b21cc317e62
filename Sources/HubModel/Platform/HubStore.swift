import DabbaProtocol

/// A stored failure with a stable code (converted once from the database's own errors).
package struct StoreError: CodedError {
    package typealias Code = ErrorCode<StoreError>
    package var code: Code
    package var message: String
    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}

extension ErrorCode<StoreError> {
    package static var conflict: Self { "conflict" }
    package static var notFound: Self { "not_found" }
    package static var unavailable: Self { "unavailable" }
    package static var corrupt: Self { "corrupt" }
    package static var full: Self { "full" }
    package static var other: Self { "other" }
    /// An order action that does not apply in the order's current state.
    package static var illegalTransition: Self { "illegal_transition" }
}

/// Everything the hub stores. SQLite (WAL) is the embedded default; PostgreSQL plugs in behind the same protocols.
package protocol HubStore:
    AgentRepository, PositionRepository, UserRepository, OrderRepository, OrderShareRepository, MarketRepository,
    RestaurantDirectory, WebhookRepository, DispatchRepository, PaymentRepository, PaymentGate, LeaseRepository
{}
