import HubModel
import Synchronization

/// Short-lived, single-use WebSocket tickets (browsers cannot send an `Authorization` header on upgrade): issued by
/// `POST /v1/ws-tickets` to a signed-in user, redeemed once by a WebSocket route. Kept in memory only.
///
/// Two bounds: `capacity` outstanding tickets in all, and `perUser` per user, so one account cannot use up the pool
/// every browser's feed draws on (it gets 429 with the time until its oldest ticket lapses; the pool stays open to
/// everyone else).
final class AuthTickets: Sendable {
    struct Entry {
        var identity: Identity
        var expires: ContinuousClock.Instant
    }
    private struct State {
        var entries: [String: Entry] = [:]
        /// Each user's outstanding tickets with their expiry, oldest first (at most `perUser`).
        var byUser: [Int64: [(ticket: String, expires: ContinuousClock.Instant)]] = [:]
    }

    /// What ``issue(for:)`` did.
    enum Issue: Equatable {
        case issued(String)
        /// The user holds `perUser` unexpired tickets; the oldest lapses in `retryAfter` seconds.
        case userLimit(retryAfter: Int)
        /// `capacity` tickets are outstanding.
        case full
    }

    /// Seconds a ticket stays valid.
    let lifetime: Int
    /// Outstanding tickets at most (expired ones are purged first; beyond it issuing fails).
    let capacity: Int
    /// Outstanding tickets per user at most.
    let perUser: Int
    private let state = Mutex(State())

    init(lifetime: Int = 30, capacity: Int = 100_000, perUser: Int = 20) {
        self.lifetime = lifetime
        self.capacity = capacity
        self.perUser = perUser
    }

    /// A new ticket for `identity`, unless the user or the pool is at its bound.
    func issue(for identity: Identity, now: ContinuousClock.Instant = .now) -> Issue {
        let ticket = AuthRandom.token(bytes: 24)
        return state.withLock { s -> Issue in
            var mine = (s.byUser[identity.userID] ?? []).filter { $0.expires > now }
            if mine.count >= perUser {
                s.byUser[identity.userID] = mine
                let wait = mine[0].expires - now
                return .userLimit(retryAfter: max(1, Int(wait.components.seconds) + 1))
            }
            if s.entries.count >= capacity {
                s.entries = s.entries.filter { $0.value.expires > now }
                s.byUser = s.byUser.compactMapValues { list in
                    let live = list.filter { $0.expires > now }
                    return live.isEmpty ? nil : live
                }
            }
            guard s.entries.count < capacity else { return .full }
            let expires = now + .seconds(lifetime)
            s.entries[ticket] = Entry(identity: identity, expires: expires)
            mine.append((ticket, expires))
            s.byUser[identity.userID] = mine
            return .issued(ticket)
        }
    }

    /// The identity of `ticket` if it is outstanding and unexpired; it can never be redeemed again.
    func redeem(_ ticket: String, now: ContinuousClock.Instant = .now) -> Identity? {
        let entry = state.withLock { s -> Entry? in
            guard let entry = s.entries.removeValue(forKey: ticket) else { return nil }
            let user = entry.identity.userID
            s.byUser[user]?.removeAll { $0.ticket == ticket }
            if s.byUser[user]?.isEmpty == true { s.byUser[user] = nil }
            return entry
        }
        guard let entry, entry.expires > now else { return nil }
        return entry.identity
    }

    var outstanding: Int { state.withLock { $0.entries.count } }
}
