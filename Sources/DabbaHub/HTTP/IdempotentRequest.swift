import DabbaCore
import Foundation
import HTTPTypes
import HubModel
import Hummingbird
import NIOCore

/// A POST under an `Idempotency-Key` (1–128 characters): the one rule for every route that creates something or
/// moves money (payments require the key, order placement takes it when given).
///
/// The key is looked up before any other work: it is claimed for the caller with one conditional insert (so it holds
/// across hubs sharing a database) together with a hash of the method, the path and the body's canonical form
/// (``CanonicalJSON``: sorted members, no insignificant whitespace, numbers as parsed — so the same JSON with other
/// spacing or member order is the same request). Within `idempotency-ttl-hours`:
/// - the same key and canonical body answer with the stored response (status and body,
///   `Idempotency-Replayed: true`), whatever has changed since (a restaurant that has closed, a payment captured);
/// - the same key with a different request (body, method or path) is 422 `invalid`;
/// - a key whose first request is still running is 409 `conflict` (retry later).
///
/// Keys are per caller (`user:<id>`). Answers below 500 are stored; a 5xx or an unexpected failure gives the key up
/// so a retry runs again. A body that is not JSON is 400 before the key is looked at.
struct IdempotentRequest<Store: IdempotencyRepository> {
    static var header: HTTPField.Name { HTTPField.Name("Idempotency-Key")! }
    static var replayedHeader: HTTPField.Name { HTTPField.Name("Idempotency-Replayed")! }

    let store: Store
    let scope: String
    /// Nil when the route takes the key optionally and the request has none: then ``execute(_:)`` just runs.
    let key: String?
    let hash: String
    let body: ByteBuffer
    let ttl: Int64

    /// Reads the key and the body (400 for a bad key, a missing required one, or a body that is not JSON).
    init(_ request: Request, _ context: HubRequestContext, store: Store, ttl: Int64, keyRequired: Bool = true)
        async throws
    {
        let caller = try context.caller()
        let key = request.headers[Self.header]
        if key == nil, keyRequired {
            throw APIError.badRequest("Idempotency-Key: required on requests that move money")
        }
        if let key, key.isEmpty || key.utf8.count > 128 {
            throw APIError.badRequest("Idempotency-Key: 1 to 128 characters")
        }
        var request = request
        body = try await request.collectBody(upTo: context.maxUploadSize)
        self.store = store
        self.key = key
        self.ttl = ttl
        scope = "user:\(caller.userID)"
        do {
            hash = try Self.requestHash(method: request.method, path: request.uri.path, body: Array(buffer: body))
        } catch {
            throw APIError.badRequest("invalid JSON body: \(error.message)")
        }
    }

    /// What a key is bound to: SHA-256 of `METHOD path`, a newline, and the body's ``CanonicalJSON`` form.
    static func requestHash(method: HTTPRequest.Method, path: String, body: [UInt8]) throws(CanonicalJSON.Invalid)
        -> String
    {
        let canonical = try CanonicalJSON.canonical(body)
        return AuthRandom.sha256Hex("\(method.rawValue) \(path)\n" + String(decoding: canonical, as: UTF8.self))
    }

    /// The JSON body as `T` (400 when it is not).
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(type, from: Data(buffer: body))
    }

    /// The raw parts (tests, and callers other than a route).
    init(store: Store, scope: String, key: String, requestHash: String, ttl: Int64) {
        self.store = store
        self.scope = scope
        self.key = key
        self.hash = requestHash
        self.body = ByteBuffer()
        self.ttl = ttl
    }

    /// Runs `operation` once per key, or answers as described above.
    func run<T: Encodable>(_ operation: () async throws -> (HTTPResponse.Status, T)) async throws -> Response {
        let answer = try await execute(operation)
        var response = Self.response(HTTPResponse.Status(code: answer.status), answer.body)
        if answer.replayed { response.headers[Self.replayedHeader] = "true" }
        return response
    }

    /// The answer to send: `operation`'s (now stored), or the stored one. An `APIError` below 500 is stored too and
    /// returned as an answer; a refused key throws 422 or 409. Without a key, `operation` just runs.
    func execute<T: Encodable>(_ operation: () async throws -> (HTTPResponse.Status, T)) async throws
        -> (status: Int, body: [UInt8], replayed: Bool)
    {
        guard let key else {
            let (status, value) = try await operation()
            return (Int(status.code), try Self.encode(value), false)
        }
        switch try await store.claimIdempotencyKey(
            scope: scope, key: key, requestHash: hash, now: wallClockMilliseconds(), ttl: ttl)
        {
        case .mismatch:
            throw APIError.invalid("Idempotency-Key \(key) was used with a different request")
        case .inProgress:
            throw APIError.conflict("a request with Idempotency-Key \(key) is in progress; retry later")
        case .replay(let status, let bytes):
            return (status, bytes, true)
        case .claimed:
            break
        }
        let status: Int
        let bytes: [UInt8]
        do {
            let (s, value) = try await operation()
            (status, bytes) = (Int(s.code), try Self.encode(value))
        } catch let error as APIError where error.status.code < 500 {
            (status, bytes) = (
                Int(error.status.code),
                try Self.encode(APIError.Body(error: .init(code: error.code, message: error.message)))
            )
        } catch {
            try? await store.releaseIdempotencyKey(scope: scope, key: key)
            throw error
        }
        try await store.finishIdempotencyKey(scope: scope, key: key, status: status, body: bytes)
        return (status, bytes, false)
    }

    private static func encode(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(value))
    }

    static func response(_ status: HTTPResponse.Status, _ bytes: [UInt8]) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
