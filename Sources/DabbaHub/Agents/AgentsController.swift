import DabbaProtocol
import HubModel
import Hummingbird

/// Operators' view of agents: list, record, positions (paged), track (GeoJSON), seq conflicts (paged) and the
/// fleet's latest.
/// An agent may read its own record; any other id it asks for is "not found", like an unknown one.
struct AgentsController<Repository: AgentRepository & PositionRepository & DispatchRepository & PaymentRepository> {
    let repository: Repository
    /// `cod-cash-limit`, shown beside the cash each agent holds.
    let cashLimit: Int64
    static var trackMaxPoints: Int { 10_000 }

    func addRoutes(to router: some RouterMethods<HubRequestContext>) {
        let operators = router.group("v1", access: .roles([.operator]))
        operators.get("agents", use: list)
        operators.get("agents/:id/positions", use: positions)
        operators.get("agents/:id/track", use: track)
        operators.get("agents/:id/seq-conflicts", use: seqConflicts)
        operators.get("fleet", use: fleet)
        router.group("v1", access: .roles([.operator, .agent])).get("agents/:id", use: show)
    }

    /// Every agent with its shift, load and cash: three reads whatever the fleet's size.
    @Sendable func list(_ request: Request, context: HubRequestContext) async throws -> AgentList {
        let rows = try await repository.dispatchAgents()
        let loads = try await repository.agentLoads()
        let cash = Dictionary(grouping: try await repository.ledgerBalances(prefix: "agent:"), by: \.account)
        return AgentList(
            agents: rows.map {
                AgentView(
                    $0, carrying: loads[$0.agent.id] ?? [], cash: cash[LedgerAccount.agentCash($0.agent.id)] ?? [],
                    cashLimit: cashLimit)
            })
    }

    @Sendable func show(_ request: Request, context: HubRequestContext) async throws -> AgentView {
        let caller = try context.caller()
        let id = try context.parameters.require("id")
        if caller.role == .agent && caller.agentID != id { throw APIError.notFound("no agent \(id)") }
        let record = try await existingAgent(id)
        let shift = try await repository.shift(agent: id)
        let carrying = try await repository.agentLoads()[id] ?? []
        let cash = try await repository.ledgerBalances(prefix: LedgerAccount.agentCash(id))
        return AgentView(
            DispatchAgentRow(
                agent: record, onShift: shift?.onShift ?? false, lastDeliveryAt: nil, shiftStartedAt: shift?.startedAt),
            carrying: carrying,
            cash: cash.filter { $0.account == LedgerAccount.agentCash(id) }, cashLimit: cashLimit)
    }

    @Sendable func positions(_ request: Request, context: HubRequestContext) async throws -> PositionsPage {
        let id = try await existingAgent(try context.parameters.require("id")).id
        let query = request.uri.queryParameters
        let (since, until) = try QueryReader(query: query).timeRange()
        let request = try Self.page(query, decode: ListingCursor.position)
        let page = try await request.read {
            try await repository.positions(agent: id, since: since, until: until, after: $0, limit: $1)
        }
        return PositionsPage(
            positions: page.rows.map(PositionView.init),
            next: page.next { PageCursor.encode("\($0.time)", "\($0.seq)") })
    }

    @Sendable func track(_ request: Request, context: HubRequestContext) async throws -> TrackFeature {
        let id = try await existingAgent(try context.parameters.require("id")).id
        let (since, until) = try QueryReader(query: request.uri.queryParameters).timeRange()
        var points: [StoredPosition] = []
        var after: (time: Int64, seq: Int64)?
        while points.count < Self.trackMaxPoints {
            let page = try await repository.positions(
                agent: id, since: since, until: until, after: after,
                limit: min(1000, Self.trackMaxPoints - points.count))
            points += page
            guard let last = page.last, page.count == 1000 else { break }
            after = (last.time, last.seq)
        }
        var truncated = false
        if points.count == Self.trackMaxPoints, let last = points.last {
            let beyond = try await repository.positions(
                agent: id, since: since, until: until, after: (last.time, last.seq), limit: 1)
            truncated = !beyond.isEmpty
        }
        let times = points.map { Timestamp.format(milliseconds: $0.time) }
        return TrackFeature(
            geometry: points.count >= 2 ? .init(coordinates: points.map { [$0.lon, $0.lat] }) : nil,
            properties: .init(
                agent: id, count: points.count, start: times.first, end: times.last, times: times, truncated: truncated)
        )
    }

    @Sendable func fleet(_ request: Request, context: HubRequestContext) async throws -> FleetView {
        FleetView(
            agents: try await repository.agents().map {
                .init(id: $0.id, online: $0.state?.online ?? false, last: $0.last.map(PositionView.init))
            })
    }

    func existingAgent(_ id: String) async throws -> AgentRecord {
        // Two steps on purpose: `guard …, let record = try await repository.agent(id:) else { throw … }` (a typed-throws
        // async requirement inside a guard condition) crashes Swift 6.3.1's optimizer (signal 11 while splitting this
        // coroutine) in `-c release` builds.
        guard AgentID.isValid(id) else { throw APIError.notFound("no agent \(id)") }
        let record = try await repository.agent(id: id)
        guard let record else { throw APIError.notFound("no agent \(id)") }
        return record
    }

    /// A page of an agent's rows: `limit` 1…1000 (100 when absent) and a `cursor`.
    static func page<Key>(_ query: Parameters, decode: (String) -> Key?) throws(APIError) -> PageRequest<Key> {
        try PageRequest(query, limit: 1...1000, default: 100, decode: decode)
    }
}
