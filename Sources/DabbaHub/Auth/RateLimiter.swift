import DabbaCore
import Synchronization

/// A rate: `count` requests per `period`, written `N/SECONDS` in the configuration (`10/600`: ten per ten minutes).
package struct Rate: Sendable, Equatable, CustomStringConvertible {
    package var count: Int
    package var period: Duration

    package init(count: Int, period: Duration) {
        self.count = count
        self.period = period
    }

    /// `N/SECONDS` with 1 ≤ N ≤ 1,000,000 and 1 ≤ SECONDS ≤ 86,400; nil otherwise.
    package init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let count = Int(String(parts[0]).trimmingSpaces),
            let seconds = Int(String(parts[1]).trimmingSpaces),
            (1...1_000_000).contains(count), (1...86_400).contains(seconds)
        else { return nil }
        self.init(count: count, period: .seconds(seconds))
    }

    package var description: String { "\(count)/\(period.components.seconds)" }
}

/// A token bucket per key (an account, a client address): holds up to `rate.count` requests and refills at
/// `rate.count` per `rate.period`, so a burst of `count` passes and then one request per `period / count`. Kept in
/// memory, per hub: with several hubs a client may get up to one allowance per hub it reaches.
///
/// Memory is bounded: at most ``capacity`` keys; when full, keys whose bucket is full again (idle long enough) are
/// dropped, and all of them if that is not enough (a flood of distinct keys resets the limits rather than refusing
/// everyone). The clock is injected (tests move it).
final class RateLimiter: Sendable {
    let rate: Rate
    let capacity: Int
    private let now: @Sendable () -> ContinuousClock.Instant
    /// Per key: the time at which its bucket is full again (GCRA's "theoretical arrival time").
    private let full = Mutex<[String: ContinuousClock.Instant]>([:])

    init(rate: Rate, capacity: Int = 100_000, now: @escaping @Sendable () -> ContinuousClock.Instant) {
        self.rate = rate
        self.capacity = capacity
        self.now = now
    }

    /// Takes one request from `key`'s bucket: nil when it had one, else the seconds until it will (at least 1).
    func take(_ key: String) -> Int? {
        let now = now()
        let interval = rate.period / rate.count
        let burst = rate.period
        return full.withLock { map -> Int? in
            let start = max(map[key] ?? now, now)
            let next = start + interval
            // The bucket holds `count` requests: refused when taking one would push "full again" beyond a period.
            if next - now > burst {
                let wait = next - now - burst
                return max(1, Int(wait.components.seconds) + (wait.components.attoseconds > 0 ? 1 : 0))
            }
            if map[key] == nil && map.count >= capacity {
                map = map.filter { $0.value > now }
                if map.count >= capacity { map.removeAll() }
            }
            map[key] = next
            return nil
        }
    }

    var keys: Int { full.withLock { $0.count } }
}

/// The abuse limits of the auth routes (README, Abuse limits): per account and per client address for login,
/// register, refresh, WebSocket tickets and password changes. A refused request is 429 with `Retry-After` and
/// counted in `dabba_rate_limited_total{action, scope}`.
package final class AuthRateLimits: Sendable {
    package enum Action: String, Sendable, CaseIterable {
        case login, register, refresh, ticket
    }
    package enum Scope: String, Sendable {
        case account, address
    }

    private let limiters: [String: RateLimiter]
    private let metrics: HubMetrics

    /// The limits `configuration` sets (`rate-limit-{login,register,refresh,ticket}-{account,address}`), on `clock`.
    package init(
        configuration: HubConfiguration, metrics: HubMetrics,
        clock: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        var limiters: [String: RateLimiter] = [:]
        for limit in configuration.rateLimits {
            limiters[Self.name(limit.action, .account)] = RateLimiter(rate: limit.account, now: clock)
            limiters[Self.name(limit.action, .address)] = RateLimiter(rate: limit.address, now: clock)
        }
        self.limiters = limiters
        self.metrics = metrics
    }

    static func name(_ action: Action, _ scope: Scope) -> String { action.rawValue + "/" + scope.rawValue }

    /// Takes one request of `action` from the client address's bucket and then the account's (each when given):
    /// 429 naming the first one that is empty.
    func check(_ action: Action, address: String?, account: String?) throws(APIError) {
        if let address { try take(action, .address, address) }
        if let account { try take(action, .account, account) }
    }

    private func take(_ action: Action, _ scope: Scope, _ key: String) throws(APIError) {
        guard let limiter = limiters[Self.name(action, scope)], let wait = limiter.take(key) else { return }
        metrics.rateLimited(action: action.rawValue, scope: scope.rawValue).increment()
        throw .tooManyRequests(
            "too many \(action.rawValue) requests from this \(scope == .account ? "account" : "address"); retry in \(wait) s",
            retryAfter: wait)
    }
}
