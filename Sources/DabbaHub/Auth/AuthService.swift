import DabbaCore
import HubModel
import HummingbirdBcrypt
import Logging
import NIOPosix

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// An access/refresh token pair as `login` and `refresh` return it.
package struct TokenPair: Sendable, Codable, Equatable {
    package var accessToken: String
    package var refreshToken: String
    /// Seconds until the access token expires.
    package var expiresIn: Int
}

/// Accounts and tokens: bcrypt passwords (hashed off the cooperative pool), HS256 access tokens, rotating refresh
/// tokens stored as SHA-256 hashes (one family per sign-in; reusing a used token ends the family; a family lives at
/// most `refresh-token-max-lifetime`), revocation (``AuthRevocations``: disabled users, a per-user revocation epoch,
/// ended sign-ins), and WebSocket tickets.
package final class AuthService: Sendable {
    let users: any UserRepository
    let signer: AccessTokenSigner
    let revocations: AuthRevocations
    let refreshTTL: Int
    /// Milliseconds a sign-in (refresh family) lives at most, however often it is refreshed.
    let refreshMaxLifetime: Int64
    let bcryptCost: UInt8
    /// A hash of nothing anyone knows: checked against when the email is unknown, so both failures take as long.
    let decoyHash: String
    let tickets: AuthTickets

    static let secretSetting = "jwt-secret"

    /// Loads (or creates) the signing secret and prepares the service. `bcryptCost` is 12 in production; tests
    /// use 4 (the minimum).
    package static func make(configuration: HubConfiguration, users: any UserRepository, bcryptCost: UInt8 = 12)
        async throws -> AuthService
    {
        let secret = try await loadSecret(configuration: configuration, users: users)
        let signer = await AccessTokenSigner(secret: secret, ttl: configuration.accessTokenTTL)
        let decoy = try await hash(AuthRandom.token(bytes: 16), cost: bcryptCost)
        return AuthService(
            users: users, signer: signer,
            revocations: AuthRevocations(users: users, ttl: configuration.revocationCache),
            refreshTTL: configuration.refreshTokenTTL,
            refreshMaxLifetime: Int64(configuration.refreshTokenMaxLifetime) * 1000, bcryptCost: bcryptCost,
            decoyHash: decoy, tickets: AuthTickets(perUser: configuration.wsTicketsPerUser))
    }

    init(
        users: any UserRepository, signer: AccessTokenSigner, revocations: AuthRevocations, refreshTTL: Int,
        refreshMaxLifetime: Int64, bcryptCost: UInt8, decoyHash: String, tickets: AuthTickets
    ) {
        self.users = users
        self.signer = signer
        self.revocations = revocations
        self.refreshTTL = refreshTTL
        self.refreshMaxLifetime = refreshMaxLifetime
        self.bcryptCost = bcryptCost
        self.decoyHash = decoyHash
        self.tickets = tickets
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

    /// Creates a user after checking the input (422 with the field's rule, 409 when the email exists). The password
    /// is hashed before the store is asked, so an existing email costs the same bcrypt work as a new one.
    package func createUser(email: String, password: String, name: String, role: Role, agentID: String? = nil)
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

    /// `POST /v1/auth/register`: a customer account, with the same answer whether or not the email was taken (so
    /// the route does not tell who has an account): the bcrypt work is done either way, and an existing account is
    /// left as it is. Input problems are still 422.
    func register(email: String, password: String, name: String) async throws {
        do {
            _ = try await createUser(email: email, password: password, name: name, role: .customer)
        } catch let error as APIError where error.status == .conflict {
            return
        }
    }

    /// Signs in; the same 401 for an unknown email and a wrong password; 403 for a disabled account (only once the
    /// password matched).
    func login(email: String, password: String) async throws -> TokenPair {
        let user = try await users.user(email: email.trimmingSpaces)
        let matches = try await verifyPassword(password, hash: user?.passwordHash ?? decoyHash)
        guard let user, matches else { throw APIError.unauthorized("invalid email or password") }
        guard !user.disabled else { throw APIError.forbidden("this account is disabled") }
        return try await startSession(user)
    }

    /// A new sign-in (refresh family) for `user` and its first token pair.
    private func startSession(_ user: UserRecord) async throws -> TokenPair {
        let refresh = AuthRandom.token(bytes: 32)
        let family = AuthRandom.token(bytes: 16)
        let now = wallClockMilliseconds()
        try await users.addRefreshToken(
            hash: AuthRandom.sha256Hex(refresh), userID: user.id, family: family,
            expires: now + Int64(refreshTTL) * 1000, now: now)
        return try await pair(for: user, session: family, refreshToken: refresh)
    }

    /// Rotates a refresh token: a new pair, the old token used up. A reused token ends its family; an ended or
    /// too old sign-in, or a disabled account, is refused.
    func refresh(_ token: String) async throws -> TokenPair {
        let next = AuthRandom.token(bytes: 32)
        let now = wallClockMilliseconds()
        let rotation = try await users.rotateRefreshToken(
            hash: AuthRandom.sha256Hex(token), newHash: AuthRandom.sha256Hex(next),
            newExpires: now + Int64(refreshTTL) * 1000, now: now, maxLifetime: refreshMaxLifetime)
        switch rotation {
        case .rotated(let userID, let family):
            guard let user = try await users.user(id: userID), !user.disabled else {
                throw APIError.unauthorized("invalid refresh token")
            }
            return try await pair(for: user, session: family, refreshToken: next)
        case .reused:
            throw APIError.unauthorized("refresh token already used; every session of this sign-in is revoked")
        case .revoked:
            throw APIError.unauthorized("this sign-in has ended (signed out or revoked); sign in again")
        case .expired, .unknown:
            throw APIError.unauthorized("invalid refresh token")
        }
    }

    /// The user a refresh token belongs to (the per-account key of refresh's rate limit); nil when unknown.
    func refreshTokenUser(_ token: String) async throws -> Int64? {
        try await users.refreshTokenUser(hash: AuthRandom.sha256Hex(token))
    }

    /// Ends the sign-in (token family) `token` belongs to: its refresh tokens, and its access tokens and open feeds
    /// too. Unknown tokens are ignored.
    func logout(_ token: String) async throws {
        if let ended = try await users.revokeRefreshFamily(containing: AuthRandom.sha256Hex(token)) {
            revocations.forget(user: ended.user, session: ended.family)
        }
    }

    /// Changes the caller's password after checking the current one: every token of theirs is revoked (all
    /// sign-ins, on every device), and a new sign-in is started for the caller.
    func changePassword(_ caller: Identity, current: String, new: String) async throws -> TokenPair {
        guard let user = try await users.user(id: caller.userID) else { throw APIError.unauthorized("sign in again") }
        guard try await verifyPassword(current, hash: user.passwordHash) else {
            throw APIError.forbidden("currentPassword: does not match")
        }
        if let problem = AuthValidation.passwordProblem(new) { throw APIError.invalid("newPassword: " + problem) }
        try await users.setPassword(user: user.id, passwordHash: try await hashPassword(new))
        revocations.forget(user: user.id)
        guard let updated = try await users.user(id: user.id) else { throw APIError.unauthorized("sign in again") }
        return try await startSession(updated)
    }

    /// Revokes every token of `user` (access and refresh; open feeds end at their next check), and disables or
    /// enables the account when `disabled` is given. False when there is no such user.
    package func revokeTokens(user: Int64, disabled: Bool? = nil) async throws -> Bool {
        let found = try await users.revokeTokens(user: user, disabled: disabled)
        revocations.forget(user: user)
        return found
    }

    /// The identity a bearer access token proves (401 otherwise): signature, issuer, audience and expiry, then
    /// whether it was revoked since (``AuthRevocations``).
    func authenticate(accessToken: String) async throws(APIError) -> Identity {
        let identity = try await signer.verify(accessToken)
        if let credential = identity.credential {
            let reason: String?
            do {
                reason = try await revocations.reason(user: identity.userID, credential)
            } catch {
                throw .unavailable("database busy, retry")
            }
            if let reason { throw .unauthorized(reason) }
        }
        return identity
    }

    /// Why `identity`'s access has ended — its token expired or was revoked, the sign-in ended, the account is
    /// disabled — or nil while it holds. Open feeds ask on every status change and periodically; an identity the hub
    /// made itself (no credential) always holds. A store failure counts as ended (the client reconnects).
    func accessEnded(_ identity: Identity) async -> String? {
        guard let credential = identity.credential else { return nil }
        if credential.expires <= wallClockMilliseconds() { return "access token expired" }
        do {
            return try await revocations.reason(user: identity.userID, credential)
        } catch {
            return "access could not be confirmed; reconnect"
        }
    }

    /// Returns, with the reason, once `identity`'s access has ended (``accessEnded(_:)``, then `alsoEnded`, which
    /// adds a feed's own rule): checked every `recheck` and just after the token's expiry. Open feeds race it against
    /// their frames and close with 1008 and the reason.
    func accessEnds(
        _ identity: Identity, recheck: Duration, alsoEnded: @Sendable () async -> String? = { nil }
    ) async throws -> String {
        while true {
            var wait = recheck
            if let credential = identity.credential { wait = min(wait, .milliseconds(credential.millisecondsLeft())) }
            try await Task.sleep(for: wait)
            if let reason = await accessEnded(identity) { return reason }
            if let reason = await alsoEnded() { return reason }
        }
    }

    private func pair(for user: UserRecord, session: String, refreshToken: String) async throws -> TokenPair {
        let identity = Identity(userID: user.id, role: user.role, agentID: user.agentID)
        return TokenPair(
            accessToken: try await signer.sign(identity, session: session, epoch: user.tokenEpoch),
            refreshToken: refreshToken, expiresIn: signer.ttl)
    }

    /// A single-use WebSocket ticket for `identity`, valid for `ticketLifetime` seconds: 429 when the user holds
    /// `ws-tickets-per-user` unexpired ones, 503 when the hub's pool is full.
    func issueTicket(for identity: Identity) throws(APIError) -> String {
        switch tickets.issue(for: identity) {
        case .issued(let ticket): return ticket
        case .userLimit(let retryAfter):
            throw .tooManyRequests("too many outstanding WebSocket tickets; use one first", retryAfter: retryAfter)
        case .full: throw .unavailable("too many outstanding tickets")
        }
    }

    /// Seconds a WebSocket ticket stays valid.
    package var ticketLifetime: Int { tickets.lifetime }

    /// Redeems a WebSocket ticket from `POST /v1/ws-tickets`: the identity it was issued to (with the credential of
    /// the token that asked for it), or nil when it is unknown, expired or already used. WebSocket routes redeem
    /// `?ticket=…` on upgrade (``WebSocketTicketMiddleware``).
    package func redeemTicket(_ ticket: String) -> Identity? { tickets.redeem(ticket) }
}
