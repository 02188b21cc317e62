import DabbaCore
import DabbaMQTT
import DabbaProtocol
import DabbaSQLite

/// Where the agent's task sync with the hub is (see ``AgentEngine/requestTaskSync()``).
struct TaskSyncState {
    /// The latest request not answered yet.
    struct Pending {
        var id: String
        /// Wall-clock time it was sent (for the logs).
        var sentAt: Int64
        /// Monotonic time at which an unanswered request is sent again.
        var retryAt: Int64
        /// Orders whose task changed on the device since the request was sent (a task message or the agent's own
        /// action): the answer neither withdraws nor overwrites them, the device's state is the newer one.
        var touched: Set<String> = []
    }
    var pending: Pending?
    /// Requests sent since the last connect without an answer (the retry backoff grows with it).
    var unanswered = 0
}

/// One local task as the sync sees it.
struct OpenTask: Equatable {
    var order: String
    var status: String
}

/// What one sync answer changes on the device.
struct TaskSyncPlan: Equatable {
    /// Listed tasks that apply over the device's status (``AgentEngine/taskMessageApplies(_:over:)``).
    var saves: [AgentTask] = []
    /// Open tasks the hub no longer lists: cancelled.
    var withdrawn: [OpenTask] = []
    /// Orders the answer says something about but that changed on the device after the request: left as they are.
    var kept: [String] = []
}

/// Tasks survive disconnects: a clean MQTT session loses the task messages published while the device was away, so
/// on every (re)connect the agent asks the hub for the full list (`…/sync`) and reconciles its store with the answer.
extension AgentEngine {
    /// First retry of an unanswered request (no hub was subscribed, say), then doubling up to `maximum`.
    static let syncRetry = (initial: Duration.seconds(15), maximum: Duration.seconds(300))

    /// On every (re)connect, after the subscriptions are in place: a sync request with a fresh id.
    func requestTaskSync() {
        taskSync.unanswered = 0
        sendTaskSyncRequest()
    }

    /// From the main loop: sends the request again (with a new id) when it has waited past its retry time.
    func retryTaskSync(now: Int64 = monotonicMilliseconds()) {
        guard connected, let pending = taskSync.pending, now >= pending.retryAt else { return }
        logger.notice(
            "No answer to the task sync request; asking again",
            metadata: ["sync.id": "\(pending.id)", "sync.unanswered": "\(taskSync.unanswered)"])
        sendTaskSyncRequest()
    }

    private func sendTaskSyncRequest() {
        let id = TaskSync.makeID()
        let delay = Backoff.delay(
            afterFailures: taskSync.unanswered, initial: Self.syncRetry.initial, maximum: Self.syncRetry.maximum)
        taskSync.unanswered += 1
        taskSync.pending = .init(
            id: id, sentAt: wallClockMilliseconds(), retryAt: monotonicMilliseconds() + delay.dabbaMilliseconds)
        let request = TaskSyncRequest(agent: configuration.agentID, id: id)
        do {
            _ = try mqtt.publish(
                topic: Topics.sync(agent: configuration.agentID), payload: request.jsonBytes(),
                qos: .atLeastOnce)
            logger.debug("Task sync requested", metadata: ["sync.id": "\(id)"])
        } catch {
            // Asked again at the retry time (or at the next connect).
            counters.publishFailed += 1
            logger.warning("Cannot send the task sync request", metadata: ["mqtt.error": "\(error)"])
        }
    }

    /// Remembers that `order`'s task changed on the device while a sync request is out.
    func noteTaskChanged(_ order: String) {
        taskSync.pending?.touched.insert(order)
    }

    /// A message on `…/tasks`: a sync answer or a single task message.
    func handleTasksTopic(_ payload: [UInt8]) {
        if TaskSync.isAnswer(payload) { handleTaskSync(payload) } else { handleTask(payload) }
    }

    /// Applies a sync answer to the latest request; a malformed one is counted (`tasksMalformed`) and ignored, one
    /// to an older request (or a second hub's copy) is ignored.
    func handleTaskSync(_ payload: [UInt8]) {
        let answer: TaskSyncAnswer
        do {
            answer = try TaskSyncAnswer.parse(payload, agent: configuration.agentID)
        } catch {
            counters.tasksMalformed += 1
            logger.warning("Ignoring malformed task sync answer", metadata: ["task.error": "\(error)"])
            return
        }
        guard let pending = taskSync.pending, pending.id == answer.id else {
            logger.debug("Ignoring a task sync answer to an older request", metadata: ["sync.id": "\(answer.id)"])
            return
        }
        do {
            var current: [String: String] = [:]
            for task in answer.tasks { current[task.order] = try outbox.task(order: task.order)?.status }
            let plan = Self.syncPlan(
                listed: answer.tasks, current: current,
                open: try outbox.openTasks().map { OpenTask(order: $0.order, status: $0.status) },
                touched: pending.touched)
            let withdrawn = try outbox.applySync(
                saves: plan.saves, withdrawn: plan.withdrawn.map { ($0.order, $0.status) },
                now: wallClockMilliseconds())
            taskSync = TaskSyncState()
            for order in withdrawn {
                logger.notice("Task withdrawn while offline: cancelled", metadata: ["task.order": "\(order)"])
            }
            logger.info(
                "Tasks synced with the hub",
                metadata: [
                    "sync.id": "\(answer.id)", "sync.listed": "\(answer.tasks.count)",
                    "sync.applied": "\(plan.saves.count)", "sync.withdrawn": "\(withdrawn.count)",
                    "sync.kept": "\(plan.kept.count)",
                    "sync.wait_ms": "\(max(0, wallClockMilliseconds() - pending.sentAt))",
                ])
        } catch {
            // The request stays pending: the retry asks again.
            outboxFailed(error, while: "applying a task sync")
        }
    }

    /// The reconcile rules, pure. `current` is the device's status of each listed order it knows, `open` every
    /// task not finished on the device, `touched` the orders changed on the device since the request was sent.
    ///
    /// - A listed task applies with the rules of single task messages (``taskMessageApplies(_:over:)``), unless it
    ///   was touched: the device then holds a newer word (a cancellation or an offer that crossed the answer, or the
    ///   agent's own action).
    /// - An open task (offered, assigned, accepted, picked up) that is not listed and was not touched was withdrawn
    ///   while the device was away (cancelled, reassigned, lapsed): it becomes cancelled.
    ///
    /// "Since the request was sent" is the engine's own order of events, not the wall clock, which may jump when a
    /// device without a real-time clock synchronises it after a reboot.
    static func syncPlan(listed: [TaskMessage], current: [String: String], open: [OpenTask], touched: Set<String>)
        -> TaskSyncPlan
    {
        var plan = TaskSyncPlan()
        for task in listed {
            if touched.contains(task.order) {
                plan.kept.append(task.order)
                continue
            }
            let status = taskStatus(task.type)
            if taskMessageApplies(status, over: current[task.order]) {
                plan.saves.append(AgentTask(status: status, task: task))
            }
        }
        let listedOrders = Set(listed.map(\.order))
        for task in open where !listedOrders.contains(task.order) {
            if touched.contains(task.order) {
                plan.kept.append(task.order)
            } else {
                plan.withdrawn.append(task)
            }
        }
        return plan
    }
}
