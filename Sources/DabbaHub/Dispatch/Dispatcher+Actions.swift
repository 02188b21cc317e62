import DabbaCore
import DabbaProtocol
import Foundation
import Logging

/// Why a dispatcher action was refused; controllers map it to HTTP (404, 409).
public enum DispatcherActionError: Error, Sendable, Equatable {
    case notFound(String)
    case conflict(String)
}

/// What the agent (device or REST) and the original delivery endpoints do through the dispatcher.
extension Dispatcher {
    /// The agent accepts its pending offer: the order is assigned to it (one transaction with the offer's state, so
    /// an accept racing the offer's timeout has exactly one outcome).
    public func accept(order id: String, agent: String) async throws -> OrderRecord {
        if let order = try await acceptPending(order: id, agent: agent) { return order }
        // Not pending: already accepted by this agent (a repeat) is fine; anything else is refused.
        if let order = try await store.order(id: id), order.agentID == agent, !order.status.isTerminal { return order }
        throw DispatcherActionError.conflict(
            "no pending offer of order \(id) for \(agent) (it lapsed or was withdrawn)")
    }

    /// Accepts the agent's pending offer if there is one (nil otherwise: none, lapsed, or already decided).
    func acceptPending(order id: String, agent: String) async throws -> OrderRecord? {
        guard let (order, event) = try await store.acceptOffer(order: id, agent: agent, actor: "agent:\(agent)") else {
            return nil
        }
        let pickup = try? await store.restaurantSummary(id: order.restaurantID)?.place
        orders.notifier.committed(event, order: order, pickup: pickup)
        try await store.recordDecision(
            DispatchRecord(
                order: id, time: now(), policy: policy.name, agent: agent, outcome: "accepted", candidates: []))
        metrics.dispatchDecisions("accepted").increment()
        return order
    }

    /// The agent rejects its pending offer (or gives back an accepted order before pickup): the order is offered to
    /// someone else, never again to this agent.
    public func reject(order id: String, agent: String, reason: String?) async throws -> OrderRecord? {
        try await recordRejection(order: id, agent: agent, reason: reason)
        await round()
        return try await store.order(id: id)
    }

    /// The rejection without the round that offers the order to someone else (device events are applied inside a
    /// round, which goes on to offer it).
    func recordRejection(order id: String, agent: String, reason: String?) async throws {
        let t = now()
        if try await store.closeOffer(order: id, agent: agent, state: .rejected, reason: reason) != nil {
            try await store.recordDecision(
                DispatchRecord(
                    order: id, time: t, policy: policy.name, agent: agent, outcome: "rejected", candidates: []))
            metrics.dispatchDecisions("rejected").increment()
            return
        }
        guard let order = try await store.order(id: id), order.agentID == agent else {
            throw DispatcherActionError.conflict("no pending offer of order \(id) for \(agent)")
        }
        guard order.status == .assigned else {
            throw DispatcherActionError.conflict("order \(id) is \(order.status.rawValue)")
        }
        // Given back after accepting: record it as a rejection (excluded from now on), then unassign.
        try await store.recordGiveBack(order: id, agent: agent, time: t, reason: reason ?? "given back")
        _ = try await orders.apply(
            OrderChange(action: .unassign, actor: "agent:\(agent)", reason: reason ?? "given back by the agent"), to: id
        )
        try await store.recordDecision(
            DispatchRecord(order: id, time: t, policy: policy.name, agent: agent, outcome: "rejected", candidates: []))
    }

    /// `POST /newdelivery` and a restaurant's confirmation: find an agent for `order` now (or queue it).
    /// Returns the pending offer when one was made.
    public func requestAgent(order id: String) async throws -> (OrderRecord, Offer?) {
        guard let order = try await store.order(id: id) else { throw DispatcherActionError.notFound("no order \(id)") }
        guard [.confirmed, .preparing, .readyForPickup].contains(order.status), order.agentID == nil else {
            throw DispatcherActionError.conflict(
                "order \(id) is \(order.status.rawValue)\(order.agentID.map { " with agent \($0)" } ?? ""); it cannot be dispatched"
            )
        }
        await round()
        let pending = try await store.offers(order: id).last { $0.state == .pending }
        return (try await store.order(id: id) ?? order, pending)
    }

    /// `PUT /delivery/{agent}`: completes the agent's current delivery (picked up → delivered; assigned → picked up
    /// and delivered), so the order is delivered and the agent available again.
    public func completeDelivery(agent: String, actor: String) async throws -> OrderRecord {
        guard try await store.agent(id: agent) != nil else { throw DispatcherActionError.notFound("no agent \(agent)") }
        let carried = try await store.agentLoads()[agent] ?? []
        guard let current = carried.first(where: { $0.status == .pickedUp }) ?? carried.first else {
            throw DispatcherActionError.conflict("agent \(agent) has no delivery in progress")
        }
        if current.status == .assigned {
            _ = try await orders.apply(OrderChange(action: .pickup, actor: actor), to: current.id)
        }
        let delivered = try await orders.apply(OrderChange(action: .deliver, actor: actor), to: current.id)
        await round()
        return delivered
    }

    // MARK: - Device events

    /// Applies the agents' stored device events once each, oldest first.
    func applyDeviceEvents() async throws {
        for event in try await store.unappliedEvents(limit: 500) {
            let decoded = try? PayloadCoding.decode(AgentEvent.self, from: event.payload)
            let kind = AgentEvent.Kind(rawValue: event.type)
            switch kind {
            case .accepted:
                // Applied when it answers this agent's pending offer; a repeat (already accepted over REST) or a
                // lapsed offer changes nothing.
                let applied = (try? await acceptPending(order: event.order, agent: event.agent)) != nil
                _ = try await store.applyDeviceEvent(
                    agent: event.agent, seq: event.seq, change: nil, order: event.order)
                countDeviceEvent(applied: applied, event)
            case .rejected:
                let applied =
                    (try? await recordRejection(order: event.order, agent: event.agent, reason: decoded?.reason)) != nil
                _ = try await store.applyDeviceEvent(
                    agent: event.agent, seq: event.seq, change: nil, order: event.order)
                countDeviceEvent(applied: applied, event)
            case .pickedUp, .delivered:
                let action: OrderAction = kind == .pickedUp ? .pickup : .deliver
                if let cash = decoded?.cashCollected, !(0...Money.maxAmount).contains(cash) {
                    // The REST path's bound, for the device path too: an impossible amount (Int64.max) would
                    // overflow the ledger inside the payment reactor's transaction. Recorded, never applied.
                    metrics.deviceEvents("invalid").increment()
                    var metadata = Self.logMetadata(event)
                    metadata["event.cash_collected"] = "\(cash)"
                    logger.warning(
                        "Device event with an impossible cashCollected; recorded, not applied", metadata: metadata)
                    _ = try await store.applyDeviceEvent(
                        agent: event.agent, seq: event.seq, change: nil, order: event.order)
                    continue
                }
                let order = try await store.order(id: event.order)
                let change =
                    order?.agentID == event.agent
                    ? OrderChange(action: action, actor: "agent:\(event.agent)", cashCollected: decoded?.cashCollected)
                    : nil
                let applied = try await store.applyDeviceEvent(
                    agent: event.agent, seq: event.seq, change: change, order: event.order)
                if let (updated, orderEvent) = applied { orders.notifier.committed(orderEvent, order: updated) }
                countDeviceEvent(applied: applied != nil, event)
            case .shiftStarted, .shiftEnded:
                let applied = try await store.applyDeviceShift(
                    agent: event.agent, seq: event.seq, onShift: kind == .shiftStarted,
                    time: event.time)
                countDeviceEvent(applied: applied, event)
            case nil:
                _ = try await store.applyDeviceEvent(
                    agent: event.agent, seq: event.seq, change: nil, order: event.order)
            }
        }
    }

    /// Counts a device event as applied or ignored (recorded, but it changed nothing: a repeat, or too late).
    func countDeviceEvent(applied: Bool, _ event: DeviceEvent) {
        if applied {
            metrics.deviceEvents("applied").increment()
            return
        }
        metrics.deviceEvents("ignored").increment()
        logger.notice("Device event does not apply; recorded and ignored", metadata: Self.logMetadata(event))
    }

    /// The log metadata that names a device event.
    static func logMetadata(_ event: DeviceEvent) -> Logger.Metadata {
        [
            "agent.id": "\(event.agent)", "event.seq": "\(event.seq)", "order.id": "\(event.order)",
            "event.type": "\(event.type)",
        ]
    }
}
