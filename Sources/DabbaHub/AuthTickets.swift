import Synchronization

/// Short-lived, single-use WebSocket tickets (browsers cannot send an `Authorization` header on upgrade): issued by
/// `POST /v1/ws-tickets` to a signed-in user, redeemed once by a WebSocket route. Kept in memory only.
final class AuthTickets: Sendable {
    struct Entry {
        var identity: Identity
        var expires: ContinuousClock.Instant
    }

    /// Seconds a ticket stays valid.
    let lifetime: Int
    /// Outstanding tickets at most (expired ones are purged first; beyond it issuing fails).
    let capacity: Int
    private let entries = Mutex<[String: Entry]>([:])

    init(lifetime: Int = 30, capacity: Int = 100_000) {
        self.lifetime = lifetime
        self.capacity = capacity
    }

    /// A new ticket for `identity`; nil when `capacity` tickets are outstanding.
    func issue(for identity: Identity) -> String? {
        let ticket = AuthRandom.token(bytes: 24)
        let now = ContinuousClock.now
        return entries.withLock { map -> String? in
            if map.count >= capacity { map = map.filter { $0.value.expires > now } }
            guard map.count < capacity else { return nil }
            map[ticket] = Entry(identity: identity, expires: now + .seconds(lifetime))
            return ticket
        }
    }

    /// The identity of `ticket` if it is outstanding and unexpired; it can never be redeemed again.
    func redeem(_ ticket: String) -> Identity? {
        let now = ContinuousClock.now
        guard let entry = entries.withLock({ $0.removeValue(forKey: ticket) }), entry.expires > now else { return nil }
        return entry.identity
    }

    var outstanding: Int { entries.withLock { $0.count } }
}
