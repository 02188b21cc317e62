import DabbaCore
import DabbaProtocol
import Foundation
import HubModel
import Logging

/// Why a dispatcher action was refused; controllers map it to HTTP (404, 409).
package enum DispatcherActionError: Error, Sendable, Equatable {
    case notFound(String)
    case conflict(String)
}

/// What the agent (device or REST) and the original delivery endpoints do through the dispatcher.
extension Dispatcher {
    /// The agent accepts its pending offer: the order is assigned to it, in one transaction with the offer's state
    /// and the checks of ``AssignmentLimits`` (so an accept racing the offer's timeout, another offer or an operator
    /// has exactly one outcome). Refused (409) at or after the offer's deadline on the dispatcher's clock, even when
    /// no round has closed the offer yet, and when the agent is off shift, offline, full or over its cash limit.
    package func accept(order id: String, agent: String) async throws -> OrderRecord {
        switch try await acceptPending(order: id, agent: agent) {
        case .assigned(let order, _, _): return order
        case .refused(.noPendingOffer):
            // Already accepted by this agent (a repeat) is fine.
            if let order = try await store.order(id: id), order.agentID == agent, !order.status.isTerminal {
                return order
            }
            throw DispatcherActionError.conflict(AssignmentRefusal.noPendingOffer(order: id, agent: agent).description)
        case .refused(let refusal): throw DispatcherActionError.conflict(refusal.description)
        }
    }

    /// Accepts the agent's pending offer if it is still valid (see ``accept(order:agent:)``).
    /// `fromDevice`: the accept is the device's own event, so the agent is online whatever its stored state says.
    func acceptPending(order id: String, agent: String, fromDevice: Bool = false) async throws -> AssignmentOutcome {
        var limits = self.limits
        if fromDevice { limits.requireOnline = false }
        let outcome = try await store.acceptOffer(
            order: id, agent: agent, actor: "agent:\(agent)", limits: limits, now: now())
        switch outcome {
        case .assigned(let order, let event, _):
            let pickup = try? await store.restaurantSummary(id: order.restaurantID)?.place
            orders.notifier.committed(event, order: order, pickup: pickup)
            try await store.recordDecision(
                DispatchRecord(
                    order: id, time: now(), policy: policy.name, agent: agent, outcome: "accepted", candidates: []))
            metrics.dispatchDecisions("accepted").increment()
        case .refused(let refusal):
            if case .noPendingOffer = refusal { break }
            logger.notice("Accept refused", metadata: Self.logMetadata(order: id, agent: agent, refusal))
        }
        return outcome
    }

    /// An operator assigns `order` to `agent` (`POST /v1/orders/{id}/assign`): the same checks as an accept, in the
    /// transaction that assigns; the order's pending offer, if any, is withdrawn (its agent told).
    package func assign(order id: String, agent: String, actor: String, reason: String?) async throws -> OrderRecord {
        switch try await store.assignOrder(order: id, agent: agent, actor: actor, reason: reason, limits: limits) {
        case .assigned(let order, let event, let withdrawn):
            let pickup = try? await store.restaurantSummary(id: order.restaurantID)?.place
            for offer in withdrawn {
                if offer.agent != agent { orders.notifier.task(.cancelled, agent: offer.agent, order: order) }
                try await store.recordDecision(
                    DispatchRecord(
                        order: id, time: now(), policy: policy.name, agent: offer.agent, outcome: "withdrawn",
                        candidates: []))
            }
            orders.notifier.committed(event, order: order, pickup: pickup)
            try await store.recordDecision(
                DispatchRecord(
                    order: id, time: now(), policy: policy.name, agent: agent, outcome: "assigned", candidates: []))
            metrics.dispatchDecisions("assigned").increment()
            return order
        case .refused(.unknownOrder(let order)): throw DispatcherActionError.notFound("no order \(order)")
        case .refused(let refusal): throw DispatcherActionError.conflict(refusal.description)
        }
    }

    /// An operator takes an assigned order (not picked up) back from its agent (`POST /v1/orders/{id}/unassign`):
    /// the agent is told (its task is cancelled) and never offered this order again; the next round offers it to
    /// someone else.
    package func unassign(order id: String, actor: String, reason: String?) async throws -> OrderRecord {
        let (order, event) = try await store.unassignOrder(
            order: id, actor: actor, reason: reason ?? "unassigned by \(actor)", excludeAgent: true)
        orders.notifier.committed(event, order: order)
        try await store.recordDecision(
            DispatchRecord(
                order: id, time: now(), policy: policy.name, agent: event.agent, outcome: "unassigned",
                candidates: []))
        metrics.dispatchDecisions("unassigned").increment()
        return order
    }

    /// The agent rejects its pending offer (or gives back an accepted order before pickup): the order is offered to
    /// someone else, never again to this agent.
    package func reject(order id: String, agent: String, reason: String?) async throws -> OrderRecord? {
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
        // Given back after accepting: a rejection (excluded from now on) and the unassignment, in one transaction.
        let (_, event) = try await store.unassignOrder(
            order: id, actor: "agent:\(agent)", reason: reason ?? "given back by the agent", excludeAgent: true)
        orders.notifier.committed(event, order: try await store.order(id: id) ?? order)
        try await store.recordDecision(
            DispatchRecord(order: id, time: t, policy: policy.name, agent: agent, outcome: "rejected", candidates: []))
    }

    /// `POST /newdelivery` and a restaurant's confirmation: find an agent for `order` now (or queue it).
    /// Returns the pending offer when one was made.
    package func requestAgent(order id: String) async throws -> (OrderRecord, Offer?) {
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
    package func completeDelivery(agent: String, actor: String) async throws -> OrderRecord {
        guard try await store.agent(id: agent) != nil else { throw DispatcherActionError.notFound("no agent \(agent)") }
        let carried = try await store.agentLoads()[agent] ?? []
        guard let current = carried.first(where: { $0.status == .pickedUp }) ?? carried.first else {
            throw DispatcherActionError.conflict("agent \(agent) has no delivery in progress")
        }
        if current.status == .assigned {
            _ = try await orders.apply(OrderChange(action: .pickup, actor: actor, requiredAgent: agent), to: current.id)
        }
        let delivered = try await orders.apply(
            OrderChange(action: .deliver, actor: actor, requiredAgent: agent), to: current.id)
        await round()
        return delivered
    }

    // MARK: - Device events

    /// Applies the agents' stored device events once each, oldest first.
    func applyDeviceEvents() async throws {
        for event in try await store.unappliedEvents(limit: 500) {
            let kind = AgentEvent.Kind(rawValue: event.type)
            switch kind {
            case .accepted:
                // Applied when it answers this agent's pending offer in time; a repeat (already accepted over REST),
                // a lapsed offer or a refused one (off shift, full, cash limit) changes nothing.
                var applied = false
                if case .assigned = try await acceptPending(order: event.order, agent: event.agent, fromDevice: true) {
                    applied = true
                }
                _ = try await store.applyDeviceEvent(
                    agent: event.agent, seq: event.seq, change: nil, order: event.order)
                countDeviceEvent(applied: applied, event)
            case .rejected:
                // Only the reason is read here (informational); a pickup or delivery is read by DeviceAction.reading.
                let reason = (try? PayloadCoding.decode(AgentEvent.self, from: event.payload))?.reason
                let applied =
                    (try? await recordRejection(order: event.order, agent: event.agent, reason: reason)) != nil
                _ = try await store.applyDeviceEvent(
                    agent: event.agent, seq: event.seq, change: nil, order: event.order)
                countDeviceEvent(applied: applied, event)
            case .pickedUp, .delivered:
                switch DeviceAction.reading(event) {
                case .action(let action): try await applyDeviceAction(action, event)
                case .impossibleCash(let cash):
                    try await recordInvalid(event, "an impossible cashCollected", ["event.cash_collected": "\(cash)"])
                case .undecodable(let why):
                    try await recordInvalid(event, "a payload that does not decode", ["error.message": "\(why)"])
                case .notAnAction: break
                }
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

    /// A pickup or delivery that cannot be applied (``DeviceActionReading``): counted (`invalid`), logged, and
    /// recorded as handled so it is not read again; the device's event stays stored for operators.
    func recordInvalid(_ event: DeviceEvent, _ what: String, _ extra: Logger.Metadata) async throws {
        metrics.deviceEvents("invalid").increment()
        logger.warning(
            "Device event with \(what); recorded, not applied", metadata: Self.logMetadata(event).merging(extra) { $1 })
        _ = try await store.applyDeviceEvent(agent: event.agent, seq: event.seq, change: nil, order: event.order)
    }

    /// Applies a device pickup or delivery (late ones included: ``DeviceAction``) and tells everyone concerned.
    func applyDeviceAction(_ action: DeviceAction, _ event: DeviceEvent) async throws {
        switch try await store.applyDeviceAction(action) {
        case .applied(let order, let events, let withdrawn, let late):
            let pickup = try? await store.restaurantSummary(id: order.restaurantID)?.place
            // The order's own pending offer (to someone else), and the agent's offers of other orders (it has this
            // one back, so they may exceed its capacity): those orders wait for the next round.
            for offer in withdrawn {
                let offered = offer.order == order.id ? order : try await store.order(id: offer.order)
                if let offered { orders.notifier.task(.cancelled, agent: offer.agent, order: offered) }
                try await store.recordDecision(
                    DispatchRecord(
                        order: offer.order, time: now(), policy: policy.name, agent: offer.agent, outcome: "withdrawn",
                        candidates: []))
            }
            for committed in events { orders.notifier.committed(committed, order: order, pickup: pickup) }
            if late {
                try await store.recordDecision(
                    DispatchRecord(
                        order: order.id, time: now(), policy: policy.name, agent: action.agent, outcome: "late_pickup",
                        candidates: []))
                metrics.dispatchDecisions("late_pickup").increment()
                var metadata = Self.logMetadata(event)
                metadata["dispatch.withdrawn"] = "\(withdrawn.map(\.agent))"
                logger.warning(
                    "Late pickup made before the order was taken back: assigned back to its agent", metadata: metadata)
            }
            countDeviceEvent(applied: true, event)
        case .repeated:
            countDeviceEvent(applied: false, event)
        case .refused(let refusal):
            if let kind = refusal.alert { metrics.alerts(kind).increment() }
            var metadata = Self.logMetadata(event)
            metadata["dispatch.reason"] = "\(refusal.message)"
            if let cash = refusal.cashRecorded { metadata["event.cash_collected"] = "\(cash)" }
            if refusal.alert != nil || refusal.cashRecorded != nil {
                metrics.deviceEvents("refused").increment()
                logger.error("Device event refused; operators alerted", metadata: metadata)
            } else {
                countDeviceEvent(applied: false, event)
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

    /// The log metadata that names a refused offer or accept.
    static func logMetadata(order: String, agent: String, _ refusal: AssignmentRefusal) -> Logger.Metadata {
        [
            "order.id": "\(order)", "agent.id": "\(agent)", "dispatch.refusal": "\(refusal.code)",
            "dispatch.reason": "\(refusal.description)",
        ]
    }

    /// The log metadata that names a device event.
    static func logMetadata(_ event: DeviceEvent) -> Logger.Metadata {
        [
            "agent.id": "\(event.agent)", "event.seq": "\(event.seq)", "order.id": "\(event.order)",
            "event.type": "\(event.type)",
        ]
    }
}
