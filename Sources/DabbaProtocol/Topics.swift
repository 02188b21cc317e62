/// MQTT topic names from DESIGN.md. Agent ids and order ids are validated before they enter a topic.
public enum Topics {
    public static let prefix = "dabba/v1"

    public static func fix(agent: String) -> String { "\(prefix)/agents/\(agent)/fix" }
    public static func backlog(agent: String) -> String { "\(prefix)/agents/\(agent)/backlog" }
    public static func events(agent: String) -> String { "\(prefix)/agents/\(agent)/events" }
    public static func state(agent: String) -> String { "\(prefix)/agents/\(agent)/state" }
    public static func ack(agent: String) -> String { "\(prefix)/agents/\(agent)/ack" }
    public static func tasks(agent: String) -> String { "\(prefix)/agents/\(agent)/tasks" }
    /// agent → hub: a ``TaskSyncRequest`` on every (re)connect; answered on ``tasks(agent:)``.
    public static func sync(agent: String) -> String { "\(prefix)/agents/\(agent)/sync" }
    public static func orderStatus(order: String) -> String { "\(prefix)/orders/\(order)/status" }

    /// The lane of an agent topic, and the agent id it names; nil when `topic` is not an agent topic.
    public static func parseAgentTopic(_ topic: String) -> (agent: String, lane: String)? {
        let parts = topic.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "dabba", parts[1] == "v1", parts[2] == "agents",
            AgentID.isValid(String(parts[3]))
        else { return nil }
        return (String(parts[3]), String(parts[4]))
    }
}

/// Agent ids: 1–64 characters from `[A-Za-z0-9._-]`, so they are safe in topics, file names and ACL patterns.
public enum AgentID {
    public static func isValid(_ id: String) -> Bool {
        guard !id.isEmpty, id.utf8.count <= 64 else { return false }
        return id.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2E || c == 0x5F
                || c == 0x2D
        }
    }
}
