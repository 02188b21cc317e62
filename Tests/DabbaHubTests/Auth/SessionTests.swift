import DabbaCore
import DabbaTestSupport
import Foundation
import HummingbirdTesting
import Logging
import Testing

@testable import DabbaHub

/// Sessions: operators disable users and revoke their tokens, users change their password, logout ends the access
/// token too, sign-ins have an absolute lifetime, and other hubs follow revocations within the cache's bound.
@Suite struct SessionTests {
    @Test func operatorsDisableEnableAndRevokeEveryTokenOfAUser() async throws {
        let h = try HubHarness()
        defer { h.close() }
        let op = try await h.addUser("op@example.com", role: .operator)
        let customer = try await h.addUser("c@example.com", role: .customer)
        try await h.run { client, _ in
            let boss = try await client.login("op@example.com").0
            let (first, firstRefresh) = try await client.login("c@example.com")
            let (second, _) = try await client.login("c@example.com")
            func orders(_ token: String) async throws -> TestResponse {
                try await client.send(.get, "/v1/orders", token: token)
            }
            #expect(try await orders(first).status == .ok)

            // Only operators; an unknown or malformed id; not oneself.
            #expect(try await client.send(.post, "/v1/users/\(customer.id)/disable", token: first).status == .forbidden)
            #expect(try await client.send(.post, "/v1/users/999999/disable", token: boss).status == .notFound)
            #expect(try await client.send(.post, "/v1/users/nobody/disable", token: boss).status == .badRequest)
            let own = try await client.send(.post, "/v1/users/\(op.id)/disable", token: boss)
            #expect(own.status == .conflict && own.errorCode == "conflict")

            let disabled = try await client.send(.post, "/v1/users/\(customer.id)/disable", token: boss)
            #expect(disabled.status == .ok && disabled.json?["disabled"] as? Bool == true, "\(disabled.text)")
            for token in [first, second] {
                let refused = try await orders(token)
                #expect(refused.status == .unauthorized && refused.text.contains("disabled"), "\(refused.text)")
            }
            let signIn = try await client.send(
                .post, "/v1/auth/login", json: #"{"email":"c@example.com","password":"password-1"}"#)
            #expect(signIn.status == .forbidden && signIn.text.contains("disabled"), "\(signIn.text)")
            let wrong = try await client.send(
                .post, "/v1/auth/login", json: #"{"email":"c@example.com","password":"wrong-password"}"#)
            #expect(wrong.status == .unauthorized, "a wrong password does not learn that the account is disabled")
            #expect(
                try await client.send(.post, "/v1/auth/refresh", json: #"{"refreshToken":"\#(firstRefresh)"}"#)
                    .status == .unauthorized)

            let enabled = try await client.send(.post, "/v1/users/\(customer.id)/enable", token: boss)
            #expect(enabled.status == .ok && enabled.json?["disabled"] as? Bool == false)
            #expect(try await orders(first).status == .unauthorized, "old tokens stay revoked")
            let (third, thirdRefresh) = try await client.login("c@example.com")
            #expect(try await orders(third).status == .ok)

            let revoked = try await client.send(.post, "/v1/users/\(customer.id)/revoke-tokens", token: boss)
            #expect(revoked.status == .noContent)
            let afterRevoke = try await orders(third)
            #expect(afterRevoke.status == .unauthorized && afterRevoke.text.contains("revoked"), "\(afterRevoke.text)")
            let refresh = try await client.send(
                .post, "/v1/auth/refresh", json: #"{"refreshToken":"\#(thirdRefresh)"}"#)
            #expect(refresh.status == .unauthorized && refresh.text.contains("ended"), "\(refresh.text)")
            #expect(try await orders(try await client.login("c@example.com").0).status == .ok)
            #expect(try await orders(boss).status == .ok, "the operator's own tokens are untouched")
        }
    }

    @Test func changingThePasswordEndsEverySignInAndStartsANewOne() async throws {
        let h = try HubHarness()
        defer { h.close() }
        try await h.addUser("c@example.com", role: .customer)
        try await h.run { client, _ in
            let (phone, phoneRefresh) = try await client.login("c@example.com")
            let (laptop, laptopRefresh) = try await client.login("c@example.com")
            func change(_ token: String, _ current: String, _ new: String) async throws -> TestResponse {
                try await client.send(
                    .post, "/v1/auth/password", token: token,
                    json: #"{"currentPassword":"\#(current)","newPassword":"\#(new)"}"#)
            }
            #expect(try await change(phone, "not-my-password", "brand-new-pw").status == .forbidden)
            #expect(try await change(phone, "password-1", "short").status == .unprocessableContent)
            #expect(try await client.send(.post, "/v1/auth/password", json: "{}").status == .unauthorized)
            let changed = try await change(phone, "password-1", "brand-new-pw")
            #expect(changed.status == .ok, "\(changed.text)")
            let fresh = try #require(changed.json?["accessToken"] as? String)
            #expect(try await client.send(.get, "/v1/orders", token: fresh).status == .ok)
            for token in [phone, laptop] {
                #expect(try await client.send(.get, "/v1/orders", token: token).status == .unauthorized)
            }
            for refresh in [phoneRefresh, laptopRefresh] {
                let refused = try await client.send(.post, "/v1/auth/refresh", json: #"{"refreshToken":"\#(refresh)"}"#)
                #expect(refused.status == .unauthorized)
            }
            let old = try await client.send(
                .post, "/v1/auth/login", json: #"{"email":"c@example.com","password":"password-1"}"#)
            #expect(old.status == .unauthorized)
            _ = try await client.login("c@example.com", password: "brand-new-pw")
        }
    }

    @Test func logoutEndsTheSignInsAccessTokenToo() async throws {
        let h = try HubHarness()
        defer { h.close() }
        try await h.addUser("c@example.com", role: .customer)
        try await h.run { client, _ in
            let (access, refresh) = try await client.login("c@example.com")
            let (other, _) = try await client.login("c@example.com")
            #expect(try await client.send(.get, "/v1/orders", token: access).status == .ok)
            #expect(
                try await client.send(.post, "/v1/auth/logout", json: #"{"refreshToken":"\#(refresh)"}"#).status
                    == .noContent)
            let refused = try await client.send(.get, "/v1/orders", token: access)
            #expect(refused.status == .unauthorized && refused.text.contains("sign-in has ended"), "\(refused.text)")
            #expect(try await client.send(.get, "/v1/orders", token: other).status == .ok, "other sign-ins live on")
            let again = try await client.send(.post, "/v1/auth/refresh", json: #"{"refreshToken":"\#(refresh)"}"#)
            #expect(again.status == .unauthorized && again.text.contains("ended"), "\(again.text)")
        }
    }

    /// The store's rule, on explicit times: a refresh never extends a sign-in past its absolute lifetime.
    @Test func aSignInEndsAtItsAbsoluteLifetimeHoweverOftenItIsRefreshed() async throws {
        let h = try HubHarness()
        defer { h.close() }
        let user = try await h.addUser("c@example.com", role: .customer)
        let store = h.store
        try await store.addRefreshToken(hash: "t0", userID: user.id, family: "f", expires: 1_000_000, now: 1_000)
        var rotation = try await store.rotateRefreshToken(
            hash: "t0", newHash: "t1", newExpires: 1_000_000, now: 2_000, maxLifetime: 3_000)
        #expect(rotation == .rotated(userID: user.id, family: "f"))
        // t1 expires at the family's end (1,000 + 3,000), not at the 1,000,000 asked for.
        rotation = try await store.rotateRefreshToken(
            hash: "t1", newHash: "t2", newExpires: 1_000_000, now: 3_999, maxLifetime: 3_000)
        #expect(rotation == .rotated(userID: user.id, family: "f"))
        rotation = try await store.rotateRefreshToken(
            hash: "t2", newHash: "t3", newExpires: 1_000_000, now: 4_000, maxLifetime: 3_000)
        #expect(rotation == .expired)

        // A token that would live on, in a sign-in older than the lifetime: the sign-in ends.
        try await store.addRefreshToken(hash: "u0", userID: user.id, family: "g", expires: 1_000_000, now: 1_000)
        rotation = try await store.rotateRefreshToken(
            hash: "u0", newHash: "u1", newExpires: 1_000_000, now: 5_000, maxLifetime: 3_000)
        #expect(rotation == .expired)
        #expect(try await store.sessionState(user: user.id, session: "g")?.sessionEnded == true)
        rotation = try await store.rotateRefreshToken(
            hash: "u0", newHash: "u2", newExpires: 1_000_000, now: 5_000, maxLifetime: 1_000_000)
        #expect(rotation == .revoked)
        #expect(try await store.sessionState(user: user.id, session: "nope")?.sessionEnded == true)
        #expect(try await store.sessionState(user: 999_999, session: nil) == nil)

        // The hub passes its configured lifetime.
        let configured = try HubConfiguration.make(["refresh-token-max-lifetime": "3600"])
        let auth = try await AuthService.make(configuration: configured, users: store, bcryptCost: 4)
        #expect(auth.refreshMaxLifetime == 3_600_000)
    }

    /// Two hubs on one database: a revocation through one is refused by the other at once with no cache, and
    /// within its cache's bound otherwise.
    @Test func anotherHubFollowsARevocationWithinItsCacheBound() async throws {
        let h = try HubHarness()
        defer { h.close() }
        let customer = try await h.addUser("c@example.com", role: .customer)
        let hubs = try await [0, 1].asyncMap { seconds in
            let configuration = try HubConfiguration.make(
                [
                    "database": h.configuration.database, "jwt-secret-file": h.directory.path("jwt.secret"),
                    "revocation-cache-seconds": "\(seconds)",
                ])
            return try await AuthService.make(configuration: configuration, users: h.store, bcryptCost: 4)
        }
        let signedIn = try await hubs[0].login(email: "c@example.com", password: "password-1")
        for hub in hubs { #expect(try await hub.authenticate(accessToken: signedIn.accessToken).userID == customer.id) }
        #expect(try await hubs[0].revokeTokens(user: customer.id))
        await #expect(throws: APIError.self) { try await hubs[0].authenticate(accessToken: signedIn.accessToken) }
        // The second hub read the state within the last second: it refuses the token once that second is over.
        let refused = await eventually(timeout: .seconds(1) + TestDeadline.generous, interval: .milliseconds(50)) {
            (try? await hubs[1].authenticate(accessToken: signedIn.accessToken)) == nil
        }
        #expect(refused)
    }

    @Test func theCommandLineDisablesEnablesAndRevokes() async throws {
        let h = try HubHarness()
        defer { h.close() }
        try await h.addUser("c@example.com", role: .customer)
        let base = ["--config", "/dev/null", "--database", h.configuration.database]
        let binary = try BuiltProducts.path(of: "dabba-hub")
        for (command, disabled) in [("disable", true), ("enable", false), ("revoke-tokens", false)] {
            let before = try #require(try await h.store.user(email: "c@example.com"))
            let (status, output) = try await offPool {
                try await runToCompletion(binary, ["users", command] + base + ["--email", "C@example.com"])
            }
            #expect(status == 0 && output.contains("c@example.com"), "\(command): \(output)")
            let after = try #require(try await h.store.user(email: "c@example.com"))
            #expect(after.disabled == disabled && after.tokenEpoch == before.tokenEpoch + 1, "\(command)")
        }
        let (status, output) = try await offPool {
            try await runToCompletion(binary, ["users", "disable"] + base + ["--email", "nobody@example.com"])
        }
        #expect(status == 1 && output.contains("no user"), "\(output)")
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
