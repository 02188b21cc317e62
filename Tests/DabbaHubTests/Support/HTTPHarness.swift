import DabbaCore
import DabbaTestSupport
import Foundation
import HTTPTypes
@testable import HubModel
@testable import HubSQLite
import Hummingbird
import HummingbirdBcrypt
import HummingbirdTesting
import Logging
import NIOCore

@testable import DabbaHub

/// One hub application over a temp SQLite file, bcrypt cost 4, a known JWT secret, and a broker port nobody
/// listens on; `run` drives it with `app.test(.router)`.
struct HubHarness {
    static let secret = "test-secret-0123456789abcdefghijklmnop"
    let directory: TestDirectory
    let configuration: HubConfiguration
    let store: SQLiteHubStore
    let logger: Logger

    init(_ overrides: [String: String] = [:], secretFile: Bool = true, directory: TestDirectory? = nil) throws {
        let directory = try directory ?? TestDirectory("dabba-hub-http")
        self.directory = directory
        try Self.secret.write(toFile: directory.path("jwt.secret"), atomically: true, encoding: .utf8)
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        // The webhook tests' receivers listen on loopback: the operator's allow-list lets the hub post there. Tests
        // sign in far more often than people do, from one address: the abuse limits are lifted (AbuseLimitTests set
        // their own).
        var values = [
            "database": "sqlite:" + directory.path("hub.db"), "mqtt-port": "\(FreePort.next())",
            "assets": repository.appendingPathComponent("hub").path, "max-body-bytes": "4096", "log-level": "error",
            // Set explicitly, as a deployment must (issue 13, item 7): the hub has no default provider.
            "payment-provider": "test",
            "webhook-allow-hosts": "127.0.0.1",
        ]
        for action in AuthRateLimits.Action.allCases {
            for scope in ["account", "address"] { values["rate-limit-\(action.rawValue)-\(scope)"] = "1000000/1" }
        }
        if secretFile { values["jwt-secret-file"] = directory.path("jwt.secret") }
        configuration = try HubConfiguration.make(values.merging(overrides) { $1 })
        var logger = Logger(label: "hub-test")
        logger.logLevel = .critical
        self.logger = logger
        store = try SQLiteHubStore(path: configuration.sqlitePath!, logger: logger)
    }

    /// Runs `body` against the application; closes the store afterwards (the directory stays for `reopen`).
    /// `configure` may change the components first (a dispatcher clock, the keepalive period).
    func run(
        _ setup: TestingSetup = .router, configure: (inout HubComponents) -> Void = { _ in },
        _ body: @Sendable (any TestClientProtocol, HubComponents) async throws -> Void
    ) async throws {
        var components = try await HubComponents.make(
            configuration: configuration, store: store, logger: logger, bcryptCost: 4)
        configure(&components)
        let hub = components
        let app = buildApplication(hub: hub, logger: logger)
        try await app.test(setup) { client in try await body(client, hub) }
    }

    func close() {
        store.close()
        directory.remove()
    }

    /// Creates a user straight in the store (bcrypt cost 4).
    @discardableResult
    func addUser(_ email: String, role: Role, agentID: String? = nil, password: String = "password-1")
        async throws -> UserRecord
    {
        try await store.createUser(
            email: email, passwordHash: Bcrypt.hash(password, cost: 4), name: "Test", role: role, agentID: agentID)
    }
}

/// A decoded JSON object, for assertions.
typealias JSONObject = [String: Any]

extension TestResponse {
    var json: JSONObject? {
        (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? JSONObject
    }
    var text: String { String(buffer: body) }

    /// The `{"error":{"code","message"}}` code, when the body has that shape with a non-empty message.
    var errorCode: String? {
        guard let error = json?["error"] as? JSONObject, let code = error["code"] as? String,
            let message = error["message"] as? String, !message.isEmpty, json?.count == 1
        else { return nil }
        return code
    }
}

extension TestClientProtocol {
    /// One request with an optional bearer token and JSON body.
    func send(
        _ method: HTTPRequest.Method, _ uri: String, token: String? = nil, json: String? = nil,
        headers extra: HTTPFields = [:]
    ) async throws -> TestResponse {
        var headers = extra
        if let token { headers[.authorization] = "Bearer \(token)" }
        if json != nil { headers[.contentType] = "application/json" }
        return try await execute(uri: uri, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) })
    }

    /// Logs in and returns (access token, refresh token).
    func login(_ email: String, password: String = "password-1") async throws -> (String, String) {
        let response = try await send(
            .post, "/v1/auth/login", json: #"{"email":"\#(email)","password":"\#(password)"}"#)
        guard response.status == .ok, let access = response.json?["accessToken"] as? String,
            let refresh = response.json?["refreshToken"] as? String
        else { throw TestSupportError("login \(email) failed: \(response.status) \(response.text)") }
        return (access, refresh)
    }
}
