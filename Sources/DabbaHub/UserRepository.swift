/// A user's role: what the routes check.
public enum Role: String, Sendable, Codable, CaseIterable {
    case customer, agent, restaurant, `operator`
}

/// A user as stored.
public struct UserRecord: Sendable, Equatable {
    public var id: Int64
    public var email: String
    /// The bcrypt hash (never leaves the hub).
    public var passwordHash: String
    public var name: String
    public var role: Role
    /// The agent a user with role `agent` is (nil for other roles).
    public var agentID: String?
    public var createdAt: Int64

    public init(
        id: Int64, email: String, passwordHash: String, name: String, role: Role, agentID: String?, createdAt: Int64
    ) {
        self.id = id
        self.email = email
        self.passwordHash = passwordHash
        self.name = name
        self.role = role
        self.agentID = agentID
        self.createdAt = createdAt
    }
}

/// What happened when a refresh token was presented for rotation.
public enum RefreshRotation: Sendable, Equatable {
    /// The token was live: it is now used, and the new token (same family) is stored.
    case rotated(userID: Int64, family: String)
    /// The token had been used before: the whole family is now revoked.
    case reused(family: String)
    /// Past its expiry (nothing changed).
    case expired
    /// Never issued (or deleted).
    case unknown
}

/// Users, refresh tokens and hub settings. Times are UTC milliseconds; refresh tokens are stored only as hashes.
public protocol UserRepository: Sendable {
    /// Creates a user; `conflict` when the email exists (case-insensitively) or the agent id is unknown.
    func createUser(email: String, passwordHash: String, name: String, role: Role, agentID: String?)
        async throws(StoreError) -> UserRecord
    /// The user with `email` (case-insensitive), if any.
    func user(email: String) async throws(StoreError) -> UserRecord?
    /// The user with `id`, if any.
    func user(id: Int64) async throws(StoreError) -> UserRecord?
    /// Stores a new refresh token (hash) in `family`.
    func addRefreshToken(hash: String, userID: Int64, family: String, expires: Int64) async throws(StoreError)
    /// Atomically uses the token `hash`: when live, marks it used and stores `newHash` in the same family
    /// (expiring at `newExpires`); when already used, revokes its family.
    func rotateRefreshToken(hash: String, newHash: String, newExpires: Int64, now: Int64)
        async throws(StoreError) -> RefreshRotation
    /// Revokes every token of the family `hash` belongs to; returns false when the token is unknown.
    func revokeRefreshFamily(containing hash: String) async throws(StoreError) -> Bool
    /// The setting `key`; when absent, stores `value` first. Several hubs on one database agree on the result.
    func setting(_ key: String, insertingIfAbsent value: [UInt8]) async throws(StoreError) -> [UInt8]
}
