/// A stored failure with a stable code (converted once from the database's own errors).
public struct StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: RawRepresentable, Hashable, Sendable {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public static let conflict = Code(rawValue: "conflict")
        public static let notFound = Code(rawValue: "not_found")
        public static let unavailable = Code(rawValue: "unavailable")
        public static let corrupt = Code(rawValue: "corrupt")
        public static let full = Code(rawValue: "full")
        public static let other = Code(rawValue: "other")
        /// An order action that does not apply in the order's current state.
        public static let illegalTransition = Code(rawValue: "illegal_transition")
    }
    public var code: Code
    public var message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { "\(code.rawValue): \(message)" }
}

/// Everything the hub stores. SQLite (WAL) is the embedded default; PostgreSQL plugs in behind the same protocols.
public protocol HubStore:
    AgentRepository, PositionRepository, UserRepository, OrderRepository, OrderShareRepository, MarketRepository,
    RestaurantDirectory, WebhookRepository, DispatchRepository, PaymentRepository, PaymentGate
{}
