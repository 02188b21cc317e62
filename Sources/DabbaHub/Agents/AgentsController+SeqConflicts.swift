import DabbaProtocol
import HubModel
import Hummingbird

extension AgentsController {
    /// `GET /v1/agents/{id}/seq-conflicts?limit=&cursor=` (operators): fixes and events that arrived under a seq
    /// already stored with a different payload, oldest first, paged like positions.
    @Sendable func seqConflicts(_ request: Request, context: HubRequestContext) async throws -> SeqConflictsPage {
        let id = try await existingAgent(try context.parameters.require("id")).id
        let query = request.uri.queryParameters
        let limit = try Self.pageLimit(query)
        var after: Int64?
        if let text = query.get("cursor"), !text.isEmpty {
            guard let value = Int64(text), value >= 0 else {
                throw APIError.badRequest("cursor: not a cursor this API returned")
            }
            after = value
        }
        var rows = try await repository.seqConflicts(agent: id, after: after, limit: limit + 1)
        let more = rows.count > limit
        if more { rows.removeLast() }
        return SeqConflictsPage(
            conflicts: rows.map(SeqConflictsPage.Entry.init), next: more ? rows.last.map { String($0.id) } : nil)
    }
}

/// One page of seq conflicts; `next` is always present (null on the last page).
struct SeqConflictsPage: ResponseEncodable {
    /// One conflict: the row kept under the seq (`stored`) and the one that arrived later (`arriving`), each a
    /// position (fixes) or the agent's event message (events).
    struct Entry: Encodable {
        var id: Int64
        var seq: Int64
        var kind: String
        var receivedAt: String
        var stored: Side
        var arriving: Side

        init(_ conflict: SeqConflict) {
            id = conflict.id
            seq = conflict.seq
            kind = conflict.kind.rawValue
            receivedAt = Timestamp.format(milliseconds: conflict.receivedAt)
            stored = Side(conflict.stored)
            arriving = Side(conflict.arriving)
        }
    }

    enum Side: Encodable {
        case fix(PositionView)
        case event(AgentEvent)

        init(_ payload: SeqConflict.Payload) {
            switch payload {
            case .fix(let position): self = .fix(PositionView(position))
            case .event(let event): self = .event(event)
            }
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .fix(let position): try container.encode(position)
            case .event(let event): try container.encode(event)
            }
        }
    }

    var conflicts: [Entry]
    var next: String?

    enum CodingKeys: String, CodingKey { case conflicts, next }
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(conflicts, forKey: .conflicts)
        try container.encode(next, forKey: .next)
    }
}
