import HubModel
import Hummingbird
import HummingbirdAuth

/// Reads `Authorization: Bearer …` and sets `context.identity` when the token is valid. A refused token does not
/// fail the request here (public routes stay public); `RequireRole` answers 401 with the reason.
struct BearerAuthMiddleware: RouterMiddleware {
    typealias Context = HubRequestContext
    let auth: AuthService

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        var context = context
        if let authorization = request.headers[.authorization] {
            if let bearer = request.headers.bearer, !bearer.token.isEmpty {
                do {
                    let identity = try await authenticate(bearer.token, upgrade: request.headers[.upgrade] != nil)
                    context.identity = identity
                    context.logger[metadataKey: "user.id"] = "\(identity.userID)"
                } catch {
                    context.authFailure = error.message
                }
            } else {
                context.authFailure = authorization.isEmpty ? "empty Authorization header" : "expected a Bearer token"
            }
        }
        return try await next(request, context)
    }

    /// The token's identity. On a connection upgrade (WebSocket) the check — signature, then the store's revocation
    /// read — runs in a task of its own: the connection's task lives as long as the feed and would keep the memory
    /// of those frames for it (``inTaskOfItsOwn(_:)``).
    func authenticate(_ token: String, upgrade: Bool) async throws(APIError) -> Identity {
        guard upgrade else { return try await auth.authenticate(accessToken: token) }
        return try await inTaskOfItsOwn { [auth] () async throws(APIError) in
            try await auth.authenticate(accessToken: token)
        }
    }
}

/// WebSocket routes: `?ticket=` from `POST /v1/ws-tickets` (browsers cannot send `Authorization` on an upgrade) is
/// redeemed, once, into the identity when no bearer token was presented. The identity keeps the credential of the
/// token that asked for the ticket, so an open feed is re-checked against it.
struct WebSocketTicketMiddleware: RouterMiddleware {
    typealias Context = HubRequestContext
    let auth: AuthService

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        var context = context
        if context.identity == nil, let ticket = request.uri.queryParameters["ticket"] {
            context.identity = auth.redeemTicket(String(ticket))
            if context.identity == nil { context.authFailure = "ticket unknown, expired or already used" }
        }
        return try await next(request, context)
    }
}

/// Who may call a route. Every route the hub serves is registered under one of these.
package enum Access: Sendable {
    /// Anyone, signed in or not.
    case `public`
    /// Any signed-in user.
    case signedIn
    /// Signed-in users with one of these roles (object-level checks happen in the handler, answering 404).
    case roles(Set<Role>)

    /// Checks `context` against this rule: 401 without a valid token, 403 for a role the route is not for.
    func check(_ context: HubRequestContext) throws(APIError) {
        if case .public = self { return }
        guard let identity = context.identity else {
            throw .unauthorized(context.authFailure ?? "sign in: send Authorization: Bearer <access token>")
        }
        if case .roles(let roles) = self, !roles.contains(identity.role) { throw .forbidden() }
    }
}

/// Enforces an `Access` rule for the routes of a group.
struct RequireAccess: RouterMiddleware {
    typealias Context = HubRequestContext
    let access: Access

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        try access.check(context)
        return try await next(request, context)
    }
}

extension RouterMethods where Context == HubRequestContext {
    /// A group of routes all callable only under `access`.
    func group(_ path: RouterPath = "", access: Access) -> RouterGroup<Context> {
        group(path).add(middleware: RequireAccess(access: access))
    }
}

extension HubRequestContext {
    /// The caller (the route's `Access` guarantees one outside `.public`).
    func caller() throws(APIError) -> Identity {
        guard let identity else { throw .unauthorized(authFailure ?? "sign in first") }
        return identity
    }
}
