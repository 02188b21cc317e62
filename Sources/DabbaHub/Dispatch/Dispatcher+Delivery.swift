import DabbaCore
import DabbaProtocol
import HubModel
import Logging

/// Offers and assignments are delivered at least once, and orders that wait too long are flagged.
///
/// A task message is published once when it is decided, and again:
/// - after every (re)connect of the hub to the broker, the first at start (``resendTasks()``): every pending offer
///   and every current assignment (assigned or picked up), since whatever was published while the hub was cut off,
///   or in the session that ended, may never have reached the broker;
/// - at every round, each pending offer no publish ever reached the broker session for (``Offer/sent`` nil);
/// - on the device's own request (`…/sync`, on every reconnect of the device).
///
/// The device ignores a repeat that would move its task backwards, so repeats are harmless. Whether an offer reached
/// the device decides what its lapse means (``Offer/lapseExcludes``).
extension Dispatcher {
    /// The alert kind for an order waiting longer than `dispatch-wait-alert`.
    static var waitAlertKind: String { "dispatch_wait" }

    /// Sends every pending offer and current assignment to its agent's device again, in turn with the rounds (so a
    /// re-sent offer never follows the cancellation of a round that withdrew it). Called when the hub's MQTT client
    /// (re)connects; a store failure is logged, and the next reconnect or the device's sync covers it.
    package func resendTasks() async {
        await serialized { await $0.runResend() }
    }

    private func runResend() async {
        do {
            try await sendAllTasks()
        } catch {
            logger.error("Cannot send the tasks again after a reconnect", metadata: ["error": "\(error)"])
        }
    }

    private func sendAllTasks() async throws {
        var places = PickupPlaces()
        var assignments = 0
        var offers = 0
        for (agent, carried) in try await store.agentLoads() where !agent.isEmpty {
            for order in carried {
                let pickup = try await places.place(of: order, store: store)
                guard orders.notifier.task(.assigned, agent: agent, order: order, pickup: pickup) else { continue }
                metrics.tasksResent(TaskMessage.Kind.assigned.rawValue).increment()
                assignments += 1
            }
        }
        for offer in try await store.pendingOffers() {
            // An offer of an order assigned or finished meanwhile is withdrawn by the next round, not re-sent.
            guard let order = try await store.order(id: offer.order), order.agentID == nil, !order.status.isTerminal
            else { continue }
            guard try await publish(offer, order: order, pickup: try await places.place(of: order, store: store))
            else { continue }
            metrics.tasksResent(TaskMessage.Kind.offer.rawValue).increment()
            offers += 1
        }
        logger.info(
            "Tasks sent again after connecting to the broker",
            metadata: ["dispatch.offers": "\(offers)", "dispatch.assignments": "\(assignments)"])
    }

    /// Publishes `offer` on its agent's `tasks` topic and, when the broker session took it, records when
    /// (``Offer/sent``; the first time is kept). Returns whether it was taken.
    @discardableResult
    func publish(_ offer: Offer, order: OrderRecord, pickup: TaskMessage.Place?) async throws -> Bool {
        let published = publishOffer(offer, order: order, pickup: pickup)
        if published { try await store.markOfferSent(order: offer.order, agent: offer.agent, at: now()) }
        return published
    }

    /// Publishes `offer` on its agent's `tasks` topic; true when the broker session took it (the caller records
    /// ``Offer/sent``).
    func publishOffer(_ offer: Offer, order: OrderRecord, pickup: TaskMessage.Place?) -> Bool {
        orders.notifier.task(
            .offer, agent: offer.agent, order: order, pickup: pickup,
            expiresAt: Timestamp.format(milliseconds: offer.deadline))
    }

    /// Each round, while the hub has a broker session: pending offers that no publish reached the session for (it
    /// was down when they were made) are published now.
    func resendUnsentOffers() async throws {
        guard orders.notifier.isConnected else { return }
        var places = PickupPlaces()
        for offer in try await store.unsentOffers() {
            guard let order = try await store.order(id: offer.order), order.agentID == nil, !order.status.isTerminal
            else { continue }
            if try await publish(offer, order: order, pickup: try await places.place(of: order, store: store)) {
                metrics.tasksResent(TaskMessage.Kind.offer.rawValue).increment()
            }
        }
    }

    /// An order waiting for an agent (confirmed, preparing or ready, none assigned — whether or not an offer is
    /// pending) for `dispatch-wait-alert` or longer, counted from the restaurant's confirmation or its last
    /// unassignment, raises one `dispatch_wait` operator alert (`GET /v1/alerts`), once per order.
    func alertLongWaits() async throws {
        guard let limit = settings.waitAlert else { return }
        let t = now()
        let waiting = try await store.ordersWaiting(
            since: t - limit.dabbaMilliseconds, withoutAlert: Self.waitAlertKind)
        for (order, since) in waiting {
            let waited = (t - since) / 1000
            guard
                try await store.raiseAlert(
                    kind: Self.waitAlertKind, agent: nil, order: order,
                    message: "order \(order) has waited \(waited) s for an agent")
            else { continue }
            metrics.alerts(Self.waitAlertKind).increment()
            logger.error(
                "Order waiting too long for an agent",
                metadata: ["order.id": "\(order)", "dispatch.waited_s": "\(waited)"])
        }
    }
}

/// Restaurants' pickup places, read once per restaurant while sending tasks.
struct PickupPlaces {
    private var known: [String: TaskMessage.Place?] = [:]

    mutating func place(of order: OrderRecord, store: some RestaurantDirectory) async throws -> TaskMessage.Place? {
        if let place = known[order.restaurantID] { return place }
        let place = try await store.restaurantSummary(id: order.restaurantID)?.place
        known[order.restaurantID] = place
        return place
    }
}
