import DabbaCore
import HummingbirdBcrypt
import Logging
import NIOPosix

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// An access/refresh token pair as `login` and `refresh` return it.
public struct TokenPair: Sendable, Codable, Equatable {
    public var accessToken: String
    public var refreshToken: String
    /// Seconds until the access token expires.
    public var expiresIn: Int
}

/// Accounts and tokens: bcrypt passwords (hashed off the cooperative pool), HS256 access tokens, rotating refresh
/// tokens stored as SHA-256 hashes (one family per login; reusing a used token revokes the family), and
/// WebSocket tickets.
public final class AuthService: Sendable {
    let users: any UserRepository
    let signer: AccessTokenSigner
    let refreshTTL: Int
    let bcryptCost: UInt8
    /// A hash of nothing anyone knows: checked against when the email is unknown, so both failures take as long.
    let decoyHash: String
    let tickets = AuthTickets()

    static let secretSetting = "jwt-secret"

    /// Loads (or creates) the signing secret and prepares the service. `bcryptCost` is 12 in production; tests
    /// use 4 (the minimum).
    public static func make(configuration: HubConfiguration, users: any UserRepository, bcryptCost: UInt8 = 12)
        async throws -> AuthService
    {
        let secret = try await loadSecret(configuration: configuration, users: users)
        let signer = await AccessTokenSigner(secret: secret, ttl: configuration.accessTokenTTL)
        let decoy = try await hash(AuthRandom.token(bytes: 16), cost: bcryptCost)
        return AuthService(
            users: users, signer: signer, refreshTTL: configuration.refreshTokenTTL, bcryptCost: bcryptCost,
            decoyHash: decoy)
    }

    init(users: any UserRepository, signer: AccessTokenSigner, refreshTTL: Int, bcryptCost: UInt8, decoyHash: String) {
        self.users = users
        self.signer = signer
        self.refreshTTL = refreshTTL
        self.bcryptCost = bcryptCost
        self.decoyHash = decoyHash
    }

    /// `jwt-secret-file` when set (at least 32 bytes), else 32 random bytes generated once and kept in `settings`.
    static func loadSecret(configuration: HubConfiguration, users: any UserRepository) async throws -> [UInt8] {
        guard let path = configuration.jwtSecretFile else {
            return try await users.setting(secretSetting, insertingIfAbsent: AuthRandom.bytes(32))
        }
        let bytes: [UInt8]
        do {
            bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw ConfigError(key: "jwt-secret-file", message: "jwt-secret-file: cannot read \(path)")
        }
        var secret = bytes[...]
        while let last = secret.last, last == 0x0A || last == 0x0D || last == 0x20 { secret.removeLast() }
        guard secret.count >= 32 else {
            throw ConfigError(key: "jwt-secret-file", message: "jwt-secret-file: \(path) must hold at least 32 bytes")
        }
        return Array(secret)
    }

    /// bcrypt on NIO's blocking thread pool, never on the cooperative pool.
    static func hash(_ password: String, cost: UInt8) async throws -> String {
        try await NIOThreadPool.singleton.runIfActive { Bcrypt.hash(password, cost: cost) }
    }

    func hashPassword(_ password: String) async throws -> String { try await Self.hash(password, cost: bcryptCost) }

    func verifyPassword(_ password: String, hash: String) async throws -> Bool {
        try await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }
    }

    /// Creates a user after checking the input (422 with the field's rule, 409 when the email exists).
    public func createUser(email: String, password: String, name: String, role: Role, agentID: String? = nil)
        async throws -> UserRecord
    {
        let email = email.trimmingSpaces
        if let problem = AuthValidation.emailProblem(email) ?? AuthValidation.passwordProblem(password)
            ?? AuthValidation.nameProblem(name)
        {
            throw APIError.invalid(problem)
        }
        if role == .agent && agentID == nil { throw APIError.invalid("agent id: required for role agent") }
        let hash = try await hashPassword(password)
        let created: Result<UserRecord, StoreError>
        do {
            created = .success(
                try await users.createUser(
                    email: email, passwordHash: hash, name: name.trimmingSpaces, role: role,
                    agentID: role == .agent ? agentID : nil))
        } catch {
            created = .failure(error)
        }
        switch created {
        case .success(let user): return user
        case .failure(let error) where error.code == .conflict:
            throw APIError.conflict("an account with this email exists")
        case .failure(let error) where error.code == .notFound: throw APIError.invalid("agent id: no such agent")
        case .failure(let error): throw error
        }
    }

    /// Signs in; the same 401 for an unknown email and a wrong password.
    func login(email: String, password: String) async throws -> TokenPair {
        let user = try await users.user(email: email.trimmingSpaces)
        let matches = try await verifyPassword(password, hash: user?.passwordHash ?? decoyHash)
        guard let user, matches else { throw APIError.unauthorized("invalid email or password") }
        let refresh = AuthRandom.token(bytes: 32)
        try await users.addRefreshToken(
            hash: AuthRandom.sha256Hex(refresh), userID: user.id, family: AuthRandom.token(bytes: 16),
            expires: wallClockMilliseconds() + Int64(refreshTTL) * 1000)
        return try await pair(for: user, refreshToken: refresh)
    }

    /// Rotates a refresh token: a new pair, the old token used up. A reused token revokes its family.
    func refresh(_ token: String) async throws -> TokenPair {
        let next = AuthRandom.token(bytes: 32)
        let now = wallClockMilliseconds()
        let rotation = try await users.rotateRefreshToken(
            hash: AuthRandom.sha256Hex(token), newHash: AuthRandom.sha256Hex(next),
            newExpires: now + Int64(refreshTTL) * 1000, now: now)
        switch rotation {
        case .rotated(let userID, _):
            guard let user = try await users.user(id: userID) else {
                throw APIError.unauthorized("invalid refresh token")
            }
            return try await pair(for: user, refreshToken: next)
        case .reused:
            throw APIError.unauthorized("refresh token already used; every session of this sign-in is revoked")
        case .expired, .unknown:
            throw APIError.unauthorized("invalid refresh token")
        }
    }

    /// Revokes the sign-in (token family) `token` belongs to. Unknown tokens are ignored.
    func logout(_ token: String) async throws {
        _ = try await users.revokeRefreshFamily(containing: AuthRandom.sha256Hex(token))
    }

    /// The identity a bearer access token proves (401 otherwise).
    func authenticate(accessToken: String) async throws(APIError) -> Identity {
        try await signer.verify(accessToken)
    }

    private func pair(for user: UserRecord, refreshToken: String) async throws -> TokenPair {
        let identity = Identity(userID: user.id, role: user.role, agentID: user.agentID)
        return TokenPair(
            accessToken: try await signer.sign(identity), refreshToken: refreshToken, expiresIn: signer.ttl)
    }

    /// A single-use WebSocket ticket for `identity`, valid for `ticketLifetime` seconds.
    func issueTicket(for identity: Identity) throws(APIError) -> String {
        guard let ticket = tickets.issue(for: identity) else { throw .unavailable("too many outstanding tickets") }
        return ticket
    }

    /// Seconds a WebSocket ticket stays valid.
    public var ticketLifetime: Int { tickets.lifetime }

    /// Redeems a WebSocket ticket from `POST /v1/ws-tickets`: the identity it was issued to, or nil when it is
    /// unknown, expired or already used. WebSocket routes call this on upgrade (`?ticket=…`).
    public func redeemTicket(_ ticket: String) -> Identity? { tickets.redeem(ticket) }
}
