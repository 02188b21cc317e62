/// agent → hub on `dabba/v1/agents/{agent}/sync` (QoS 1): "tell me every task I hold now".
///
/// `{"v":1,"agent":"a-17","id":"9f3c…"}`. The agent sends one on every (re)connect, after its subscriptions are in
/// place, with a fresh random `id`; the hub answers on `…/tasks` with a ``TaskSyncAnswer`` echoing the id.
public struct TaskSyncRequest: Codable, Sendable, Equatable {
    public var v: Int
    public var agent: String
    /// The request's nonce: 1–64 characters from `[A-Za-z0-9._-]`.
    public var id: String

    public init(agent: String, id: String) {
        self.v = payloadVersion
        self.agent = agent
        self.id = id
    }

    /// Largest request payload accepted (a valid one is under 200 bytes).
    public static let maxBytes = 4096

    /// Decodes and checks a request published on `agent`'s sync topic.
    public static func parse(_ bytes: [UInt8], agent: String) throws(PayloadError) -> TaskSyncRequest {
        let request = try PayloadCoding.decode(TaskSyncRequest.self, from: bytes, maxBytes: maxBytes)
        guard request.v == payloadVersion else { throw PayloadError(.unsupportedVersion, "v \(request.v)") }
        guard request.agent == agent else { throw PayloadError(.agentMismatch, "sync for \(request.agent)") }
        guard TaskSync.isValidID(request.id) else { throw PayloadError(.invalidField, "id") }
        return request
    }
}

/// hub → agent on `dabba/v1/agents/{agent}/tasks` (QoS 1): the answer to a ``TaskSyncRequest``.
///
/// `{"v":1,"agent":"a-17","type":"sync","id":"9f3c…","tasks":[TaskMessage…]}`: every order offered to the agent
/// (pending offers, `type` `offer` with `expiresAt`) or assigned to it (assigned or picked up, `type` `assigned`)
/// when the hub read its store after receiving the request. An order not listed is not the agent's any more.
public struct TaskSyncAnswer: Codable, Sendable, Equatable {
    public var v: Int
    public var agent: String
    /// Always ``TaskSync/answerType`` (`"sync"`): what tells this message from a ``TaskMessage`` on `…/tasks`.
    public var type: String
    public var id: String
    public var tasks: [TaskMessage]

    public init(agent: String, id: String, tasks: [TaskMessage]) {
        self.v = payloadVersion
        self.agent = agent
        self.type = TaskSync.answerType
        self.id = id
        self.tasks = tasks
    }

    /// Decodes and checks an answer received on `agent`'s tasks topic: version, type, agent, id, at most
    /// ``TaskSync/maxTasks`` tasks, each an offer or assignment for this agent with a valid order id (one order once).
    public static func parse(_ bytes: [UInt8], agent: String) throws(PayloadError) -> TaskSyncAnswer {
        let answer = try PayloadCoding.decode(TaskSyncAnswer.self, from: bytes, maxBytes: TaskSync.maxAnswerBytes)
        guard answer.v == payloadVersion else { throw PayloadError(.unsupportedVersion, "v \(answer.v)") }
        guard answer.type == TaskSync.answerType else { throw PayloadError(.invalidField, "type \(answer.type)") }
        guard answer.agent == agent else { throw PayloadError(.agentMismatch, "sync answer for \(answer.agent)") }
        guard TaskSync.isValidID(answer.id) else { throw PayloadError(.invalidField, "id") }
        guard answer.tasks.count <= TaskSync.maxTasks else {
            throw PayloadError(.tooLarge, "\(answer.tasks.count) tasks")
        }
        var orders = Set<String>()
        for task in answer.tasks {
            try task.validate(agent: agent)
            guard task.type != .cancelled else {
                throw PayloadError(.invalidField, "a sync answer lists no cancellation")
            }
            guard orders.insert(task.order).inserted else {
                throw PayloadError(.invalidField, "order \(task.order) twice")
            }
        }
        return answer
    }
}

/// Bounds and names shared by both ends of the task sync.
public enum TaskSync {
    /// The `type` of a ``TaskSyncAnswer``.
    public static let answerType = "sync"
    /// Most tasks one answer lists (an agent carries at most `agent-capacity` ≤ 10 orders and one offer); a hub
    /// holding more for one agent answers nothing rather than a truncated list the device would misread.
    public static let maxTasks = 100
    /// Largest answer payload accepted (below the broker's 256 KiB `max_packet_size`).
    public static let maxAnswerBytes = 200 * 1024

    /// Request ids: 1–64 characters from `[A-Za-z0-9._-]` (the agent id alphabet).
    public static func isValidID(_ id: String) -> Bool { AgentID.isValid(id) }

    /// A fresh random request id: 32 hex digits.
    public static func makeID() -> String {
        var generator = SystemRandomNumberGenerator()
        let high = String(generator.next() as UInt64, radix: 16)
        let low = String(generator.next() as UInt64, radix: 16)
        return String(repeating: "0", count: 16 - high.count) + high + String(repeating: "0", count: 16 - low.count)
            + low
    }

    /// Whether a payload on `…/tasks` is a sync answer (`"type":"sync"`) rather than a ``TaskMessage``; false for
    /// anything that is not a JSON object with a string `type`, which the task path then counts as malformed.
    public static func isAnswer(_ bytes: [UInt8]) -> Bool {
        struct Kind: Decodable { var type: String? }
        return (try? PayloadCoding.decode(Kind.self, from: bytes, maxBytes: maxAnswerBytes))?.type == answerType
    }
}

extension TaskMessage {
    /// Longest order id a device accepts in a task.
    public static let maxOrderBytes = 128

    /// Checks a task received by `agent`: this version, this agent, a non-empty order id of at most
    /// ``maxOrderBytes`` bytes.
    public func validate(agent: String) throws(PayloadError) {
        guard v == payloadVersion else { throw PayloadError(.unsupportedVersion, "task v \(v)") }
        guard self.agent == agent else { throw PayloadError(.agentMismatch, "task for \(self.agent)") }
        guard !order.isEmpty, order.utf8.count <= Self.maxOrderBytes else {
            throw PayloadError(.invalidField, "order id empty or longer than \(Self.maxOrderBytes) bytes")
        }
    }
}
