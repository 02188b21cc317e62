import DabbaProtocol
import Synchronization

/// Agents' stored states (`…/state` payloads, JSON) as last decoded, by agent: a state is decoded again only when
/// its stored bytes changed. A dispatch round reads every agent (5,000 JSON decodes took ~40 ms of each round) and
/// every offer checks its agent's state, while an agent's state changes only when its device publishes a new one.
///
/// Always exact: an entry is used only when the bytes are the same. At most ``capacity`` agents are kept; past that
/// the memo starts over (agents are rarely deleted, so this bounds memory against a churn of ids, not a fleet).
package final class AgentStateMemo: Sendable {
    private struct Entry {
        var bytes: [UInt8]
        var state: AgentState
    }

    private let entries = Mutex<[String: Entry]>([:])
    /// Agents kept at most.
    package let capacity: Int

    package init(capacity: Int = 200_000) {
        self.capacity = capacity
    }

    /// The state `bytes` (stored for `agent`) decode to.
    package func state(agent: String, bytes: [UInt8]) throws(PayloadError) -> AgentState {
        if let known = entries.withLock({ $0[agent] }), known.bytes == bytes { return known.state }
        let state = try AgentState.parse(bytes)
        entries.withLock { entries in
            if entries.count >= capacity && entries[agent] == nil { entries.removeAll(keepingCapacity: true) }
            entries[agent] = Entry(bytes: bytes, state: state)
        }
        return state
    }

    /// Agents currently kept.
    package var count: Int { entries.withLock { $0.count } }
}
