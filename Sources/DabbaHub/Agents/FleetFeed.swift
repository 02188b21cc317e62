import DabbaProtocol
import HubModel
import Synchronization

/// Live fan-out of positions and agent states to WebSocket clients (operators' `/v1/fleet/live`, later customers').
///
/// Publishing never waits for a client: each subscriber keeps only the newest update per agent (coalesced) until
/// its writer takes them, so a slow client sees the latest position of every agent and never slows ingest; a
/// subscriber that falls further behind than `maxPending` agents is cut off.
package final class FleetFeed: Sendable {
    /// One update on the feed.
    package enum Update: Sendable, Equatable {
        case position(StoredPosition)
        case state(AgentState)

        package var agent: String {
            switch self {
            case .position(let p): p.agent
            case .state(let s): s.agent
            }
        }
    }

    private let subscribers = Mutex<[Int: FleetSubscription]>([:])
    /// Watchers of one agent only (customers' order feeds), by agent: called on the publisher's thread.
    private let agentWatchers = Mutex<[String: [Int: @Sendable (Update) -> Void]]>([:])
    private let nextID = Atomic<Int>(1)
    /// The newest position per agent (by fix time), for snapshots and to drop regressing late fixes.
    private let latest = Mutex<[String: StoredPosition]>([:])
    /// The newest state per agent, with when it was received (see ``publish(state:at:)``).
    private let states = Mutex<[String: (state: AgentState, at: Int64)]>([:])

    package init() {}

    /// Publishes a position if it is newer (by fix time) than the last one seen for its agent; returns whether it
    /// was newer.
    @discardableResult
    package func publish(position: StoredPosition) -> Bool {
        let newer = latest.withLock { map in
            if let old = map[position.agent], (old.time, old.seq) >= (position.time, position.seq) { return false }
            map[position.agent] = position
            return true
        }
        if newer { broadcast(.position(position)) }
        return newer
    }

    /// Publishes an agent's state received at `at` (Unix ms, the clock of the hub that received it) unless a state
    /// received later was already published for that agent (with several hubs, another hub's state can arrive after
    /// a newer one); returns whether it was published. States received at the same millisecond both pass, in
    /// arrival order.
    @discardableResult
    package func publish(state: AgentState, at: Int64) -> Bool {
        let newer = states.withLock { map in
            if let old = map[state.agent], old.at > at { return false }
            map[state.agent] = (state, at)
            return true
        }
        if newer { broadcast(.state(state)) }
        return newer
    }

    /// Seeds the newest known positions and states (at start, from the store) without broadcasting.
    package func seed(_ positions: [StoredPosition], states seeded: [AgentState] = []) {
        latest.withLock { map in for p in positions { map[p.agent] = p } }
        states.withLock { map in for s in seeded { map[s.agent] = (s, 0) } }
    }

    /// Agents whose latest state says online.
    package var onlineCount: Int { states.withLock { $0.values.count(where: \.state.online) } }

    /// The current picture: newest position and state of every agent.
    package func snapshot() -> (positions: [StoredPosition], states: [AgentState]) {
        (latest.withLock { Array($0.values) }, states.withLock { $0.values.map(\.state) })
    }

    /// A new subscription; call `cancel()` on it when the client goes.
    package func subscribe(maxPending: Int = 10_000) -> FleetSubscription {
        let id = nextID.add(1, ordering: .relaxed).oldValue
        let subscription = FleetSubscription(id: id, maxPending: maxPending) { [weak self] id in
            _ = self?.subscribers.withLock { $0.removeValue(forKey: id) }
        }
        subscribers.withLock { $0[id] = subscription }
        return subscription
    }

    /// Calls `deliver` with each update of `agent` published from now on, on the publishing thread (it must not
    /// block: the caller coalesces), until the watch is cancelled.
    package func watch(agent: String, _ deliver: @escaping @Sendable (Update) -> Void) -> Watch {
        let id = nextID.add(1, ordering: .relaxed).oldValue
        agentWatchers.withLock { $0[agent, default: [:]][id] = deliver }
        return Watch(agent: agent) { [weak self] in
            self?.agentWatchers.withLock { map in
                map[agent]?.removeValue(forKey: id)
                if map[agent]?.isEmpty == true { map.removeValue(forKey: agent) }
            }
        }
    }

    /// One agent's watch; ``cancel()`` ends it (idempotent).
    package struct Watch: Sendable {
        package let agent: String
        let onCancel: @Sendable () -> Void

        package func cancel() { onCancel() }
    }

    /// The newest known position of `agent`.
    package func latestPosition(agent: String) -> StoredPosition? { latest.withLock { $0[agent] } }

    /// Subscriptions to the whole fleet.
    package var subscriberCount: Int { subscribers.withLock { $0.count } }

    private func broadcast(_ update: Update) {
        for subscription in subscribers.withLock({ Array($0.values) }) { subscription.offer(update) }
        let agent = update.agent
        if let watchers = agentWatchers.withLock({ $0[agent].map { Array($0.values) } }) {
            for deliver in watchers { deliver(update) }
        }
    }
}

/// One client's view of the feed: pending updates coalesced per agent and kind, in arrival order.
package final class FleetSubscription: Sendable {
    struct Pending {
        var order: [String] = []
        var positions: [String: StoredPosition] = [:]
        var states: [String: AgentState] = [:]
        var waiter: CheckedContinuation<Void, Never>?
        var closed = false
        var overflowed = false
    }

    package let id: Int
    let maxPending: Int
    private let pending = Mutex(Pending())
    private let onCancel: @Sendable (Int) -> Void

    init(id: Int, maxPending: Int, onCancel: @escaping @Sendable (Int) -> Void) {
        self.id = id
        self.maxPending = maxPending
        self.onCancel = onCancel
    }

    func offer(_ update: FleetFeed.Update) {
        let waiter = pending.withLock { p -> CheckedContinuation<Void, Never>? in
            guard !p.closed else { return nil }
            let key = update.agent
            if p.positions[key] == nil && p.states[key] == nil { p.order.append(key) }
            switch update {
            case .position(let position): p.positions[key] = position
            case .state(let state): p.states[key] = state
            }
            if p.order.count > maxPending {
                p.closed = true
                p.overflowed = true
            }
            let w = p.waiter
            p.waiter = nil
            return w
        }
        waiter?.resume()
    }

    /// Waits for updates and takes all pending ones (state before position per agent, agents in the order they
    /// first changed). Returns nil when the subscription was cancelled or overflowed.
    package func next() async -> [FleetFeed.Update]? {
        while true {
            let taken: [FleetFeed.Update]?? = pending.withLock { p in
                if p.closed { return .some(nil) }
                guard !p.order.isEmpty else { return nil }
                var updates: [FleetFeed.Update] = []
                for agent in p.order {
                    if let s = p.states[agent] { updates.append(.state(s)) }
                    if let pos = p.positions[agent] { updates.append(.position(pos)) }
                }
                p.order.removeAll(keepingCapacity: true)
                p.positions.removeAll(keepingCapacity: true)
                p.states.removeAll(keepingCapacity: true)
                return .some(updates)
            }
            if let taken { return taken }
            await withTaskCancellationHandler {
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let resumeNow = pending.withLock { p -> Bool in
                        if p.closed || !p.order.isEmpty { return true }
                        p.waiter = c
                        return false
                    }
                    if resumeNow { c.resume() }
                }
            } onCancel: {
                self.cancel()
            }
        }
    }

    /// True when the client fell too far behind and was cut off.
    package var overflowed: Bool { pending.withLock { $0.overflowed } }

    /// Ends the subscription (idempotent).
    package func cancel() {
        let waiter = pending.withLock { p -> CheckedContinuation<Void, Never>? in
            p.closed = true
            let w = p.waiter
            p.waiter = nil
            return w
        }
        waiter?.resume()
        onCancel(id)
    }
}
