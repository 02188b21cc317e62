import DabbaCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// A POST that moves money, under its `Idempotency-Key` (required, 1–128 characters).
///
/// The key is claimed for the caller with one conditional insert (so it holds across hubs sharing a database)
/// together with a hash of the method, path and body. The same key and body within `idempotency-ttl-hours` answer
/// with the stored response (status and body, `Idempotency-Replayed: true`); the same key with a different request
/// is 422; a key whose first request is still running is 409 (retry later). Answers below 500 are stored; a 5xx
/// or an unexpected failure gives the key up so a retry runs again.
struct IdempotentRequest<Store: PaymentRepository> {
    static var header: HTTPField.Name { HTTPField.Name("Idempotency-Key")! }
    static var replayedHeader: HTTPField.Name { HTTPField.Name("Idempotency-Replayed")! }

    let store: Store
    let scope: String
    let key: String
    let hash: String
    let body: ByteBuffer
    let ttl: Int64

    init(_ request: Request, _ context: HubRequestContext, store: Store, ttl: Int64) async throws {
        let caller = try context.caller()
        guard let key = request.headers[Self.header] else {
            throw APIError.badRequest("Idempotency-Key: required on requests that move money")
        }
        guard !key.isEmpty, key.utf8.count <= 128 else {
            throw APIError.badRequest("Idempotency-Key: 1 to 128 characters")
        }
        var request = request
        body = try await request.collectBody(upTo: context.maxUploadSize)
        self.store = store
        self.key = key
        self.ttl = ttl
        scope = "user:\(caller.userID)"
        hash = AuthRandom.sha256Hex("\(request.method.rawValue) \(request.uri.path)\n" + String(buffer: body))
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
    /// returned as an answer; a refused key throws 422 or 409.
    func execute<T: Encodable>(_ operation: () async throws -> (HTTPResponse.Status, T)) async throws
        -> (status: Int, body: [UInt8], replayed: Bool)
    {
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
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let status: Int
        let bytes: [UInt8]
        do {
            let (s, value) = try await operation()
            (status, bytes) = (Int(s.code), Array(try encoder.encode(value)))
        } catch let error as APIError where error.status.code < 500 {
            (status, bytes) = (
                Int(error.status.code),
                Array(try encoder.encode(APIError.Body(error: .init(code: error.code, message: error.message))))
            )
        } catch {
            try? await store.releaseIdempotencyKey(scope: scope, key: key)
            throw error
        }
        try await store.finishIdempotencyKey(scope: scope, key: key, status: status, body: bytes)
        return (status, bytes, false)
    }

    static func response(_ status: HTTPResponse.Status, _ bytes: [UInt8]) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
