import Hummingbird

/// `/v1/users/{id}/…` (operators): disable or enable an account and revoke every token of a user. Each takes effect
/// on this hub at once — the user's access tokens are refused, refresh tokens end, open live feeds close (1008) at
/// their next check — and on other hubs within `revocation-cache-seconds`.
struct UsersController {
    let auth: AuthService

    struct UserAccess: ResponseEncodable {
        var id: Int64
        var disabled: Bool
    }

    func addRoutes(to router: some RouterMethods<HubRequestContext>) {
        let operators = router.group("v1/users", access: .roles([.operator]))
        operators.post(":id/disable", use: disable)
        operators.post(":id/enable", use: enable)
        operators.post(":id/revoke-tokens", use: revokeTokens)
    }

    /// The `:id` parameter: a user id (400 otherwise).
    private func userID(_ context: HubRequestContext) throws -> Int64 {
        guard let id = Int64(try context.parameters.require("id")), id > 0 else {
            throw APIError.badRequest("id: expected a user id")
        }
        return id
    }

    /// Disables the account (sign-in refused with 403) and revokes its tokens. An operator cannot disable
    /// themselves (409): the hub would have no one left to undo it from.
    @Sendable func disable(_ request: Request, context: HubRequestContext) async throws -> UserAccess {
        let caller = try context.caller()
        let id = try userID(context)
        if id == caller.userID { throw APIError.conflict("operators cannot disable their own account") }
        guard try await auth.revokeTokens(user: id, disabled: true) else { throw APIError.notFound("no user \(id)") }
        context.logger.notice("User disabled", metadata: ["user.target": "\(id)", "user.id": "\(caller.userID)"])
        return UserAccess(id: id, disabled: true)
    }

    /// Enables a disabled account: the user signs in again (their old tokens stay revoked).
    @Sendable func enable(_ request: Request, context: HubRequestContext) async throws -> UserAccess {
        let caller = try context.caller()
        let id = try userID(context)
        guard try await auth.revokeTokens(user: id, disabled: false) else { throw APIError.notFound("no user \(id)") }
        context.logger.notice("User enabled", metadata: ["user.target": "\(id)", "user.id": "\(caller.userID)"])
        return UserAccess(id: id, disabled: false)
    }

    /// Revokes every access and refresh token of the user (every sign-in, every device); 204.
    @Sendable func revokeTokens(_ request: Request, context: HubRequestContext) async throws -> HTTPResponse.Status {
        let caller = try context.caller()
        let id = try userID(context)
        guard try await auth.revokeTokens(user: id) else { throw APIError.notFound("no user \(id)") }
        context.logger.notice(
            "User's tokens revoked", metadata: ["user.target": "\(id)", "user.id": "\(caller.userID)"])
        return .noContent
    }
}
