import HubModel
import JWTKit
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The claims of a hub access token.
struct AccessClaims: JWTPayload, Equatable {
    static let issuer = "dabba-hub"
    static let audience = "dabba"

    var sub: SubjectClaim
    var iss: IssuerClaim
    var aud: AudienceClaim
    var iat: IssuedAtClaim?
    var exp: ExpirationClaim
    var role: String
    var agent: String?
    /// The sign-in (refresh-token family) the token was issued for.
    var sid: String?
    /// The user's revocation epoch at issue; absent in tokens from before epochs (read as 0).
    var ep: Int64?

    init(identity: Identity, session: String?, epoch: Int64, issuedAt: Date, ttl: Int) {
        sub = SubjectClaim(value: String(identity.userID))
        iss = IssuerClaim(value: Self.issuer)
        aud = AudienceClaim(value: [Self.audience])
        iat = IssuedAtClaim(value: issuedAt)
        exp = ExpirationClaim(value: issuedAt.addingTimeInterval(Double(ttl)))
        role = identity.role.rawValue
        agent = identity.agentID
        sid = session
        ep = epoch
    }

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
        guard iss.value == Self.issuer else {
            throw JWTError.claimVerificationFailure(failedClaim: iss, reason: "unexpected issuer")
        }
        try aud.verifyIntendedAudience(includes: Self.audience)
    }

    /// The identity the claims carry, with their credential; nil when the subject or role is not one the hub issues.
    var identity: Identity? {
        guard let userID = Int64(sub.value), let role = Role(rawValue: role) else { return nil }
        if role == .agent && agent == nil { return nil }
        // Only tokens signed here get this far; a Double out of Int64's range would still trap, so bound it.
        let milliseconds = (exp.value.timeIntervalSince1970 * 1000).rounded(.down)
        let expires =
            milliseconds.isNaN ? 0 : milliseconds >= 9e18 ? Int64.max : milliseconds <= 0 ? 0 : Int64(milliseconds)
        let credential = Identity.Credential(session: sid, epoch: ep ?? 0, expires: expires)
        return Identity(userID: userID, role: role, agentID: role == .agent ? agent : nil, credential: credential)
    }
}

/// Signs and verifies access tokens: HS256 only (the header's `alg` is checked before anything else, so `none`,
/// other HMAC sizes and public-key algorithms are refused whatever the signature), with `exp`, `iss` and `aud`.
///
/// A token that verified (or was signed here) is remembered with its identity until it expires
/// (``verifiedCapacity`` at most): a client sends the same token with every request, and the signature, issuer and
/// audience of a given token string never change, so only its expiry is checked again. An expired entry goes
/// through the full check (and its error). Whether the token was revoked since is not the signer's business: see
/// ``AuthRevocations``.
final class AccessTokenSigner: Sendable {
    static let algorithm = "HS256"
    /// Most tokens remembered at once; when full, expired ones are dropped, and all of them if that is not enough.
    static let verifiedCapacity = 50_000
    private let keys: JWTKeyCollection
    private let verified = Mutex<[String: (identity: Identity, expires: Date)]>([:])
    let ttl: Int

    init(secret: [UInt8], ttl: Int) async {
        keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        self.ttl = ttl
    }

    /// A new token for `identity` in the sign-in `session` under revocation epoch `epoch`, remembered as verified
    /// (the client sends it next).
    func sign(_ identity: Identity, session: String?, epoch: Int64, now: Date = Date()) async throws -> String {
        let claims = AccessClaims(identity: identity, session: session, epoch: epoch, issuedAt: now, ttl: ttl)
        let token = try await keys.sign(claims)
        if let verified = claims.identity { remember(token, verified, expires: claims.exp.value, now: now) }
        return token
    }

    /// The identity in `token`, or an `APIError.unauthorized` saying briefly why not.
    func verify(_ token: String) async throws(APIError) -> Identity {
        let now = Date()
        if let known = verified.withLock({ $0[token] }), known.expires > now { return known.identity }
        guard Self.headerAlgorithm(of: token) == Self.algorithm else {
            throw .unauthorized("access token algorithm not accepted")
        }
        let claims: AccessClaims
        do {
            claims = try await keys.verify(token, as: AccessClaims.self)
        } catch let error as JWTError where error.errorType == .claimVerificationFailure {
            throw .unauthorized(
                error.failedClaim is ExpirationClaim ? "access token expired" : "access token not valid here")
        } catch {
            throw .unauthorized("access token invalid")
        }
        guard let identity = claims.identity else { throw .unauthorized("access token invalid") }
        remember(token, identity, expires: claims.exp.value, now: now)
        return identity
    }

    private func remember(_ token: String, _ identity: Identity, expires: Date, now: Date) {
        verified.withLock { known in
            if known.count >= Self.verifiedCapacity {
                known = known.filter { $0.value.expires > now }
                if known.count >= Self.verifiedCapacity / 2 { known.removeAll() }
            }
            known[token] = (identity, expires)
        }
    }

    /// The `alg` of a compact JWS header; nil when the token is not three dot-separated base64url parts.
    static func headerAlgorithm(of token: String) -> String? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let header = AuthRandom.fromBase64URL(parts[0]),
            let object = try? JSONDecoder().decode([String: JSONScalar].self, from: Data(header)),
            case .string(let alg)? = object["alg"]
        else { return nil }
        if let typ = object["typ"], typ != .string("JWT") { return nil }
        return alg
    }

    /// Header values: strings are all we need; anything else decodes to `.other`.
    enum JSONScalar: Decodable, Equatable {
        case string(String)
        case other
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            self = (try? container.decode(String.self)).map { .string($0) } ?? .other
        }
    }
}
