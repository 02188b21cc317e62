import DabbaProtocol
import HubModel

/// An agent's state as relayed: with the time (Unix ms) the hub that ingested it received it, which orders states
/// of one agent received by different hubs.
package struct RelayedState: Codable, Sendable, Equatable {
    package var state: AgentState
    package var at: Int64

    package init(state: AgentState, at: Int64) {
        self.state = state
        self.at = at
    }
}

/// One message on `dabba/v1/hubs/{hub}/fleet`: positions and states one hub ingested, newest per agent.
package struct RelayMessage: Codable, Sendable, Equatable {
    /// The relay format's version; a hub refuses any other (`unsupported_version`).
    package static let version = 1
    /// Largest payload accepted (as for an agent's message).
    package static let maxPayload = IngestValidator.maxPayload

    package var v: Int
    package var hub: String
    package var positions: [StoredPosition]
    package var states: [RelayedState]

    package init(hub: String, positions: [StoredPosition], states: [RelayedState]) {
        v = Self.version
        self.hub = hub
        self.positions = positions
        self.states = states
    }

    /// `positions` and `states` in messages of at most `maxEntries` entries each.
    static func chunks(hub: String, positions: [StoredPosition], states: [RelayedState], maxEntries: Int)
        -> [RelayMessage]
    {
        var messages: [RelayMessage] = []
        var next = RelayMessage(hub: hub, positions: [], states: [])
        func add(_ body: (inout RelayMessage) -> Void) {
            if next.positions.count + next.states.count == maxEntries {
                messages.append(next)
                next = RelayMessage(hub: hub, positions: [], states: [])
            }
            body(&next)
        }
        for position in positions { add { $0.positions.append(position) } }
        for state in states { add { $0.states.append(state) } }
        if next.positions.count + next.states.count > 0 { messages.append(next) }
        return messages
    }

    /// Decodes and checks a relay message from hub `hub` (the one its topic names): at most ``maxPayload`` bytes,
    /// this ``version``, the sender named in the topic, at most ``ClusterRelay/maxEntries`` entries, every agent id
    /// valid, every position passing ingest's checks (``IngestValidator/check(_:)``), every state of the agents'
    /// payload version with a receive time ≥ 0. Throws ``PayloadError`` saying why a message is refused; never
    /// traps on any input.
    package static func parse(_ payload: [UInt8], hub: String) throws(PayloadError) -> RelayMessage {
        let message = try PayloadCoding.decode(RelayMessage.self, from: payload, maxBytes: maxPayload)
        guard message.v == version else { throw PayloadError(.unsupportedVersion, "v \(message.v)") }
        guard message.hub == hub else { throw PayloadError(.agentMismatch, "relay from \(message.hub) on \(hub)") }
        guard message.positions.count + message.states.count <= ClusterRelay.maxEntries else {
            throw PayloadError(.tooLarge, "\(message.positions.count + message.states.count) entries")
        }
        for position in message.positions {
            guard AgentID.isValid(position.agent) else { throw PayloadError(.invalidField, "agent id") }
            try IngestValidator.check(position)
        }
        for entry in message.states {
            guard AgentID.isValid(entry.state.agent), entry.state.v == payloadVersion, entry.at >= 0 else {
                throw PayloadError(.invalidField, "state agent, version or time")
            }
        }
        return message
    }
}
