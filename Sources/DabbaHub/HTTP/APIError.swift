import HubModel
import Hummingbird
import Logging
import NIOCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// An HTTP error in DESIGN.md's shape: `{"error":{"code":"…","message":"…"}}`.
package struct APIError: HTTPResponseError, Sendable, Equatable {
    package var status: HTTPResponse.Status
    package var code: String
    package var message: String
    /// Seconds before a retry can succeed (`Retry-After`), for 429 and 503.
    package var retryAfter: Int?

    package init(_ status: HTTPResponse.Status, code: String, _ message: String, retryAfter: Int? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    package static func badRequest(_ message: String) -> APIError {
        APIError(.badRequest, code: "bad_request", message)
    }
    package static func unauthorized(_ message: String) -> APIError {
        APIError(.unauthorized, code: "unauthorized", message)
    }
    package static func forbidden(_ message: String = "this route is not available to your role") -> APIError {
        APIError(.forbidden, code: "forbidden", message)
    }
    package static func notFound(_ message: String = "not found") -> APIError {
        APIError(.notFound, code: "not_found", message)
    }
    package static func conflict(_ message: String) -> APIError { APIError(.conflict, code: "conflict", message) }
    package static func tooLarge(_ limit: Int) -> APIError {
        APIError(.contentTooLarge, code: "too_large", "request body larger than \(limit) bytes")
    }
    package static func invalid(_ message: String) -> APIError {
        APIError(.unprocessableContent, code: "invalid", message)
    }
    /// 426: a plain GET of a WebSocket route (the feed needs `Upgrade: websocket`).
    package static func upgradeRequired() -> APIError {
        APIError(.upgradeRequired, code: "upgrade_required", "this is a WebSocket route: send Upgrade: websocket")
    }
    package static func `internal`() -> APIError { APIError(.internalServerError, code: "internal", "internal error") }
    package static func unavailable(_ message: String) -> APIError {
        APIError(.serviceUnavailable, code: "unavailable", message)
    }
    /// 429 with `Retry-After`: a rate limit or a per-user bound was reached.
    package static func tooManyRequests(_ message: String, retryAfter: Int) -> APIError {
        APIError(.tooManyRequests, code: "rate_limited", message, retryAfter: retryAfter)
    }

    struct Body: Encodable {
        struct Detail: Encodable {
            var code: String
            var message: String
        }
        var error: Detail
    }

    package func response(from request: Request, context: some RequestContext) throws -> Response {
        Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// The JSON body: `{"error":{"code","message"}}`.
    var body: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(Body(error: .init(code: code, message: message)))).map(Array.init)
            ?? Array(#"{"error":{"code":"internal","message":"internal error"}}"#.utf8)
    }

    /// The headers that go with ``body``: its type, `WWW-Authenticate` on 401, `Retry-After` when known.
    var headers: HTTPFields {
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer realm=\"dabba\"" }
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        return headers
    }

    /// The code DESIGN.md uses for a status.
    static func code(for status: HTTPResponse.Status) -> String {
        switch status.code {
        case 400: "bad_request"
        case 401: "unauthorized"
        case 403: "forbidden"
        case 404: "not_found"
        case 405: "method_not_allowed"
        case 409: "conflict"
        case 413: "too_large"
        case 422: "invalid"
        case 426: "upgrade_required"
        case 429: "rate_limited"
        case 503: "unavailable"
        case 500...: "internal"
        default: "bad_request"
        }
    }
}

/// Turns every error into the JSON error shape with the right status: our `APIError`s, Hummingbird's own
/// `HTTPError`s (unknown routes, 413 from body collection…), decoding failures (400), store errors, and anything
/// else (500, logged; the message never leaks internals).
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = HubRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        do {
            return try await next(request, context)
        } catch {
            let apiError = Self.apiError(for: error, maxBody: context.maxUploadSize)
            if apiError.status.code >= 500 {
                context.logger.error(
                    "Request failed",
                    metadata: ["http.path": "\(request.uri.path)", "error": "\(String(reflecting: error))"])
            }
            return try apiError.response(from: request, context: context)
        }
    }

    static func apiError(for error: any Error, maxBody: Int) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as HTTPError:
            if error.status == .contentTooLarge { return .tooLarge(maxBody) }
            return APIError(
                error.status, code: APIError.code(for: error.status),
                error.body ?? error.status.reasonPhrase.lowercased())
        case is NIOTooManyBytesError:
            return .tooLarge(maxBody)
        case let error as any HTTPResponseError:
            if error.status == .contentTooLarge { return .tooLarge(maxBody) }
            return APIError(
                error.status, code: APIError.code(for: error.status), error.status.reasonPhrase.lowercased())
        case let error as DecodingError:
            return .badRequest("invalid JSON body: \(describe(error))")
        case let error as StoreError:
            switch error.code {
            case .notFound: return .notFound()
            case .conflict: return .conflict(error.message)
            case .unavailable: return .unavailable("database busy, retry")
            default: return .internal()
            }
        default:
            return .internal()
        }
    }

    /// A short, client-safe description of a decoding failure (which field, what was wrong).
    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map(\.stringValue).joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, _): return "missing field \"\(key.stringValue)\""
        case .typeMismatch(_, let c), .valueNotFound(_, let c):
            return c.codingPath.isEmpty ? "expected a JSON object" : "wrong type for \"\(path(c))\""
        case .dataCorrupted(let c): return c.codingPath.isEmpty ? "not valid JSON" : "bad value for \"\(path(c))\""
        @unknown default: return "unreadable"
        }
    }
}

/// Applies `max-body-bytes`: a declared `content-length` over the limit is refused at once (413); bodies without
/// one are cut off at the limit when decoded.
struct BodyLimitMiddleware: RouterMiddleware {
    typealias Context = HubRequestContext
    let maxBytes: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        var context = context
        context.maxUploadSize = maxBytes
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maxBytes {
            throw APIError.tooLarge(maxBytes)
        }
        return try await next(request, context)
    }
}
