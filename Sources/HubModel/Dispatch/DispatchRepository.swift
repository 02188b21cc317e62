import DabbaDispatch

/// An offer of an order to one agent: pending until the agent accepts or rejects it, it lapses at its deadline, or
/// the hub withdraws it (the order was cancelled). At most one pending offer per order.
package struct Offer: Sendable, Equatable, Codable {
    package enum State: String, Sendable, Codable { case pending, accepted, rejected, expired, withdrawn }
    package var id: Int64
    package var order: String
    package var agent: String
    package var created: Int64
    package var deadline: Int64
    package var state: State
    package var reason: String?
    /// When a publish of this offer (its own task message, a re-send or a sync answer listing it) was first taken
    /// by the broker session (dispatcher clock, Unix ms); nil while it never was.
    package var sent: Int64?
    /// When a message from the agent's device (fix, backlog, event, online state, sync request) first arrived after
    /// `sent`, before the deadline: the evidence that the device had the offer. See ``Offer/lapseExcludes``.
    package var seen: Int64?

    package init(
        id: Int64 = 0, order: String, agent: String, created: Int64, deadline: Int64, state: State = .pending,
        reason: String? = nil, sent: Int64? = nil, seen: Int64? = nil
    ) {
        self.id = id
        self.order = order
        self.agent = agent
        self.created = created
        self.deadline = deadline
        self.state = state
        self.reason = reason
        self.sent = sent
        self.seen = seen
    }

    /// The reason an expired offer carries when it lapsed undelivered (it does not exclude the agent).
    package static let undeliveredReason = "undelivered"

    /// Whether this offer's lapse excludes the agent from the order. The rule: only when the device was seen after
    /// the offer was sent and before its deadline (`seen` is set). A device that is connected when the broker takes
    /// the offer gets it live, and one that connects later asks for its tasks (`…/sync`) and gets it then; either
    /// way a message from it after `sent` shows it had a connection that carried the offer. Without that evidence
    /// (never sent: the hub was cut off from the broker; or the device silent since) the lapse is *undelivered*:
    /// the offer expires with reason ``undeliveredReason`` and the order may be offered to the same agent again.
    package var lapseExcludes: Bool { seen != nil }
}

/// One dispatch decision as operators read it (`GET /v1/orders/{id}/dispatch`): who was offered the order, or why
/// it waits, with the candidates' costs.
package struct DispatchRecord: Sendable, Equatable, Codable {
    /// A candidate as the policy scored it.
    package typealias Candidate = DispatchCandidate
    package var order: String
    package var time: Int64
    package var policy: String
    package var agent: String?
    /// `offered`, `queued` (no feasible agent), `refused` (the offer the policy chose failed the store's checks:
    /// ``AssignmentLimits``; `reason` says which), `accepted`, `rejected`, `expired`, `undelivered` (lapsed before the
    /// device had it: ``Offer/lapseExcludes``), `withdrawn`, `reassigned` (agent offline), `assigned` and
    /// `unassigned` (operators), `late_pickup` (``DeviceAction``).
    package var outcome: String
    package var candidates: [Candidate]
    /// Why, for `refused`.
    package var reason: String?

    package init(
        order: String, time: Int64, policy: String, agent: String?, outcome: String, candidates: [Candidate],
        reason: String? = nil
    ) {
        self.order = order
        self.time = time
        self.policy = policy
        self.agent = agent
        self.outcome = outcome
        self.candidates = candidates
        self.reason = reason
    }
}

/// An offer a dispatch round makes, with the decision (outcome `offered`) recorded when the offer is made.
package struct OfferRequest: Sendable, Equatable {
    package var offer: Offer
    package var decision: DispatchRecord

    package init(offer: Offer, decision: DispatchRecord) {
        self.offer = offer
        self.decision = decision
    }
}

/// An agent as dispatch sees it.
package struct DispatchAgentRow: Sendable, Equatable {
    package var agent: AgentRecord
    package var onShift: Bool
    package var lastDeliveryAt: Int64?
    /// When its current (or last) shift started: a start while off shift (REST or the device, by its own time).
    package var shiftStartedAt: Int64?
    /// The deadline of the last offer it let lapse after its device had it (``Offer/lapseExcludes``).
    package var lastLapseAt: Int64?

    package init(
        agent: AgentRecord, onShift: Bool, lastDeliveryAt: Int64?, shiftStartedAt: Int64? = nil,
        lastLapseAt: Int64? = nil
    ) {
        self.agent = agent
        self.onShift = onShift
        self.lastDeliveryAt = lastDeliveryAt
        self.shiftStartedAt = shiftStartedAt
        self.lastLapseAt = lastLapseAt
    }
}

/// One agent's shift: whether it is on shift, and when its current (or last) shift started.
package struct AgentShift: Sendable, Equatable {
    package var onShift: Bool
    package var startedAt: Int64?

    package init(onShift: Bool, startedAt: Int64?) {
        self.onShift = onShift
        self.startedAt = startedAt
    }
}

/// An operator alert (an agent went offline with food on board, …); one per kind, agent and order.
package struct OperatorAlert: Sendable, Equatable, Codable {
    package var id: Int64
    package var time: Int64
    package var kind: String
    package var agent: String?
    package var order: String?
    package var message: String

    package init(id: Int64, time: Int64, kind: String, agent: String? = nil, order: String? = nil, message: String) {
        self.id = id
        self.time = time
        self.kind = kind
        self.agent = agent
        self.order = order
        self.message = message
    }
}

/// Shifts, offers, decisions, device events and alerts.
package protocol DispatchRepository: Sendable {
    /// A shift change over REST, now; a start while off shift is the shift's start (``DispatchAgentRow/shiftStartedAt``).
    func setShift(agent: String, onShift: Bool) async throws(StoreError)
    /// A shift change from the device (event `seq`, made at `time`): applied only when newer than the last change
    /// from either path; the event is marked applied either way. Returns whether the shift changed.
    func applyDeviceShift(agent: String, seq: Int64, onShift: Bool, time: Int64) async throws(StoreError) -> Bool
    /// Every agent with its shift, last delivery, shift start and last lapse.
    func dispatchAgents() async throws(StoreError) -> [DispatchAgentRow]
    /// One agent's shift (on shift or not, and when its shift started); nil when there is no such agent.
    func shift(agent: String) async throws(StoreError) -> AgentShift?
    /// Orders waiting for an agent: confirmed, preparing or ready, none assigned, no pending offer; oldest first.
    func dispatchQueue() async throws(StoreError) -> [OrderRecord]
    /// Orders each agent carries now (assigned or picked up), by agent.
    func agentLoads() async throws(StoreError) -> [String: [OrderRecord]]
    /// Makes `offer` pending, in one transaction, only if the order is still waiting for an agent (confirmed,
    /// preparing or ready, unassigned, no pending offer), the agent is not excluded from it (rejected it, or let a
    /// delivered offer of it lapse: ``Offer/lapseExcludes``) and passes ``AssignmentLimits`` with every order it
    /// carries or holds on offer counted — all from the order's restaurant. Dispatch rounds on several hubs (or
    /// overlapping rounds on one, or two offers of one batch round to one agent) may decide from older reads; this is
    /// where only a valid offer gets through, and a refusal says why.
    func createOffer(_ offer: Offer, limits: AssignmentLimits) async throws(StoreError) -> OfferOutcome
    /// A round's offers in one call, in the given order: each made exactly as ``createOffer(_:limits:)`` makes it
    /// (checked against the offers made before it, this call's included) and, when made, its request's decision
    /// recorded in the same transaction. One outcome per request, in order. A store error leaves the offers of the
    /// failing transaction unmade (SQLite: one transaction for all; PostgreSQL: one per offer).
    func createOffers(_ requests: [OfferRequest], limits: AssignmentLimits) async throws(StoreError) -> [OfferOutcome]
    /// Records that `agent` gave `order` back after accepting it: a rejected offer, so it is never offered again.
    func recordGiveBack(order: String, agent: String, time: Int64, reason: String) async throws(StoreError)
    func pendingOffers() async throws(StoreError) -> [Offer]
    /// The pending offers not yet handed to the broker (`sent` unset), by deadline: what a round sends again. Read
    /// apart from ``pendingOffers()`` because after a busy round nearly every pending offer is sent (1,000 rows read
    /// to find none).
    func unsentOffers() async throws(StoreError) -> [Offer]
    func offers(order: String) async throws(StoreError) -> [Offer]
    /// Agents that rejected `order` or let its offer lapse after it was delivered (``Offer/lapseExcludes``).
    func excludedAgents(order: String) async throws(StoreError) -> Set<String>
    /// ``excludedAgents(order:)`` of several orders in one call; orders that exclude nobody are left out.
    func excludedAgents(orders: [String]) async throws(StoreError) -> [String: Set<String>]
    /// Moves the pending offer of `order` for `agent` to `state` (expired/rejected/withdrawn); nil when there was no
    /// such pending offer (someone else decided first). Exactly one caller wins a race.
    func closeOffer(order: String, agent: String, state: Offer.State, reason: String?) async throws(StoreError)
        -> Offer?
    /// Accepts the pending offer of `order` for `agent` and assigns the order to it in one transaction, when the
    /// offer's deadline is after `now` (dispatcher clock) and the agent passes ``AssignmentLimits`` (this order's
    /// offer not counted twice). Refused otherwise (`noPendingOffer` when it was decided first: expired, withdrawn).
    func acceptOffer(order: String, agent: String, actor: String, limits: AssignmentLimits, now: Int64)
        async throws(StoreError) -> AssignmentOutcome
    /// An operator assigns a waiting order to `agent`, checked against ``AssignmentLimits`` in the same transaction;
    /// the order's pending offer (to anyone) is withdrawn with it. An order not waiting is refused as `illegal`.
    func assignOrder(order: String, agent: String, actor: String, reason: String?, limits: AssignmentLimits)
        async throws(StoreError) -> AssignmentOutcome
    /// Takes an assigned order (not picked up) back from its agent, in one transaction with (when `excludeAgent`) a
    /// rejected offer row so it is never offered the order again; `illegalTransition` when it is not assigned.
    func unassignOrder(order: String, actor: String, reason: String?, excludeAgent: Bool)
        async throws(StoreError) -> (OrderRecord, OrderEvent)
    /// The agent's cash exposure in `currency` (``AssignmentLimits``).
    func cashExposure(agent: String, currency: String) async throws(StoreError) -> Int64
    /// Every agent's cash exposure in `currency` (agents with none left out), for a round's first sift.
    func cashExposures(currency: String) async throws(StoreError) -> [String: Int64]
    /// Applies a device pickup or delivery, late ones by their own rule (``DeviceAction``), and marks its event
    /// applied, in one transaction.
    func applyDeviceAction(_ action: DeviceAction) async throws(StoreError) -> DeviceActionOutcome
    func recordDecision(_ record: DispatchRecord) async throws(StoreError)
    func decisions(order: String) async throws(StoreError) -> [DispatchRecord]
    /// Device events not applied yet, oldest first.
    func unappliedEvents(limit: Int) async throws(StoreError) -> [DeviceEvent]
    /// Applies `change` to the event's order and marks the event applied, in one transaction; when the change does
    /// not apply (illegal in the current state, unknown order) the event is marked applied all the same and nil
    /// returned: an event is acted on once.
    func applyDeviceEvent(agent: String, seq: Int64, change: OrderChange?, order: String) async throws(StoreError)
        -> (OrderRecord, OrderEvent)?
    /// Records that a publish of the pending offer of `order` to `agent` was taken by the broker session at `time`;
    /// the first such time is kept (``Offer/sent``).
    func markOfferSent(order: String, agent: String, at time: Int64) async throws(StoreError)
    /// ``markOfferSent(order:agent:at:)`` for several offers, in one transaction.
    func markOffersSent(_ offers: [(order: String, agent: String)], at time: Int64) async throws(StoreError)
    /// Messages from agents' devices arrived (agent → hub time of the latest): each pending offer to such an agent
    /// that was sent before that time, has no `seen` yet and whose deadline is not past gets it (``Offer/seen``).
    func recordSeen(_ agents: [String: Int64]) async throws(StoreError)
    /// Orders waiting for an agent (confirmed, preparing or ready, none assigned, with or without a pending offer)
    /// since `cutoff` or earlier, that have no `kind` alert yet: id and since when they wait (the restaurant's
    /// confirmation or the last unassignment, whichever is later), oldest first.
    func ordersWaiting(since cutoff: Int64, withoutAlert kind: String) async throws(StoreError)
        -> [(order: String, since: Int64)]
    /// Records an alert once (same kind, agent and order, a missing agent or order included: ignored); true when
    /// new.
    func raiseAlert(kind: String, agent: String?, order: String?, message: String) async throws(StoreError) -> Bool
    func alerts(limit: Int) async throws(StoreError) -> [OperatorAlert]
}
