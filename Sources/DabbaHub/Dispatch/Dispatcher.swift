import DabbaCore
import DabbaDispatch
import DabbaMQTT
import DabbaProtocol
import HubModel
import Logging

/// Dispatch settings from the hub's configuration.
package struct DispatchConfiguration: Sendable {
    package var policy: String
    /// How often a round runs without a wake-up (batch rounds).
    package var interval: Duration
    /// How long an agent has to accept an offer.
    package var offerTimeout: Duration
    /// An agent is available only with a fix at most this old.
    package var fixMaxAge: Duration
    /// How long an agent may be offline before its offers and not-yet-picked-up orders go back to dispatch.
    package var offlineGrace: Duration
    /// Orders an agent may carry and hold on offer at once (more than 1 stacks orders from one restaurant).
    package var capacity: Int
    /// A cash-on-delivery order is not offered to, accepted by or assigned to an agent whose cash exposure would
    /// then exceed this (minor units; ``AssignmentLimits``).
    package var codCashLimit: Int64
    /// An order waiting this long for an agent raises one operator alert (`dispatch_wait`); nil: never.
    package var waitAlert: Duration?

    package init(configuration: HubConfiguration) {
        policy = configuration.dispatchPolicy
        interval = configuration.dispatchInterval
        offerTimeout = configuration.offerTimeout
        fixMaxAge = configuration.dispatchFixMaxAge
        offlineGrace = configuration.dispatchOfflineGrace
        capacity = configuration.agentCapacity
        codCashLimit = configuration.codCashLimit
        waitAlert = configuration.dispatchWaitAlert
    }
}

/// What dispatch reads and writes: orders (through ``OrderStore``, as ``OrderService`` does) and dispatch's own
/// state — shifts, offers, decisions, device events, alerts, loads and cash exposure.
package typealias DispatchStore = OrderStore & DispatchRepository

/// Who delivers which order. Rounds run one at a time (see `round()`); each decision that must hold against a
/// concurrent one (an accept racing a lapse, two rounds offering, an operator assigning) is one transaction in the
/// store that checks ``AssignmentLimits`` before it writes. Offers are made to available agents (on shift, online, a
/// fresh fix, fewer orders carried and offered than the capacity), accepted or rejected by the agent (device event
/// or REST) before their deadline, lapse at it, and each decision is recorded with the candidates' costs (a refused
/// offer with its reason). Offers and assignments are delivered at least once (`Dispatcher+Delivery.swift`); a
/// lapse excludes the agent only when the offer was delivered (``Offer/lapseExcludes``). An agent going offline
/// before pickup gives its orders back; after pickup an operator alert is raised; an order waiting longer than
/// `dispatch-wait-alert` too. Its device's late events follow ``DeviceAction``'s rule.
package actor Dispatcher<Store: DispatchStore> {
    let store: Store
    let orders: OrderService<Store>
    let policy: any DispatchPolicy
    let settings: DispatchConfiguration
    let metrics: HubMetrics
    let logger: Logger
    let now: @Sendable () -> Int64
    /// With several hubs: rounds run only while this hub holds it (nil: one hub, always).
    let lease: DispatchLease?
    /// The checks every assignment path makes in its transaction.
    var limits: AssignmentLimits { AssignmentLimits(capacity: settings.capacity, codCashLimit: settings.codCashLimit) }
    /// The last round asked for: each round waits for the one before it (see `round()`).
    private var lastRound: Task<Void, Never>?
    /// How long the last round's steps took (also on `/metrics` as `dabba_dispatch_round_seconds`).
    package private(set) var lastRoundTimings = DispatchRoundTimings()

    /// `now` is the clock rounds read (offers' deadlines, lapses, offline grace, fix age): Unix milliseconds.
    package init(
        store: Store, orders: OrderService<Store>, settings: DispatchConfiguration, metrics: HubMetrics, logger: Logger,
        lease: DispatchLease? = nil, now: @escaping @Sendable () -> Int64 = { wallClockMilliseconds() }
    ) throws(ConfigError) {
        guard let policy = DispatchPolicies.make(settings.policy, settings: DispatchSettings()) else {
            throw ConfigError(key: "dispatch-policy", message: "dispatch-policy: unknown policy \(settings.policy)")
        }
        self.store = store
        self.orders = orders
        self.policy = policy
        self.settings = settings
        self.metrics = metrics
        self.logger = logger
        self.now = now
        self.lease = lease
    }

    /// One round: apply device events, expire and withdraw offers, handle agents gone offline, offer waiting orders.
    ///
    /// Rounds run one after another, never overlapping: the actor alone would not ensure it, since a round suspends
    /// at every store call and another caller (the service's tick, a shift change, a REST action) could start a
    /// second round that decides from the same reads. (Rounds on other hubs may still overlap; the store's
    /// conditional `createOffer` keeps their offers valid.) With several hubs, a hub that does not hold the
    /// ``DispatchLease`` skips the round: the holder runs it (at its next tick, or at once for an order event, which
    /// every hub receives). Returns when this call's round is done.
    package func round() async {
        await serialized { await $0.runRound() }
    }

    /// A shift change over REST (`POST /v1/agents/{id}/shift`): stored now, then a round, so an agent who starts
    /// is offered waiting orders at once and one who ends is offered nothing more.
    package func setShift(agent: String, onShift: Bool) async throws(StoreError) {
        try await store.setShift(agent: agent, onShift: onShift)
        await round()
    }

    /// Runs `work` after every round (or re-send) asked for before it, and before any asked for after it.
    func serialized(_ work: @escaping @Sendable (Dispatcher) async -> Void) async {
        let previous = lastRound
        let current = Task {
            await previous?.value
            await work(self)
        }
        lastRound = current
        await current.value
    }

    private func runRound() async {
        if let lease, !lease.isHeld {
            // The holder reports the queue; `max` across hubs reads its figures.
            metrics.dispatchQueue.record(0)
            metrics.dispatchQueueOldest.record(0)
            return
        }
        var stopwatch = RoundStopwatch()
        defer {
            lastRoundTimings = stopwatch.finish()
            metrics.record(lastRoundTimings)
        }
        do {
            try await applyDeviceEvents()
            // The agents are read once for the round's steps (5,000 agents take ~40 ms a read, most of it their
            // states' JSON), and again only when a lapse in this round moved an agent in the least-recent line.
            var agents = try await store.dispatchAgents()
            if try await closeStaleOffers(agents: agents) { agents = try await store.dispatchAgents() }
            try await handleOfflineAgents(agents: agents)
            stopwatch.lap(.agents)
            try await offerWaitingOrders(agents: agents, stopwatch: &stopwatch)
            try await resendUnsentOffers()
            try await alertLongWaits()
            stopwatch.lap(.resends)
        } catch {
            logger.error("Dispatch round failed", metadata: ["error": "\(error)"])
        }
    }

    // MARK: - Offers

    /// Offers every waiting order the policy can place. An agent may hold several offers (batch stacking) as long as
    /// what it carries and is offered stays within capacity, from one restaurant and within its cash limit: the
    /// store checks each offer against those made before it (in this round too), and a refused one is recorded with
    /// its reason (outcome `refused`) and waits for the next round.
    func offerWaitingOrders(agents: [DispatchAgentRow], stopwatch: inout RoundStopwatch) async throws {
        let queue = try await store.dispatchQueue()
        stopwatch.lap(.queue)
        // What is still waiting when the round ends (offered orders leave it): the queue gauges.
        var waiting = Dictionary(queue.map { ($0.id, $0.createdAt) }, uniquingKeysWith: { a, _ in a })
        defer {
            metrics.dispatchQueue.record(waiting.count)
            metrics.dispatchQueueOldest.record(secondsBehind(since: waiting.values.min(), now: now()))
        }
        guard !queue.isEmpty else { return }
        let available = try await availableAgents(agents)
        // One call per kind for the whole queue (a round of 1,000 orders made ~5,000 store calls: BENCHMARKS.md).
        let places = try await store.restaurantSummaries(ids: Set(queue.map(\.restaurantID)))
        let exclusions = try await store.excludedAgents(orders: queue.map(\.id))
        var dispatchOrders: [DispatchOrder] = []
        var exposures: [String: [String: Int64]] = [:]
        for order in queue {
            guard let restaurant = places[order.restaurantID] else { continue }
            var excluded = exclusions[order.id] ?? []
            if order.paymentMethod == .cod {
                // Agents whose cash exposure (held, not yet posted, carried, offered) leaves no room for this order
                // are not offered it.
                if exposures[order.currency] == nil {
                    exposures[order.currency] = try await store.cashExposures(currency: order.currency)
                }
                // Over the agents with an exposure (not every available agent for every cash order: 1,000 × 5,000
                // in the round benchmark); without checked arithmetic to trap on: total ≤ limit here.
                let limit = settings.codCashLimit
                if order.total > limit {
                    excluded.formUnion(available.map(\.id))
                } else {
                    for (agent, held) in exposures[order.currency] ?? [:] where held > limit - order.total {
                        excluded.insert(agent)
                    }
                }
            }
            let readyAt = order.readyAt ?? (order.updatedAt + Int64(order.prepMinutes ?? 15) * 60_000)
            dispatchOrders.append(
                DispatchOrder(
                    id: order.id, restaurantID: order.restaurantID,
                    pickup: GeoCoordinate(lat: restaurant.lat, lon: restaurant.lon), zoneID: order.zoneID,
                    placedAt: order.createdAt, readyAt: readyAt, excludedAgents: excluded))
        }
        stopwatch.lap(.inputs)
        let decisions = policy.assign(orders: dispatchOrders, agents: available, now: now())
        stopwatch.lap(.policy)
        let byID = Dictionary(queue.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        // The round's offers in one store call, each checked against those before it (and recorded with its
        // decision); orders the policy could not place are recorded as queued.
        let created = now()
        var requests: [OfferRequest] = []
        for decision in decisions {
            guard let agent = decision.agent, byID[decision.order] != nil else {
                try await recordOnce(
                    order: decision.order, outcome: "queued", agent: nil, candidates: decision.candidates)
                continue
            }
            let offer = Offer(
                order: decision.order, agent: agent, created: created,
                deadline: created + settings.offerTimeout.dabbaMilliseconds)
            requests.append(
                OfferRequest(
                    offer: offer,
                    decision: DispatchRecord(
                        order: decision.order, time: created, policy: policy.name, agent: agent, outcome: "offered",
                        candidates: decision.candidates)))
        }
        // The task messages are encoded on the global pool while the store checks and writes the offers on its own
        // thread; the round waits for the store first, so the actor is free for the encoding to start. (With the
        // store's call as the `async let` and the encoding here, the call waited for the actor until the encoding
        // ended: nothing overlapped. BENCHMARKS.md, the hub's dispatch round.)
        async let payloads = Self.offerPayloads(requests, orders: byID, places: places)
        let outcomes = try await store.createOffers(requests, limits: limits)
        let encoded = await payloads
        stopwatch.lap(.offers)
        var sent: [(order: String, agent: String)] = []
        var offered = 0
        for ((request, outcome), payload) in zip(zip(requests, outcomes), encoded) {
            let agent = request.offer.agent
            guard let order = byID[request.offer.order] else { continue }
            let offer: Offer
            switch outcome {
            case .offered(let made): offer = made
            case .refused(let refusal):
                // No longer valid (another hub offered it, the agent lapsed it meanwhile, an offer made earlier in
                // this round took the agent's last slot or cash room): recorded, and the next round decides again.
                try await recordOnce(
                    order: order.id, outcome: "refused", agent: agent, candidates: request.decision.candidates,
                    reason: refusal.description)
                logger.notice("Offer refused", metadata: Self.logMetadata(order: order.id, agent: agent, refusal))
                continue
            }
            offered += 1
            waiting.removeValue(forKey: order.id)
            // The stored offer is the request's (same deadline), so its encoded message is the one to send.
            if let payload, offer.deadline == request.offer.deadline,
                orders.notifier.publishTask(payload, .offer, agent: offer.agent, order: offer.order)
            {
                sent.append((offer.order, offer.agent))
            }
            // One line per offer at debug; the round's one line at info follows (a busy round offers thousands:
            // at info each cost ~15 µs, the round benchmark's publish step 8 → 23 ms).
            logger.debug(
                "Order offered",
                metadata: [
                    "order.id": "\(order.id)", "agent.id": "\(agent)", "dispatch.policy": "\(policy.name)",
                    "dispatch.candidates":
                        "\(request.decision.candidates.prefix(3).map { "\($0.agent)=\(Int($0.cost))" })",
                ])
        }
        // Counted once for the round (each `dispatchDecisions(_:)` looks its counter up in the registry).
        if offered > 0 { metrics.dispatchDecisions("offered").increment(by: offered) }
        try await store.markOffersSent(sent, at: now())
        stopwatch.lap(.publish)
        let counts: Logger.Metadata = [
            "dispatch.policy": "\(policy.name)", "dispatch.orders": "\(queue.count)",
            "dispatch.agents": "\(available.count)", "dispatch.offered": "\(offered)",
            "dispatch.refused": "\(outcomes.count - offered)", "dispatch.queued": "\(decisions.count - outcomes.count)",
            "dispatch.published": "\(sent.count)",
        ]
        // At info when the round offered or was refused something; a round that only found the same orders still
        // waiting (no agent for them) at debug, so a queue that cannot move does not log a line every round.
        logger.log(level: outcomes.isEmpty ? .debug : .info, "Dispatch round", metadata: counts)
    }

    /// The `offer` task message of each request (nil when its order is not in `orders`).
    static func offerPayloads(
        _ requests: [OfferRequest], orders: [String: OrderRecord], places: [String: RestaurantSummary]
    ) async -> [[UInt8]?] {
        requests.map { request -> [UInt8]? in
            guard let order = orders[request.offer.order] else { return nil }
            return PayloadCoding.encode(
                OrderNotifier.taskMessage(
                    .offer, agent: request.offer.agent, order: order, pickup: places[order.restaurantID]?.place,
                    expiresAt: Timestamp.format(milliseconds: request.offer.deadline)))
        }
    }

    /// Records a decision only when the order's last decision was something else (no log spam per round): a
    /// "queued" or the same refusal again is not repeated.
    func recordOnce(
        order: String, outcome: String, agent: String?, candidates: [DispatchRecord.Candidate], reason: String? = nil
    ) async throws {
        if let last = try await store.decisions(order: order).last, last.outcome == outcome, last.agent == agent,
            last.reason == reason
        {
            return
        }
        try await store.recordDecision(
            DispatchRecord(
                order: order, time: now(), policy: policy.name, agent: agent, outcome: outcome, candidates: candidates,
                reason: reason))
        metrics.dispatchDecisions(outcome).increment()
    }

    /// Available agents as the policy sees them: on shift, online, a fresh fix, and fewer orders carried and held
    /// on offer than the capacity (those count as its load; the restaurant it carries or is offered from is the one
    /// it may stack). Their place in the least-recent line: last delivery, shift start and last (delivered) lapse.
    /// `rows`: the round's read of the agents.
    func availableAgents(_ rows: [DispatchAgentRow]) async throws -> [DispatchAgent] {
        let loads = try await store.agentLoads()
        var offered: [String: [String]] = [:]
        let pending = try await store.pendingOffers()
        let offeredOrders = try await store.orders(ids: pending.map(\.order))
        for offer in pending {
            guard let order = offeredOrders[offer.order] else { continue }
            offered[offer.agent, default: []].append(order.restaurantID)
        }
        let t = now()
        return rows.compactMap { row -> DispatchAgent? in
            let carried = loads[row.agent.id] ?? []
            let offers = offered[row.agent.id] ?? []
            let load = carried.count + offers.count
            // An agent an operator gave orders of two restaurants cannot stack a third (the store would refuse it
            // every round, and the order would wait for it).
            let restaurants = Set(carried.map(\.restaurantID) + offers)
            guard row.onShift, row.agent.state?.online == true, let last = row.agent.last,
                t - last.time <= settings.fixMaxAge.dabbaMilliseconds, load < settings.capacity, restaurants.count <= 1
            else { return nil }
            return DispatchAgent(
                id: row.agent.id, position: GeoCoordinate(lat: last.lat, lon: last.lon),
                lastDeliveryAt: row.lastDeliveryAt, load: load, capacity: settings.capacity,
                carryingFrom: carried.first?.restaurantID ?? offers.first, zones: nil, speed: last.speed,
                shiftStartedAt: row.shiftStartedAt, lastLapseAt: row.lastLapseAt)
        }
    }

    /// Offers past their deadline lapse; offers of orders that were cancelled or assigned meanwhile, or to agents
    /// whose shift ended, are withdrawn. `agents`: the round's read of the agents. Returns whether an offer lapsed
    /// after its device had it (its agent's ``DispatchAgentRow/lastLapseAt`` moved: the read is stale).
    func closeStaleOffers(agents: [DispatchAgentRow]) async throws -> Bool {
        let t = now()
        let offShift = Set(agents.filter { !$0.onShift }.map(\.agent.id))
        var lapsed = false
        let pending = try await store.pendingOffers()
        let offeredOrders = try await store.orders(ids: pending.map(\.order))
        for offer in pending {
            let order = offeredOrders[offer.order]
            let stale =
                order == nil || order?.agentID != nil || order?.status.isTerminal == true
                || offShift.contains(offer.agent)
            if offer.deadline > t && !stale { continue }
            let state: Offer.State = stale ? .withdrawn : .expired
            // A lapse of an offer the device never had is undelivered: the agent stays eligible.
            let undelivered = state == .expired && !offer.lapseExcludes
            guard
                try await store.closeOffer(
                    order: offer.order, agent: offer.agent, state: state,
                    reason: undelivered ? Offer.undeliveredReason : nil) != nil
            else {
                continue
            }
            let outcome = undelivered ? Offer.undeliveredReason : state.rawValue
            if state == .expired && !undelivered { lapsed = true }
            try await store.recordDecision(
                DispatchRecord(
                    order: offer.order, time: t, policy: policy.name, agent: offer.agent, outcome: outcome,
                    candidates: []))
            metrics.dispatchDecisions(outcome).increment()
            if undelivered {
                logger.warning(
                    "Offer lapsed undelivered; the agent is not excluded",
                    metadata: [
                        "order.id": "\(offer.order)", "agent.id": "\(offer.agent)",
                        "offer.sent": "\(offer.sent.map(String.init) ?? "never")",
                    ])
            }
            if let order { orders.notifier.task(.cancelled, agent: offer.agent, order: order) }
        }
        return lapsed
    }

    /// An agent offline (its Will) for longer than `offlineGrace`: before pickup its orders go back to the queue
    /// and its pending offers are withdrawn; after pickup operators are alerted (once). A device that restarts
    /// within the grace (a reboot, a crash under systemd) keeps its orders and offers. `agents`: the round's read.
    func handleOfflineAgents(agents: [DispatchAgentRow]) async throws {
        let t = now()
        let grace = settings.offlineGrace.dabbaMilliseconds
        let gone = Set(
            agents.map(\.agent).filter { $0.state?.online == false && t - ($0.stateAt ?? 0) >= grace }.map(\.id))
        guard !gone.isEmpty else { return }
        for (agentID, carried) in try await store.agentLoads() where gone.contains(agentID) {
            for order in carried {
                if order.status == .assigned {
                    do {
                        _ = try await orders.apply(
                            OrderChange(action: .unassign, actor: "system", reason: "agent \(agentID) went offline"),
                            to: order.id)
                    } catch .illegal {
                        continue  // picked up, cancelled or reassigned since it was read: nothing to take back
                    } catch {
                        logger.error(
                            "Could not take an order back from an offline agent; the next round tries again",
                            metadata: ["order.id": "\(order.id)", "agent.id": "\(agentID)", "error": "\(error)"])
                        continue
                    }
                    try await store.recordDecision(
                        DispatchRecord(
                            order: order.id, time: now(), policy: policy.name, agent: agentID, outcome: "reassigned",
                            candidates: []))
                    logger.warning(
                        "Agent offline before pickup; order goes back to dispatch",
                        metadata: ["order.id": "\(order.id)", "agent.id": "\(agentID)"])
                } else if order.status == .pickedUp,
                    try await store.raiseAlert(
                        kind: "offline_after_pickup", agent: agentID, order: order.id,
                        message: "agent \(agentID) went offline carrying order \(order.id)")
                {
                    metrics.alerts("offline_after_pickup").increment()
                    logger.error(
                        "Agent offline with an order on board",
                        metadata: ["order.id": "\(order.id)", "agent.id": "\(agentID)"])
                }
            }
        }
        // Pending offers to agents gone offline are withdrawn (the order is offered to someone else next round).
        for offer in try await store.pendingOffers() where gone.contains(offer.agent) {
            _ = try await store.closeOffer(
                order: offer.order, agent: offer.agent, state: .withdrawn, reason: "agent offline")
        }
    }
}
