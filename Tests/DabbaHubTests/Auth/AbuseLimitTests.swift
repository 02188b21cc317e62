import DabbaTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Synchronization
import Testing

@testable import DabbaHub

/// A monotonic clock the test moves (the rate limits' injected clock).
final class ManualInstantClock: Sendable {
    private let instant = Mutex(ContinuousClock.now)
    var now: ContinuousClock.Instant { instant.withLock { $0 } }
    func advance(_ duration: Duration) { instant.withLock { $0 += duration } }
}

/// Per-account and per-address limits on login, register, refresh and tickets: 429 with `Retry-After`, counted,
/// on an injected clock.
@Suite struct AbuseLimitTests {
    @Test func aBucketLetsABurstThroughThenOneRequestPerInterval() {
        let clock = ManualInstantClock()
        let limiter = RateLimiter(rate: Rate(count: 3, period: .seconds(60)), now: { clock.now })
        #expect((0..<3).map { _ in limiter.take("k") } == [Int?](repeating: nil, count: 3))
        #expect(limiter.take("k") == 20)
        #expect(limiter.take("other") == nil)
        clock.advance(.seconds(19))
        #expect(limiter.take("k") == 1)
        clock.advance(.seconds(1))
        #expect(limiter.take("k") == nil)
        #expect(limiter.take("k") == 20)
        clock.advance(.seconds(600))
        #expect((0..<3).map { _ in limiter.take("k") } == [Int?](repeating: nil, count: 3))

        // Bounded: a flood of distinct keys drops idle ones first, and never grows past the capacity.
        let small = RateLimiter(rate: Rate(count: 1, period: .seconds(1)), capacity: 100, now: { clock.now })
        for i in 0..<1_000 { _ = small.take("k\(i)") }
        #expect(small.keys <= 100)
    }

    @Test func ratesParseAsCountPerSeconds() {
        #expect(Rate("10/300") == Rate(count: 10, period: .seconds(300)))
        #expect(Rate(" 5 / 60 ") == Rate(count: 5, period: .seconds(60)))
        for bad in ["", "10", "0/60", "5/0", "5/86401", "-1/5", "x/5", "1/2/3", "9223372036854775807/1"] {
            #expect(Rate(bad) == nil, "\(bad)")
        }
    }

    @Test func theClientAddressIsThePeerUnlessATrustedProxyForwardedIt() throws {
        func key(_ peer: String, _ forwarded: String?, trusted: [String] = []) throws -> String {
            var fields = HTTPFields()
            if let forwarded { fields[ClientAddress.forwardedFor] = forwarded }
            let request = Request(
                head: HTTPRequest(method: .get, scheme: "http", authority: "hub", path: "/", headerFields: fields),
                body: .init(buffer: ByteBuffer()))
            return ClientAddress.key(
                request, peer: try SocketAddress(ipAddress: peer, port: 1), trusted: trusted.compactMap(IPNetwork.init))
        }
        #expect(try key("203.0.113.7", nil) == "203.0.113.7")
        // Untrusted peers cannot choose their key with the header.
        #expect(try key("203.0.113.7", "198.51.100.1") == "203.0.113.7")
        // Behind a trusted proxy: the nearest untrusted hop, whatever the client put in front.
        #expect(try key("10.0.0.5", "198.51.100.1", trusted: ["10.0.0.0/8"]) == "198.51.100.1")
        #expect(try key("10.0.0.5", "1.2.3.4, 198.51.100.1, 10.0.0.9", trusted: ["10.0.0.0/8"]) == "198.51.100.1")
        #expect(try key("10.0.0.5", nil, trusted: ["10.0.0.0/8"]) == "10.0.0.5")
        // IPv6 clients count by their /64; IPv4-mapped addresses are IPv4.
        #expect(try key("2001:db8:1:2:3:4:5:6", nil) == "2001:db8:1:2::/64")
        #expect(try key("::ffff:198.51.100.9", nil) == "198.51.100.9")
        #expect(
            ClientAddress.key(
                Request(
                    head: HTTPRequest(method: .get, scheme: "http", authority: "hub", path: "/"),
                    body: .init(buffer: ByteBuffer())),
                peer: nil, trusted: []) == "unknown")
    }

    @Test func loginRegisterRefreshAndTicketsAnswer429WithRetryAfterAndAreCounted() async throws {
        let h = try HubHarness([
            "rate-limit-login-account": "3/60", "rate-limit-login-address": "5/60",
            "rate-limit-register-address": "2/3600", "rate-limit-refresh-account": "2/60",
            "rate-limit-ticket-account": "2/60",
        ])
        defer { h.close() }
        try await h.addUser("a@example.com", role: .customer)
        try await h.addUser("b@example.com", role: .customer)
        let clock = ManualInstantClock()
        try await h.run(configure: {
            $0.rateLimits = AuthRateLimits(configuration: h.configuration, metrics: $0.metrics, clock: { clock.now })
        }) { client, _ in
            func login(_ email: String, _ password: String = "password-1") async throws -> TestResponse {
                try await client.send(
                    .post, "/v1/auth/login", json: #"{"email":"\#(email)","password":"\#(password)"}"#)
            }
            for _ in 0..<3 { #expect(try await login("a@example.com", "wrong-password").status == .unauthorized) }
            // The account's bucket is empty: even the right password waits (the email's case does not matter).
            let limited = try await login("A@Example.com")
            #expect(limited.status == .tooManyRequests && limited.errorCode == "rate_limited", "\(limited.text)")
            #expect(limited.headers[.retryAfter] == "20")
            #expect(try await login("b@example.com").status == .ok)
            // Five from this address so far: the address's bucket is empty too.
            let address = try await login("b@example.com")
            #expect(address.status == .tooManyRequests && address.text.contains("address"), "\(address.text)")
            clock.advance(.seconds(20))
            #expect(try await login("a@example.com").status == .ok)

            let registrations = (0..<3).map { n in
                #"{"email":"new\#(n)@example.com","password":"password-1","name":"N"}"#
            }
            for body in registrations.prefix(2) {
                #expect(try await client.send(.post, "/v1/auth/register", json: body).status == .created)
            }
            let thirdRegistration = try await client.send(.post, "/v1/auth/register", json: registrations[2])
            #expect(thirdRegistration.status == .tooManyRequests && thirdRegistration.headers[.retryAfter] == "1800")

            clock.advance(.seconds(60))
            var (access, refresh) = try await client.login("b@example.com")
            for _ in 0..<2 {
                let rotated = try await client.send(.post, "/v1/auth/refresh", json: #"{"refreshToken":"\#(refresh)"}"#)
                #expect(rotated.status == .ok)
                refresh = rotated.json?["refreshToken"] as? String ?? ""
                access = rotated.json?["accessToken"] as? String ?? ""
            }
            let thirdRefresh = try await client.send(
                .post, "/v1/auth/refresh", json: #"{"refreshToken":"\#(refresh)"}"#)
            #expect(thirdRefresh.status == .tooManyRequests && thirdRefresh.headers[.retryAfter] == "30")
            // Refused before the rotation: the token still works once the bucket refilled.
            clock.advance(.seconds(30))
            #expect(
                try await client.send(.post, "/v1/auth/refresh", json: #"{"refreshToken":"\#(refresh)"}"#).status == .ok
            )

            for _ in 0..<2 { #expect(try await client.send(.post, "/v1/ws-tickets", token: access).status == .ok) }
            let ticket = try await client.send(.post, "/v1/ws-tickets", token: access)
            #expect(ticket.status == .tooManyRequests && ticket.headers[.retryAfter] == "30")

            let metrics = try await client.send(.get, "/metrics").text
            for (action, scope, count) in [
                ("login", "account", 1), ("login", "address", 1), ("register", "address", 1), ("refresh", "account", 1),
                ("ticket", "account", 1),
            ] {
                let line = #"dabba_rate_limited_total{action="\#(action)",scope="\#(scope)"} \#(count)"#
                #expect(metrics.contains(line), "\(line) in \(metrics)")
            }
        }
    }
}
