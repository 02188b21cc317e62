import Hummingbird

/// `/v1/auth/*` and `/v1/ws-tickets`.
struct AuthController {
    let auth: AuthService

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
    struct UserView: ResponseEncodable {
        var id: Int64
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
        router.group("v1/ws-tickets", access: .signedIn).post(use: ticket)
    }

    @Sendable func register(_ request: Request, context: HubRequestContext) async throws -> EditedResponse<UserView> {
        let body = try await request.decode(as: RegisterRequest.self, context: context)
        let user = try await auth.createUser(
            email: body.email, password: body.password, name: body.name, role: .customer)
        context.logger.notice("User registered", metadata: ["user.id": "\(user.id)"])
        return EditedResponse(
            status: .created, response: UserView(id: user.id, email: user.email, name: user.name, role: user.role))
    }

    @Sendable func login(_ request: Request, context: HubRequestContext) async throws -> TokenPair {
        let body = try await request.decode(as: LoginRequest.self, context: context)
        return try await auth.login(email: body.email, password: body.password)
    }

    @Sendable func refresh(_ request: Request, context: HubRequestContext) async throws -> TokenPair {
        let body = try await request.decode(as: RefreshRequest.self, context: context)
        return try await auth.refresh(body.refreshToken)
    }

    @Sendable func logout(_ request: Request, context: HubRequestContext) async throws -> HTTPResponse.Status {
        let body = try await request.decode(as: RefreshRequest.self, context: context)
        try await auth.logout(body.refreshToken)
        return .noContent
    }

    @Sendable func ticket(_ request: Request, context: HubRequestContext) async throws -> TicketView {
        TicketView(ticket: try auth.issueTicket(for: try context.caller()), expiresIn: auth.ticketLifetime)
    }
}

extension TokenPair: ResponseEncodable {}
