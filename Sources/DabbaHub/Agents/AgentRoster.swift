import DabbaProtocol
import HubModel

/// Adding delivery agents (devices): the id's and profile's rules, then the repository. `POST /delivery` and
/// `dabba-hub agents provision` both add agents through this; ingest and dispatch change agents' state through their
/// own services.
package struct AgentRoster<Repository: AgentRepository>: Sendable {
    package let repository: Repository

    package init(repository: Repository) { self.repository = repository }

    /// Adds the agent `id` (``AgentID``: 1–64 letters, digits, `.`, `_` or `-`) with an optional display name and
    /// vehicle (each at most 100 characters). Throws ``APIError``: `invalid` naming the field, `conflict` when the id
    /// exists.
    @discardableResult
    package func add(id: String, name: String? = nil, vehicle: String? = nil) async throws -> AgentRecord {
        guard AgentID.isValid(id) else { throw APIError.invalid("id: 1–64 letters, digits, '.', '_' or '-'") }
        try APIError.checkFreeText(name, field: "name", limit: 100)
        try APIError.checkFreeText(vehicle, field: "vehicle", limit: 100)
        var record: AgentRecord
        do {
            record = try await repository.createAgent(id: id, name: name)
        } catch {
            if error.code == .conflict { throw APIError.conflict("agent \(id) exists") }
            throw error
        }
        if vehicle != nil {
            try await repository.updateAgentProfile(id: id, name: nil, vehicle: vehicle)
            record = try await repository.agent(id: id) ?? record
        }
        return record
    }
}
