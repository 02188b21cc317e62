import DabbaProtocol
import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A small JSON client of the hub's REST API for the simulator: one signed-in user, the access token refreshed (or
/// the user signed in again) on a 401, a 429 waited out as `Retry-After` says (at most 60 s, three times).
actor HubClient {
    struct Answer: Sendable {
        var status: Int
        var json: JSONValue

        subscript(key: String) -> JSONValue? { json[key] }
        var ok: Bool { (200..<300).contains(status) }
        /// The hub's error code and message, for messages.
        var error: String {
            "HTTP \(status) \(json["error"]?["code"]?.string ?? "") \(json["error"]?["message"]?.string ?? "")"
        }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    let base: URL
    let session: URLSession
    let email: String
    let password: String
    var access: String?
    var refresh: String?

    init(base: URL, email: String, password: String) {
        self.base = base
        self.email = email
        self.password = password
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 30
        session = URLSession(configuration: configuration)
    }

    /// Signs in (`POST /v1/auth/login`).
    func signIn() async throws {
        let answer = try await send(
            "POST", "/v1/auth/login", ["email": email, "password": password], authorized: false)
        guard answer.status == 200, let token = answer["accessToken"]?.string else {
            throw Failure(description: "sign-in of \(email): \(answer.error)")
        }
        access = token
        refresh = answer["refreshToken"]?.string
    }

    /// Registers the customer (the answer does not say whether the email existed), then signs in.
    func registerAndSignIn(name: String) async throws {
        _ = try await send(
            "POST", "/v1/auth/register", ["email": email, "password": password, "name": name], authorized: false)
        try await signIn()
    }

    /// One call; `body` is JSON-encoded.
    func send(
        _ method: String, _ path: String, _ body: [String: any Sendable]? = nil, authorized: Bool = true,
        headers: [String: String] = [:]
    ) async throws -> Answer {
        var renewed = false
        var waits = 0
        while true {
            var request = URLRequest(url: base.appendingPathComponent(String(path.split(separator: "?")[0])))
            if let query = path.split(separator: "?", maxSplits: 1).dropFirst().first {
                request.url = URL(string: request.url!.absoluteString + "?" + query)
            }
            request.httpMethod = method
            request.setValue("application/json", forHTTPHeaderField: "Accept")
            for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
            if authorized, let access { request.setValue("Bearer \(access)", forHTTPHeaderField: "Authorization") }
            if let body {
                request.setValue("application/json", forHTTPHeaderField: "Content-Type")
                request.httpBody = try JSONSerialization.data(withJSONObject: body)
            }
            let (data, response) = try await session.data(for: request)
            let status = (response as? HTTPURLResponse)?.statusCode ?? 0
            let json = data.isEmpty ? JSONValue.null : (try? JSONValue.parse(Array(data), maxDepth: 32)) ?? .null
            let answer = Answer(status: status, json: json)
            if status == 401, authorized, !renewed {
                renewed = true
                try await renew()
                continue
            }
            if status == 429, waits < 3 {
                waits += 1
                let seconds =
                    (response as? HTTPURLResponse)?.value(forHTTPHeaderField: "Retry-After").flatMap(Int.init) ?? 5
                try await Task.sleep(for: .seconds(min(60, max(1, seconds))))
                continue
            }
            return answer
        }
    }

    /// A fresh access token: the refresh token, or signing in again.
    func renew() async throws {
        if let refresh {
            let answer = try await send("POST", "/v1/auth/refresh", ["refreshToken": refresh], authorized: false)
            if answer.status == 200, let token = answer["accessToken"]?.string {
                access = token
                self.refresh = answer["refreshToken"]?.string ?? self.refresh
                return
            }
        }
        try await signIn()
    }
}

extension JSONValue {
    /// A number as a `Double`.
    var double: Double? {
        if case .number(let text) = self { return Double(text) }
        return nil
    }

    var bool: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }
}
