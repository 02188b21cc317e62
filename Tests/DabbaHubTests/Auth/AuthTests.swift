import Crypto
import DabbaTestSupport
import Foundation
@testable import HubModel
import HummingbirdTesting
import Testing

@testable import DabbaHub

@Suite(.serialized) struct AuthTests {
    @Test func registerLoginRefreshRotationAndReuseRevokesTheFamily() async throws {
        let h = try HubHarness()
        defer { h.close() }
        try await h.run { client, _ in
            let register = try await client.send(
                .post, "/v1/auth/register",
                json: #"{"email":"Asha@Example.com","password":"long-enough","name":"Asha"}"#)
            #expect(register.status == .created, "\(register.text)")
            #expect(register.json?["role"] as? String == "customer")
            #expect(register.json?["password"] == nil && register.json?["passwordHash"] == nil)
            // A taken email gets the same answer as a new one (the route tells nobody who has an account), and
            // the existing account is untouched: its password still signs in, the new one does not.
            let duplicate = try await client.send(
                .post, "/v1/auth/register",
                json: #"{"email":"Asha@Example.com","password":"another-one","name":"Asha"}"#)
            func fields(_ r: TestResponse) -> [String] {
                ["email", "name", "role"].map { r.json?[$0] as? String ?? "-" } + [String(r.json?.count ?? 0)]
            }
            #expect(duplicate.status == .created && fields(duplicate) == fields(register), "\(duplicate.text)")
            let fresh = try await client.send(
                .post, "/v1/auth/register",
                json: #"{"email":"Ravi@Example.com","password":"another-one","name":"Asha"}"#)
            #expect(fresh.status == .created && fresh.json?.keys.sorted() == register.json?.keys.sorted())
            let taken = try await client.send(
                .post, "/v1/auth/login", json: #"{"email":"asha@example.com","password":"another-one"}"#)
            #expect(taken.status == .unauthorized)
            for body in [
                #"{"email":"not-an-email","password":"long-enough","name":"A"}"#,
                #"{"email":"b@example.com","password":"short","name":"A"}"#,
                #"{"email":"b@example.com","password":"long-enough","name":"  "}"#,
            ] {
                let bad = try await client.send(.post, "/v1/auth/register", json: body)
                #expect(bad.status == .unprocessableContent && bad.errorCode == "invalid", "\(body) \(bad.text)")
            }
            let missing = try await client.send(.post, "/v1/auth/register", json: #"{"email":"b@example.com"}"#)
            #expect(missing.status == .badRequest && missing.errorCode == "bad_request")

            let wrongPassword = try await client.send(
                .post, "/v1/auth/login", json: #"{"email":"asha@example.com","password":"wrong-password"}"#)
            let unknownEmail = try await client.send(
                .post, "/v1/auth/login", json: #"{"email":"nobody@example.com","password":"long-enough"}"#)
            #expect(wrongPassword.status == .unauthorized && unknownEmail.status == .unauthorized)
            #expect(wrongPassword.text == unknownEmail.text)

            let login = try await client.send(
                .post, "/v1/auth/login", json: #"{"email":"asha@example.com","password":"long-enough"}"#)
            #expect(login.status == .ok)
            #expect(login.json?["expiresIn"] as? Int == 900)
            let (access, first) = try await client.login("asha@example.com", password: "long-enough")
            #expect(try await client.send(.post, "/v1/ws-tickets", token: access).status == .ok)

            let rotated = try await client.send(.post, "/v1/auth/refresh", json: #"{"refreshToken":"\#(first)"}"#)
            #expect(rotated.status == .ok)
            let second = try #require(rotated.json?["refreshToken"] as? String)
            #expect(second != first)
            let newAccess = try #require(rotated.json?["accessToken"] as? String)
            #expect(try await client.send(.post, "/v1/ws-tickets", token: newAccess).status == .ok)

            // The used token is refused, and presenting it revokes the family: the newest token dies too.
            let reuse = try await client.send(.post, "/v1/auth/refresh", json: #"{"refreshToken":"\#(first)"}"#)
            #expect(reuse.status == .unauthorized && reuse.errorCode == "unauthorized")
            let afterReuse = try await client.send(.post, "/v1/auth/refresh", json: #"{"refreshToken":"\#(second)"}"#)
            #expect(afterReuse.status == .unauthorized)

            // Another sign-in is its own family, untouched by that revocation; logout ends it.
            let (_, other) = try await client.login("asha@example.com", password: "long-enough")
            let logout = try await client.send(.post, "/v1/auth/logout", json: #"{"refreshToken":"\#(other)"}"#)
            #expect(logout.status == .noContent)
            let afterLogout = try await client.send(.post, "/v1/auth/refresh", json: #"{"refreshToken":"\#(other)"}"#)
            #expect(afterLogout.status == .unauthorized)
            let bogus = try await client.send(.post, "/v1/auth/refresh", json: #"{"refreshToken":"bogus"}"#)
            #expect(bogus.status == .unauthorized)
        }
    }

    @Test func craftedTokensAreCheckedForExpiryIssuerAudienceSignatureAndAlgorithm() async throws {
        let h = try HubHarness()
        defer { h.close() }
        let op = try await h.addUser("op@example.com", role: .operator)
        let now = Int(Date().timeIntervalSince1970)
        let good = Claims(sub: "\(op.id)", exp: now + 60)
        let key = Array(HubHarness.secret.utf8)
        try await h.run { client, _ in
            func status(_ token: String) async throws -> (Int, String) {
                let r = try await client.send(.get, "/v1/agents", token: token)
                return (r.status.code, r.text)
            }
            #expect(try await status(jwt(["alg": "HS256", "typ": "JWT"], good, key: key)).0 == 200)
            let expired = try await status(jwt(["alg": "HS256"], Claims(sub: "\(op.id)", exp: now - 5), key: key))
            #expect(expired.0 == 401 && expired.1.contains("expired"), "\(expired)")
            var wrongIssuer = good
            wrongIssuer.iss = "someone-else"
            #expect(try await status(jwt(["alg": "HS256"], wrongIssuer, key: key)).0 == 401)
            var wrongAudience = good
            wrongAudience.aud = "other"
            #expect(try await status(jwt(["alg": "HS256"], wrongAudience, key: key)).0 == 401)
            let forged = try jwt(["alg": "HS256"], good, key: Array("another-secret-another-secret-00".utf8))
            #expect(try await status(forged).0 == 401)
            let signed = try jwt(["alg": "HS256"], good, key: key)
            var tampered = signed.split(separator: ".").map(String.init)
            tampered[1] = AuthRandom.base64URL(Array(try JSONEncoder().encode(Claims(sub: "999", exp: now + 60))))
            #expect(try await status(tampered.joined(separator: ".")).0 == 401)
            // Algorithm pinning: none, HS384 with the right secret, and an RS256 header over an HS256 MAC.
            let noneToken = try jwt(["alg": "none"], good, key: nil)
            #expect(try await status(noneToken).0 == 401)
            #expect(try await status(noneToken).1.contains("algorithm"))
            #expect(try await status(jwt(["alg": "HS384"], good, key: key, sha384: true)).0 == 401)
            #expect(try await status(jwt(["alg": "RS256", "typ": "JWT"], good, key: key)).0 == 401)
            #expect(try await status("not.a.token").0 == 401)
        }
    }

    @Test func generatedSecretIsKeptInTheDatabaseAcrossRestarts() async throws {
        let first = try HubHarness(secretFile: false)
        defer { first.directory.remove() }
        try await first.addUser("op@example.com", role: .operator)
        nonisolated(unsafe) var token = ""
        try await first.run { client, _ in token = try await client.login("op@example.com").0 }
        first.store.close()
        let second = try HubHarness(secretFile: false, directory: first.directory)
        defer { second.store.close() }
        let captured = token
        try await second.run { client, _ in
            #expect(try await client.send(.get, "/v1/agents", token: captured).status == .ok)
            // Tokens signed with the file secret are not valid against the generated one.
            let now = Int(Date().timeIntervalSince1970)
            let other = try jwt(["alg": "HS256"], Claims(sub: "1", exp: now + 60), key: Array(HubHarness.secret.utf8))
            #expect(try await client.send(.get, "/v1/agents", token: other).status == .unauthorized)
        }
    }

    @Test func webSocketTicketsNeedASignedInUserAndRedeemOnce() async throws {
        let h = try HubHarness()
        defer { h.close() }
        try await h.addUser(
            "ag@example.com", role: .agent, agentID: try await h.store.createAgent(id: "a-1", name: nil).id)
        try await h.run { client, hub in
            #expect(try await client.send(.post, "/v1/ws-tickets").status == .unauthorized)
            let (access, _) = try await client.login("ag@example.com")
            let response = try await client.send(.post, "/v1/ws-tickets", token: access)
            #expect(response.status == .ok)
            #expect(response.json?["expiresIn"] as? Int == 30)
            let ticket = try #require(response.json?["ticket"] as? String)
            let identity = try #require(hub.auth.redeemTicket(ticket))
            #expect(identity.role == .agent && identity.agentID == "a-1")
            #expect(hub.auth.redeemTicket(ticket) == nil)
            #expect(hub.auth.redeemTicket("made-up") == nil)
        }
        let expiring = AuthTickets(lifetime: 0)
        guard case .issued(let ticket) = expiring.issue(for: Identity(userID: 1, role: .operator)) else {
            Issue.record("no ticket")
            return
        }
        #expect(expiring.redeem(ticket) == nil)
        let full = AuthTickets(lifetime: 30, capacity: 1)
        if case .issued = full.issue(for: Identity(userID: 1, role: .operator)) {} else { Issue.record("no ticket") }
        #expect(full.issue(for: Identity(userID: 2, role: .operator)) == .full)
    }

    /// One user cannot use up the pool: past `ws-tickets-per-user` unused tickets they get 429 with the time until
    /// their oldest lapses, while everyone else still gets tickets; a redeemed or lapsed ticket frees a place.
    @Test func webSocketTicketsAreCappedPerUser() async throws {
        let tickets = AuthTickets(lifetime: 30, capacity: 100, perUser: 3)
        let start = ContinuousClock.now
        let greedy = Identity(userID: 1, role: .customer)
        var issued: [String] = []
        for second in 0..<3 {
            guard case .issued(let t) = tickets.issue(for: greedy, now: start + .seconds(second)) else {
                Issue.record("ticket \(second) refused")
                return
            }
            issued.append(t)
        }
        #expect(tickets.issue(for: greedy, now: start + .seconds(10)) == .userLimit(retryAfter: 21))
        if case .issued = tickets.issue(for: Identity(userID: 2, role: .customer), now: start + .seconds(10)) {
        } else {
            Issue.record("another user was refused")
        }
        #expect(tickets.redeem(issued[1], now: start + .seconds(11)) == greedy)
        if case .issued = tickets.issue(for: greedy, now: start + .seconds(11)) {
        } else {
            Issue.record("no place freed")
        }
        #expect(tickets.issue(for: greedy, now: start + .seconds(12)) == .userLimit(retryAfter: 19))
        // The oldest lapsed (30 s after second 0): its place is free again.
        if case .issued = tickets.issue(for: greedy, now: start + .seconds(31)) {} else { Issue.record("lapsed kept") }

        let h = try HubHarness(["ws-tickets-per-user": "2"])
        defer { h.close() }
        try await h.addUser("greedy@example.com", role: .customer)
        try await h.addUser("other@example.com", role: .customer)
        try await h.run { client, hub in
            let greedy = try await client.login("greedy@example.com").0
            for _ in 0..<2 { #expect(try await client.send(.post, "/v1/ws-tickets", token: greedy).status == .ok) }
            let refused = try await client.send(.post, "/v1/ws-tickets", token: greedy)
            #expect(refused.status == .tooManyRequests && refused.errorCode == "rate_limited", "\(refused.text)")
            #expect(Int(refused.headers[.retryAfter] ?? "") ?? 0 >= 1)
            let other = try await client.login("other@example.com").0
            #expect(try await client.send(.post, "/v1/ws-tickets", token: other).status == .ok)
            #expect(hub.auth.tickets.outstanding == 3)
        }
    }
}

/// Access-token claims as a client could forge them.
struct Claims: Codable {
    var sub: String
    var exp: Int
    var iss = "dabba-hub"
    var aud = "dabba"
    var role = "operator"
}

/// A compact JWS with any header; `key` nil leaves the signature empty (`alg: none`).
func jwt(_ header: [String: String], _ claims: Claims, key: [UInt8]?, sha384: Bool = false) throws -> String {
    let input =
        AuthRandom.base64URL(Array(try JSONEncoder().encode(header))) + "."
        + AuthRandom.base64URL(Array(try JSONEncoder().encode(claims)))
    guard let key else { return input + "." }
    let symmetric = SymmetricKey(data: key)
    let mac =
        sha384
        ? Array(HMAC<SHA384>.authenticationCode(for: Array(input.utf8), using: symmetric))
        : Array(HMAC<SHA256>.authenticationCode(for: Array(input.utf8), using: symmetric))
    return input + "." + AuthRandom.base64URL(mac)
}

/// Account fields counted as `hub/openapi.yaml` counts them (code points as sent): what the document refuses is
/// refused, what it allows is not.
struct AuthValidationTests {
    @Test func namesAndPasswordsAreCountedInCodePoints() {
        // 60 flags: 60 characters to Swift, 120 code points to the document's maxLength 100.
        #expect(AuthValidation.nameProblem(String(repeating: "🇮🇳", count: 60)) != nil)
        #expect(AuthValidation.nameProblem(String(repeating: "🇮🇳", count: 50)) == nil)
        // Padding counts: 90 letters inside 20 spaces are 110 code points sent.
        #expect(
            AuthValidation.nameProblem(
                String(repeating: " ", count: 10) + String(repeating: "a", count: 90) + "          ") != nil)
        #expect(AuthValidation.nameProblem("   ") != nil)
        // 8 code points (4 accented letters written with combining marks) meet minLength 8; 7 do not.
        #expect(AuthValidation.passwordProblem(String(repeating: "e\u{301}", count: 4)) == nil)
        #expect(AuthValidation.passwordProblem("abcdefg") != nil)
        #expect(AuthValidation.passwordProblem(String(repeating: "a", count: 73)) != nil)
    }
}
