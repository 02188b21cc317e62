import HubModel
import Synchronization

/// Whether an access token still holds beyond its signature and expiry: its user exists and is not disabled, the
/// user's revocation epoch is the one the token was issued under, and its sign-in (refresh family) was not ended.
///
/// Every request asks, so the answer comes from a small cache: the state of one (user, sign-in) is read from the
/// store at most once per `ttl` (`revocation-cache-seconds`). Changes made through this hub drop the cached state at
/// once (``forget(user:)``, ``forget(user:session:)``), so they hold here immediately; other hubs sharing the database
/// see them within `ttl`. The cache keeps at most ``capacity`` entries (expired ones are dropped first, all of them
/// when that is not enough: a miss only costs a read).
final class AuthRevocations: Sendable {
    struct Key: Hashable {
        var user: Int64
        var session: String?
    }
    private struct Entry {
        /// nil: no such user.
        var state: SessionState?
        var read: ContinuousClock.Instant
    }

    static let capacity = 100_000
    let users: any UserRepository
    let ttl: Duration
    private let entries = Mutex<[Key: Entry]>([:])

    init(users: any UserRepository, ttl: Duration) {
        self.users = users
        self.ttl = ttl
    }

    /// Why `credential` no longer holds for `user` (a sentence for the 401 or the close frame), or nil while it does.
    func reason(user: Int64, _ credential: Identity.Credential) async throws(StoreError) -> String? {
        let key = Key(user: user, session: credential.session)
        let now = ContinuousClock.now
        let state: SessionState?
        if let cached = entries.withLock({ $0[key] }), now - cached.read < ttl {
            state = cached.state
        } else {
            state = try await users.sessionState(user: user, session: credential.session)
            entries.withLock { map in
                if map.count >= Self.capacity {
                    map = map.filter { now - $0.value.read < ttl }
                    if map.count >= Self.capacity / 2 { map.removeAll() }
                }
                map[key] = Entry(state: state, read: now)
            }
        }
        guard let state else { return "this account no longer exists" }
        if state.disabled { return "this account is disabled" }
        if credential.epoch < state.tokenEpoch { return "access token revoked" }
        if state.sessionEnded { return "this sign-in has ended (signed out or revoked)" }
        return nil
    }

    /// Drops what is cached about `user` (after their tokens were revoked or their account changed).
    func forget(user: Int64) { entries.withLock { map in map = map.filter { $0.key.user != user } } }

    /// Drops what is cached about one sign-in of `user` (after a logout).
    func forget(user: Int64, session: String) {
        _ = entries.withLock { $0.removeValue(forKey: Key(user: user, session: session)) }
    }
}
