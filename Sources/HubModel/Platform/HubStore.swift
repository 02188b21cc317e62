import DabbaProtocol

/// A stored failure with a stable code (converted once from the database's own errors).
public struct StoreError: CodedError {
    public typealias Code = ErrorCode<StoreError>
    public var code: Code
    public var message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}

extension ErrorCode<StoreError> {
    public static var conflict: Self { "conflict" }
    public static var notFound: Self { "not_found" }
    public static var unavailable: Self { "unavailable" }
    public static var corrupt: Self { "corrupt" }
    public static var full: Self { "full" }
    public static var other: Self { "other" }
    /// An order action that does not apply in the order's current state.
    public static var illegalTransition: Self { "illegal_transition" }
}

/// Everything the hub stores. SQLite (WAL) is the embedded default; PostgreSQL plugs in behind the same protocols.
public protocol HubStore:
    AgentRepository, PositionRepository, UserRepository, OrderRepository, OrderShareRepository, MarketRepository,
    RestaurantDirectory, WebhookRepository, DispatchRepository, PaymentRepository, PaymentGate
{}
