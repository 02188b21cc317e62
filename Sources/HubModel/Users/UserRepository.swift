/// A user's role: what the routes check.
package enum Role: String, Sendable, Codable, CaseIterable {
    case customer, agent, restaurant, `operator`
}

/// A user as stored.
package struct UserRecord: Sendable, Equatable {
    package var id: Int64
    package var email: String
    /// The bcrypt hash (never leaves the hub).
    package var passwordHash: String
    package var name: String
    package var role: Role
    /// The agent a user with role `agent` is (nil for other roles).
    package var agentID: String?
    package var createdAt: Int64
    /// A disabled user cannot sign in, and every token they hold is refused.
    package var disabled: Bool
    /// The revocation epoch: access tokens carry the epoch they were issued under and are refused once it moved on
    /// (revoking all of a user's tokens, a password change and disabling each move it).
    package var tokenEpoch: Int64

    package init(
        id: Int64, email: String, passwordHash: String, name: String, role: Role, agentID: String?, createdAt: Int64,
        disabled: Bool = false, tokenEpoch: Int64 = 0
    ) {
        self.id = id
        self.email = email
        self.passwordHash = passwordHash
        self.name = name
        self.role = role
        self.agentID = agentID
        self.createdAt = createdAt
        self.disabled = disabled
        self.tokenEpoch = tokenEpoch
    }
}

/// What access tokens of one user and one sign-in are checked against (``UserRepository/sessionState(user:session:)``).
package struct SessionState: Sendable, Equatable {
    package var disabled: Bool
    /// The user's revocation epoch (``UserRecord/tokenEpoch``).
    package var tokenEpoch: Int64
    /// The sign-in (refresh-token family) was ended: logout, reuse of a used token, password change, revocation,
    /// or its absolute lifetime. False when no sign-in was asked about.
    package var sessionEnded: Bool

    package init(disabled: Bool, tokenEpoch: Int64, sessionEnded: Bool) {
        self.disabled = disabled
        self.tokenEpoch = tokenEpoch
        self.sessionEnded = sessionEnded
    }
}

/// What happened when a refresh token was presented for rotation.
package enum RefreshRotation: Sendable, Equatable {
    /// The token was live: it is now used, and the new token (same family) is stored.
    case rotated(userID: Int64, family: String)
    /// The token had been used before: the whole family is now revoked.
    case reused(family: String)
    /// The token's sign-in was ended before (logout, password change, revocation, a disabled account): refused.
    case revoked
    /// Past its expiry, or its sign-in is older than the absolute lifetime (the family is ended).
    case expired
    /// Never issued (or deleted).
    case unknown
}

/// Users, refresh tokens and hub settings. Times are UTC milliseconds; refresh tokens are stored only as hashes.
package protocol UserRepository: Sendable {
    /// Creates a user; `conflict` when the email exists (case-insensitively) or the agent id is unknown.
    func createUser(email: String, passwordHash: String, name: String, role: Role, agentID: String?)
        async throws(StoreError) -> UserRecord
    /// The user with `email` (case-insensitive), if any.
    func user(email: String) async throws(StoreError) -> UserRecord?
    /// The user with `id`, if any.
    func user(id: Int64) async throws(StoreError) -> UserRecord?
    /// Stores a new refresh token (hash) in `family`, starting the family (a sign-in, created `now`) when it is new.
    func addRefreshToken(hash: String, userID: Int64, family: String, expires: Int64, now: Int64)
        async throws(StoreError)
    /// Atomically uses the token `hash`: when live, marks it used and stores `newHash` in the same family, expiring
    /// at `newExpires` but never after the family's creation plus `maxLifetime` (milliseconds); when already used,
    /// ends its family (`reused`); a family ended before answers `revoked`, one older than `maxLifetime` is ended
    /// and answers `expired`.
    func rotateRefreshToken(hash: String, newHash: String, newExpires: Int64, now: Int64, maxLifetime: Int64)
        async throws(StoreError) -> RefreshRotation
    /// The user a refresh token (hash) was issued to, if it is known.
    func refreshTokenUser(hash: String) async throws(StoreError) -> Int64?
    /// Ends the family `hash` belongs to (logout); returns it and its user, nil when the token is unknown.
    func revokeRefreshFamily(containing hash: String) async throws(StoreError) -> (family: String, user: Int64)?
    /// Revokes every token of the user in one transaction: moves the revocation epoch on (access tokens) and ends
    /// every refresh family. `disabled`, when given, is stored in the same transaction. False when no such user.
    func revokeTokens(user: Int64, disabled: Bool?) async throws(StoreError) -> Bool
    /// Replaces the password hash and revokes every token of the user (as ``revokeTokens(user:disabled:)``), in one
    /// transaction.
    func setPassword(user: Int64, passwordHash: String) async throws(StoreError)
    /// The revocation state of `user` and, when given, of the sign-in `session`; nil when the user does not exist.
    /// An unknown `session` counts as ended.
    func sessionState(user: Int64, session: String?) async throws(StoreError) -> SessionState?
    /// The setting `key`; when absent, stores `value` first. Several hubs on one database agree on the result.
    func setting(_ key: String, insertingIfAbsent value: [UInt8]) async throws(StoreError) -> [UInt8]
}
