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

    /// The agent's tasks as a sync answer lists them (``AgentTasks/current(agent:store:)``); nil when there are more
    /// than ``TaskSync/maxTasks``.
    static func syncTasks(agent: String, store: any HubStore) async throws(StoreError) -> [TaskMessage]? {
        try await AgentTasks.current(agent: agent, store: store)?.map(\.message)
    }
}
