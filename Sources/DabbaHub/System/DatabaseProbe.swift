import DabbaCore
import Synchronization

/// The database half of `GET /health`: a query that must answer within `limit`.
///
/// A database that is down does not always fail fast: PostgreSQL's connection pool keeps a query waiting while it
/// tries to reconnect, so a plain query would hold the probe (and the load balancer behind it) until the server is
/// back. The probe answers "not ok" once `limit` has passed; the query goes on in its own task, and while one is
/// still waiting no other is started (probes during a long outage do not pile up queries).
final class DatabaseProbe: Sendable {
    /// How long `/health` waits for the database.
    static let defaultLimit: Duration = .seconds(2)

    private struct State {
        var pending: Task<Bool, Never>?
        var generation = 0
    }

    private let query: @Sendable () async -> Bool
    private let limit: Duration
    private let state = Mutex(State())

    /// `query` returns true when the database answered.
    init(limit: Duration = DatabaseProbe.defaultLimit, query: @escaping @Sendable () async -> Bool) {
        self.limit = limit
        self.query = query
    }

    /// True when the database answered within the limit (the pending query's answer, when one is still running).
    func answers() async -> Bool {
        let pending = state.withLock { state -> Task<Bool, Never> in
            if let pending = state.pending { return pending }
            state.generation += 1
            let generation = state.generation
            let task = Task { [query, weak self] in
                let answered = await query()
                self?.state.withLock { if $0.generation == generation { $0.pending = nil } }
                return answered
            }
            state.pending = task
            return task
        }
        return await firstAnswer(within: limit) { await pending.value } ?? false
    }
}
