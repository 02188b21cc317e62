import DabbaCore
import DabbaMQTT
import DabbaProtocol
import HubModel
import Logging

/// Task sync: a device that (re)connects asks on `dabba/v1/agents/{agent}/sync` for every order it holds, because
/// task messages published while it was away were lost with its clean MQTT session. The request arrives through
/// ingest's subscriptions (shared with `ingest-group`, so exactly one hub answers); the answer goes on the agent's
/// `tasks` topic, read from the store after the request arrived.
extension IngestService {
    /// Answers `request` with the agent's current tasks. A store failure or an impossible list (more than
    /// ``TaskSync/maxTasks``) is logged and not answered: the device keeps what it has and asks again later.
    func answerSync(_ request: TaskSyncRequest) async {
        let tasks: [TaskMessage]?
        do {
            tasks = try await Self.syncTasks(agent: request.agent, store: store)
        } catch {
            logger.error(
                "Cannot read the tasks for a sync request; not answered",
                metadata: ["agent.id": "\(request.agent)", "error": "\(error)"])
            return
        }
        guard let tasks else {
            logger.error(
                "More tasks than a sync answer may list; not answered",
                metadata: ["agent.id": "\(request.agent)", "sync.max_tasks": "\(TaskSync.maxTasks)"])
            return
        }
        let answer = TaskSyncAnswer(agent: request.agent, id: request.id, tasks: tasks)
        do {
            _ = try mqtt.publish(
                topic: Topics.tasks(agent: request.agent), payload: PayloadCoding.encode(answer), qos: .atLeastOnce)
        } catch {
            // The device asks again (its retry), and the hub sends offers and assignments again on reconnect.
            metrics.taskPublishFailures("sync").increment()
            logger.warning(
                "Cannot publish a task sync answer", metadata: ["agent.id": "\(request.agent)", "error": "\(error)"])
            return
        }
        await markSent(answer)
        logger.debug(
            "Task sync answered",
            metadata: ["agent.id": "\(request.agent)", "sync.id": "\(request.id)", "sync.tasks": "\(tasks.count)"])
    }

    /// Every order assigned to `agent` (assigned or picked up: `type` `assigned`) and every order with a pending
    /// offer to it (`type` `offer` with its deadline), oldest first, built like the single task messages
    /// (``OrderNotifier/taskMessage(_:agent:order:pickup:expiresAt:)``). Nil when there are more than
    /// ``TaskSync/maxTasks``.
    static func syncTasks(agent: String, store: any HubStore) async throws(StoreError) -> [TaskMessage]? {
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
        var tasks: [TaskMessage] = []
        for order in assigned.sorted(by: { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }) {
            tasks.append(
                OrderNotifier.taskMessage(.assigned, agent: agent, order: order, pickup: try await pickup(order)))
        }
        for offer in offers {
            // An offer of an order assigned or finished meanwhile is withdrawn by the next dispatch round.
            guard let order = try await store.order(id: offer.order), order.agentID == nil, !order.status.isTerminal
            else { continue }
            tasks.append(
                OrderNotifier.taskMessage(
                    .offer, agent: agent, order: order, pickup: try await pickup(order),
                    expiresAt: Timestamp.format(milliseconds: offer.deadline)))
        }
        return tasks
    }
}
