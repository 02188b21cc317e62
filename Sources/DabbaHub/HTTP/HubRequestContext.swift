import DabbaCore
import HubModel
import Hummingbird
import HTTPTypes
import HummingbirdAuth
import HummingbirdWebSocket
import Logging
import NIOCore

/// Who is calling: set by the bearer-token middleware (or by a redeemed WebSocket ticket).
package struct Identity: Sendable, Equatable {
    package var userID: Int64
    package var role: Role
    /// The agent this user is, for role `agent`.
    package var agentID: String?
    /// The access token that proved it; nil for identities the hub makes itself (tools, tests).
    package var credential: Credential?

    package init(userID: Int64, role: Role, agentID: String? = nil, credential: Credential? = nil) {
        self.userID = userID
        self.role = role
        self.agentID = agentID
        self.credential = credential
    }

    /// What an access token says beyond the user: checked again on every request and by open feeds.
    package struct Credential: Sendable, Equatable {
        /// The sign-in (refresh-token family) the token belongs to; nil for tokens issued before sessions were
        /// tracked.
        package var session: String?
        /// The user's revocation epoch when the token was issued (``UserRecord/tokenEpoch``).
        package var epoch: Int64
        /// When the token expires (UTC milliseconds).
        package var expires: Int64

        /// Milliseconds from `now` until just after the token expires: 1 once it has, a day at most (tokens live
        /// shorter), so a timer for it never overflows.
        func millisecondsLeft(now: Int64 = wallClockMilliseconds()) -> Int64 {
            min(max(0, expires - now), 86_400_000) + 1
        }
    }
}

/// The hub's request context: the authenticated identity, a request id, the body limit, and WebSocket upgrade
/// support (so `/v1/fleet/live` and `/v1/orders/{id}/live` live on the same router).
package struct HubRequestContext: AuthRequestContext, WebSocketRequestContext, RequestContext {
    package var coreContext: CoreRequestContextStorage
    package var identity: Identity?
    /// The request id (`x-request-id`), also in the logger's metadata as `request.id`.
    package var requestID: String
    /// Largest body decoded; set from `max-body-bytes` by the body-limit middleware.
    package var maxUploadSize: Int
    package let webSocket: WebSocketHandlerReference<HubRequestContext>
    /// Why a presented bearer token was refused (a route that needs a user answers 401 with it).
    var authFailure: String?
    /// The connection: order feeds close its input to end a feed from the hub's side.
    let channel: any Channel

    package init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        identity = nil
        requestID = ""
        maxUploadSize = 1 << 20
        webSocket = .init()
        authFailure = nil
        channel = source.channel
    }
}

/// Gives every request an id: the caller's `x-request-id` when it is sane, else a new one. The id goes into the
/// logger's metadata (`request.id`) and back in the response's `x-request-id` header (errors included: this
/// middleware sits outside the error middleware).
struct RequestIDMiddleware: RouterMiddleware {
    typealias Context = HubRequestContext
    static let header = HTTPField.Name("x-request-id")!

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        var context = context
        let given = request.headers[Self.header]
        let id = given.flatMap { Self.isAcceptable($0) ? $0 : nil } ?? AuthRandom.token(bytes: 12)
        context.requestID = id
        context.logger[metadataKey: "request.id"] = "\(id)"
        var response = try await next(request, context)
        response.headers[Self.header] = id
        return response
    }

    /// 1–128 characters from `[A-Za-z0-9._-]`: safe to log and to echo.
    static func isAcceptable(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 128
            && id.utf8.allSatisfy { c in
                (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2E
                    || c == 0x5F || c == 0x2D
            }
    }
}
