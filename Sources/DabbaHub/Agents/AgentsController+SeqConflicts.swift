import DabbaProtocol
import HubModel
import Hummingbird

extension AgentsController {
    /// `GET /v1/agents/{id}/seq-conflicts?limit=&cursor=` (operators): fixes and events that arrived under a seq
    /// already stored with a different payload, oldest first, paged like positions.
    @Sendable func seqConflicts(_ request: Request, context: HubRequestContext) async throws -> SeqConflictsPage {
        let id = try await existingAgent(try context.parameters.require("id")).id
        let request = try Self.page(request.uri.queryParameters, decode: ListingCursor.seqConflict)
        let page = try await request.read { try await repository.seqConflicts(agent: id, after: $0, limit: $1) }
        return SeqConflictsPage(
            conflicts: page.rows.map(SeqConflictsPage.Entry.init), next: page.next { String($0.id) })
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
