import DabbaCore
import DabbaProtocol
import HubModel

/// What an agent has to do now: every order assigned to it (assigned or picked up: `type` `assigned`) and every
/// order with a pending offer to it (`type` `offer` with its deadline), oldest first, each as the task message the
/// device is sent (``OrderNotifier/taskMessage(_:agent:order:pickup:expiresAt:)``) with the order's status. What a
/// device's task sync is answered with, and what the rider's web view shows (`GET /v1/agents/{id}/tasks`).
enum AgentTasks {
    struct Task: Sendable {
        var message: TaskMessage
        var status: OrderStatus
    }

    /// Nil when there are more than ``TaskSync/maxTasks``.
    static func current(agent: String, store: some DispatchStore) async throws(StoreError) -> [Task]? {
        let assigned = try await store.orders(
            OrderFilter(agentID: agent, statuses: [.assigned, .pickedUp]), after: nil, limit: TaskSync.maxTasks + 1)
        let offers = try await store.pendingOffers().filter { $0.agent == agent }
        guard assigned.count + offers.count <= TaskSync.maxTasks else { return nil }
        var places: [String: TaskMessage.Place?] = [:]
        func pickup(_ order: OrderRecord) async throws(StoreError) -> TaskMessage.Place? {
            if let known = places[order.restaurantID] { return known }
            let place = try await store.restaurantSummary(id: order.restaurantID)?.place
            places[order.restaurantID] = place
            return place
        }
        var tasks: [Task] = []
        for order in assigned.sorted(by: { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }) {
            let message = OrderNotifier.taskMessage(
                .assigned, agent: agent, order: order, pickup: try await pickup(order))
            tasks.append(Task(message: message, status: order.status))
        }
        for offer in offers {
            // An offer of an order assigned or finished meanwhile is withdrawn by the next dispatch round.
            guard let order = try await store.order(id: offer.order), order.agentID == nil, !order.status.isTerminal
            else { continue }
            let message = OrderNotifier.taskMessage(
                .offer, agent: agent, order: order, pickup: try await pickup(order),
                expiresAt: Timestamp.format(milliseconds: offer.deadline))
            tasks.append(Task(message: message, status: order.status))
        }
        return tasks
    }
}
