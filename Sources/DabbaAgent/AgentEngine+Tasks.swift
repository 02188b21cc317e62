import DabbaCore
import DabbaProtocol

/// A refused control command; `code` is stable for scripts (and maps to the CLI's exit status).
public struct ControlError: Error, Codable, Sendable, Equatable {
    public var code: String
    public var message: String
    public init(_ code: String, _ message: String) {
        self.code = code
        self.message = message
    }
    public static func notFound(_ order: String) -> ControlError {
        ControlError("not_found", "no task for order \(order)")
    }
}

extension AgentEngine {
    /// The agent's actions and the task states each is allowed from.
    static let transitions: [AgentEvent.Kind: (from: Set<String>, to: String)] = [
        .accepted: (["offered", "assigned"], "accepted"),
        .rejected: (["offered", "assigned"], "rejected"),
        .pickedUp: (["assigned", "accepted"], "picked_up"),
        .delivered: (["picked_up"], "delivered"),
    ]

    /// Whether a hub message saying `incoming` (offered, assigned, cancelled) may replace the device's `current`
    /// status. The device's own progress wins: the hub's `assigned` that follows an accept, or an offer or
    /// assignment redelivered after a pickup, leaves the task where the agent took it. A new offer or assignment
    /// after a rejection or cancellation (the order came back to this agent) applies; a cancellation applies to
    /// anything not yet delivered.
    static func taskMessageApplies(_ incoming: String, over current: String?) -> Bool {
        guard let current else { return true }
        switch incoming {
        case "offered": return ["offered", "rejected", "cancelled"].contains(current)
        case "assigned": return ["offered", "assigned", "rejected", "cancelled"].contains(current)
        default: return current != "delivered"
        }
    }

    /// The device status a task message of `kind` sets.
    static func taskStatus(_ kind: TaskMessage.Kind) -> String {
        switch kind {
        case .offer: "offered"
        case .assigned: "assigned"
        case .cancelled: "cancelled"
        }
    }

    /// Stores a task message from the hub; malformed ones are counted and ignored.
    func handleTask(_ payload: [UInt8]) {
        do {
            let message = try PayloadCoding.decode(TaskMessage.self, from: payload, maxBytes: 64 * 1024)
            try message.validate(agent: configuration.agentID)
            noteTaskChanged(message.order)
            let status = Self.taskStatus(message.type)
            let current = try outbox.task(order: message.order)?.status
            guard Self.taskMessageApplies(status, over: current) else {
                // A redelivered or late message (QoS 1, a reconnect) never takes a task back to an earlier state.
                logger.debug(
                    "Task message behind the device's state",
                    metadata: [
                        "task.order": "\(message.order)", "task.status": "\(current ?? "")",
                        "task.message": "\(status)",
                    ])
                return
            }
            try outbox.saveTask(AgentTask(status: status, task: message), now: wallClockMilliseconds())
            logger.info("Task received", metadata: ["task.order": "\(message.order)", "task.status": "\(status)"])
        } catch let error as PayloadError {
            counters.tasksMalformed += 1
            logger.warning("Ignoring malformed task", metadata: ["task.error": "\(error)"])
        } catch {
            outboxFailed(error, while: "storing a task")
        }
    }

    /// Tasks to show on the device.
    public func listTasks() throws(ControlError) -> [AgentTask] {
        do {
            return try outbox.tasks(since: wallClockMilliseconds() - 86_400_000)
        } catch {
            throw ControlError("storage", "cannot read tasks: \(error.message)")
        }
    }

    /// Records the agent's action on `order` (durably, with a seq) and sends the event.
    public func act(_ kind: AgentEvent.Kind, order: String, reason: String? = nil, cashCollected: Int64? = nil)
        throws(ControlError) -> AgentEvent
    {
        let task: AgentTask?
        do { task = try outbox.task(order: order) } catch { throw ControlError("storage", error.message) }
        guard let task else { throw ControlError.notFound(order) }
        guard let rule = Self.transitions[kind], rule.from.contains(task.status) else {
            throw ControlError("conflict", "order \(order) is \(task.status); cannot mark it \(kind.rawValue)")
        }
        var event = AgentEvent(
            agent: configuration.agentID, seq: 0, time: Timestamp.format(milliseconds: wallClockMilliseconds()),
            order: order, type: kind)
        event.reason = reason
        event.cashCollected = cashCollected
        noteTaskChanged(order)
        return try record(event, task: (order, rule.to))
    }

    /// Starts or ends the agent's shift from the device: an event with its own seq, like the task actions (the hub
    /// applies the newest shift change, whether it came from here or over REST).
    public func shift(start: Bool) throws(ControlError) -> AgentEvent {
        let event = AgentEvent(
            agent: configuration.agentID, seq: 0, time: Timestamp.format(milliseconds: wallClockMilliseconds()),
            order: "", type: start ? .shiftStarted : .shiftEnded)
        return try record(event, task: nil)
    }

    /// Commits `event` with the next seq (and the task's new status) to the outbox, then sends it when connected.
    private func record(_ event: AgentEvent, task: (order: String, status: String)?) throws(ControlError) -> AgentEvent
    {
        var event = event
        let unnumbered = event
        do {
            let row = try outbox.recordAction(task: task, time: wallClockMilliseconds()) { seq in
                var e = unnumbered
                e.seq = seq
                return e.jsonBytes()
            }
            event.seq = row.seq
            counters.eventsRecorded += 1
            storageError = nil
            if connected { publishLive(row) }
        } catch {
            outboxFailed(error, while: "recording an action")
            throw ControlError("storage", "cannot record the action: \(error.message)")
        }
        return event
    }
}
