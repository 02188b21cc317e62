import HubModel
import Hummingbird

/// `/v1/auth/*` and `/v1/ws-tickets`. Login, register, refresh, password changes and tickets pass the abuse limits
/// first (``AuthRateLimits``: per client address, then per account; 429 with `Retry-After`).
struct AuthController {
    let auth: AuthService
    let limits: AuthRateLimits
    /// Proxies whose `X-Forwarded-For` names the client (``ClientAddress``).
    let trustedProxies: [IPNetwork]

    struct RegisterRequest: Decodable {
        var email: String
        var password: String
        var name: String
    }
    struct LoginRequest: Decodable {
        var email: String
        var password: String
    }
    struct RefreshRequest: Decodable {
        var refreshToken: String
    }
    struct PasswordRequest: Decodable {
        var currentPassword: String
        var newPassword: String
    }
    /// The answer to a registration: the same whether or not the email already had an account.
    struct Registered: ResponseEncodable {
        var email: String
        var name: String
        var role: Role
    }
    struct TicketView: ResponseEncodable {
        var ticket: String
        var expiresIn: Int
    }

    func addRoutes(to router: some RouterMethods<HubRequestContext>) {
        let open = router.group("v1/auth", access: .public)
        open.post("register", use: register)
        open.post("login", use: login)
        open.post("refresh", use: refresh)
        open.post("logout", use: logout)
        router.group("v1/auth", access: .signedIn).post("password", use: changePassword)
        router.group("v1/ws-tickets", access: .signedIn).post(use: ticket)
    }

    /// The rate-limit key of an email: as the store compares them (trimmed, case-insensitive).
    static func accountKey(_ email: String) -> String { "email:" + email.trimmingSpaces.lowercased() }

    private func address(_ request: Request, _ context: HubRequestContext) -> String {
        context.clientAddress(request, trusted: trustedProxies)
    }

    /// 201 with the email, name and role, whether the account was created or the email was taken (the route does
    /// not tell who has an account; the existing account is untouched). Invalid input is still 422.
    @Sendable func register(_ request: Request, context: HubRequestContext) async throws -> EditedResponse<Registered> {
        let body = try await request.decode(as: RegisterRequest.self, context: context)
        try limits.check(.register, address: address(request, context), account: Self.accountKey(body.email))
        try await auth.register(email: body.email, password: body.password, name: body.name)
        context.logger.info("Registration handled")
        return EditedResponse(
            status: .created,
            response: Registered(email: body.email.trimmingSpaces, name: body.name.trimmingSpaces, role: .customer))
    }

    @Sendable func login(_ request: Request, context: HubRequestContext) async throws -> TokenPair {
        let body = try await request.decode(as: LoginRequest.self, context: context)
        try limits.check(.login, address: address(request, context), account: Self.accountKey(body.email))
        return try await auth.login(email: body.email, password: body.password)
    }

    @Sendable func refresh(_ request: Request, context: HubRequestContext) async throws -> TokenPair {
        let body = try await request.decode(as: RefreshRequest.self, context: context)
        try limits.check(.refresh, address: address(request, context), account: nil)
        if let user = try await auth.refreshTokenUser(body.refreshToken) {
            try limits.check(.refresh, address: nil, account: "user:\(user)")
        }
        return try await auth.refresh(body.refreshToken)
    }

    @Sendable func logout(_ request: Request, context: HubRequestContext) async throws -> HTTPResponse.Status {
        let body = try await request.decode(as: RefreshRequest.self, context: context)
        try await auth.logout(body.refreshToken)
        return .noContent
    }

    /// `POST /v1/auth/password`: a new password (the current one checked; login's limits apply); every token of
    /// the user is revoked and the answer is a new sign-in's pair.
    @Sendable func changePassword(_ request: Request, context: HubRequestContext) async throws -> TokenPair {
        let caller = try context.caller()
        let body = try await request.decode(as: PasswordRequest.self, context: context)
        try limits.check(.login, address: address(request, context), account: "user:\(caller.userID)")
        let pair = try await auth.changePassword(caller, current: body.currentPassword, new: body.newPassword)
        context.logger.notice("Password changed; every token revoked", metadata: ["user.id": "\(caller.userID)"])
        return pair
    }

    @Sendable func ticket(_ request: Request, context: HubRequestContext) async throws -> TicketView {
        let caller = try context.caller()
        try limits.check(.ticket, address: address(request, context), account: "user:\(caller.userID)")
        return TicketView(ticket: try auth.issueTicket(for: caller), expiresIn: auth.ticketLifetime)
    }
}

extension TokenPair: ResponseEncodable {}
