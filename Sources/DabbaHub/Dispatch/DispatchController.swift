import DabbaCore
import DabbaProtocol
import HubModel
import Hummingbird

/// Dispatch over REST:
/// - `POST /v1/agents/{id}/shift` `{"action":"start"|"end"}` (the agent itself, or operators).
/// - `POST /v1/orders/{id}/offer` `{"decision":"accept"|"reject","reason"?}` (the offered agent) — the same code
///   path as the device's accept/reject events, so the two never double-apply.
/// - `POST /v1/orders/{id}/assign` `{"agent","reason"?}` and `POST /v1/orders/{id}/unassign` `{"reason"?}`
///   (operators; others who can see the order 403, the rest 404): checked like every assignment
///   (``AssignmentLimits``), in the transaction that assigns; an unassigned agent is never offered the order again.
/// - `GET /v1/orders/{id}/dispatch` (operators): every decision with the candidates' costs, and the offers.
/// - `GET /v1/alerts` (operators): alerts such as an agent offline with an order on board.
/// - `GET /v1/agents/{id}/tasks` (the agent itself, or operators): whether it is on shift, and its tasks — the orders
///   assigned to it and those offered to it, as its device's task sync lists them (``AgentTasks``), each with the
///   order's status: what the rider's web view shows.
struct DispatchController<Store: DispatchStore> {
    let dispatcher: Dispatcher<Store>
    var store: Store { dispatcher.store }

    struct ShiftRequest: Decodable { var action: String }
    struct ShiftView: ResponseEncodable {
        var agent: String
        var onShift: Bool
    }
    struct OfferRequest: Decodable {
        var decision: String
        var reason: String?
    }
    struct DispatchView: ResponseEncodable {
        var order: String
        var decisions: [DispatchRecordView]
        var offers: [OfferView]
    }
    struct DispatchRecordView: Encodable {
        var time: String
        var policy: String
        var agent: String?
        var outcome: String
        var reason: String?
        var candidates: [DispatchRecord.Candidate]
    }
    struct OfferView: Encodable {
        var agent: String
        var state: Offer.State
        var created: String
        var deadline: String
        var reason: String?
    }
    struct AlertList: ResponseEncodable { var alerts: [OperatorAlert] }
    struct AgentTasksView: ResponseEncodable {
        var agent: String
        var onShift: Bool
        var tasks: [TaskView]
    }
    struct TaskView: Encodable {
        var order: String
        /// `offer` (waiting for the agent's decision until `expiresAt`) or `assigned`.
        var type: String
        var status: OrderStatus
        var pickup: TaskMessage.Place?
        var dropoff: TaskMessage.Place?
        var cashToCollect: Int64?
        var currency: String?
        var expiresAt: String?
    }

    func addRoutes(to router: some RouterMethods<HubRequestContext>) {
        let agents = router.group("v1/agents", access: .roles([.operator, .agent]))
        agents.post(":id/shift", use: shift)
        agents.get(":id/tasks", use: tasks)
        router.group("v1/orders", access: .roles([.agent])).post(":id/offer", use: offer)
        let orders = router.group("v1/orders", access: .signedIn)
        orders.post(":id/assign", use: assign)
        orders.post(":id/unassign", use: unassign)
        router.group("v1/orders", access: .roles([.operator])).get(":id/dispatch", use: decisions)
        router.group("v1/alerts", access: .roles([.operator])).get(use: alerts)
    }

    @Sendable func shift(_ request: Request, context: HubRequestContext) async throws -> ShiftView {
        let caller = try context.caller()
        let id = try context.parameters.require("id")
        if caller.role == .agent && caller.agentID != id { throw APIError.notFound("no agent \(id)") }
        let body = try await request.decode(as: ShiftRequest.self, context: context)
        guard ["start", "end"].contains(body.action) else { throw APIError.invalid("action: start or end") }
        do {
            try await dispatcher.setShift(agent: id, onShift: body.action == "start")
        } catch {
            throw APIError(error)
        }
        return ShiftView(agent: id, onShift: body.action == "start")
    }

    @Sendable func tasks(_ request: Request, context: HubRequestContext) async throws -> AgentTasksView {
        let caller = try context.caller()
        let id = try context.parameters.require("id")
        if caller.role == .agent && caller.agentID != id { throw APIError.notFound("no agent \(id)") }
        do {
            guard let onShift = try await store.shift(agent: id)?.onShift else {
                throw APIError.notFound("no agent \(id)")
            }
            guard let tasks = try await AgentTasks.current(agent: id, store: store) else {
                throw APIError.conflict("more than \(TaskSync.maxTasks) tasks")
            }
            return AgentTasksView(
                agent: id, onShift: onShift,
                tasks: tasks.map { task in
                    let m = task.message
                    return TaskView(
                        order: m.order, type: m.type.rawValue, status: task.status, pickup: m.pickup,
                        dropoff: m.dropoff, cashToCollect: m.cashToCollect, currency: m.currency,
                        expiresAt: m.expiresAt)
                })
        } catch {
            throw APIError(error)  // an APIError thrown above passes through as it is
        }
    }

    @Sendable func offer(_ request: Request, context: HubRequestContext) async throws -> OrderView {
        let caller = try context.caller()
        guard let agent = caller.agentID else { throw APIError.forbidden("not an agent account") }
        let id = try context.parameters.require("id")
        let body = try await request.decode(as: OfferRequest.self, context: context)
        try APIError.checkFreeText(body.reason, field: "reason")
        let offered = try await store.offers(order: id).contains { $0.agent == agent }
        guard offered else { throw APIError.notFound("no offer of order \(id) for \(agent)") }
        do {
            switch body.decision {
            case "accept": return OrderView(try await dispatcher.accept(order: id, agent: agent))
            case "reject":
                guard let order = try await dispatcher.reject(order: id, agent: agent, reason: body.reason) else {
                    throw APIError.notFound("no order \(id)")
                }
                return OrderView(order)
            default: throw APIError.invalid("decision: accept or reject")
            }
        } catch {
            throw APIError(error)
        }
    }

    @Sendable func assign(_ request: Request, context: HubRequestContext) async throws -> OrderView {
        let (caller, id) = try await operatorOnVisibleOrder(context, action: .assign)
        let body = try await request.decodeIfPresent(as: OrderActionRequest.self, context: context)
        try Self.checkReason(body?.reason)
        guard let agent = body?.agent else { throw APIError.invalid("agent: required to assign an order") }
        guard try await store.agent(id: agent) != nil else { throw APIError.invalid("agent: no agent \(agent)") }
        do {
            return OrderView(
                try await dispatcher.assign(
                    order: id, agent: agent, actor: caller.actor, reason: body?.reason))
        } catch {
            throw APIError(error)
        }
    }

    @Sendable func unassign(_ request: Request, context: HubRequestContext) async throws -> OrderView {
        let (caller, id) = try await operatorOnVisibleOrder(context, action: .unassign)
        let body = try await request.decodeIfPresent(as: OrderActionRequest.self, context: context)
        try Self.checkReason(body?.reason)
        do {
            return OrderView(
                try await dispatcher.unassign(order: id, actor: caller.actor, reason: body?.reason)
            )
        } catch {
            throw APIError(error)
        }
    }

    /// The order in the path when the caller may see it (404 otherwise, as for every order route) and is an
    /// operator (403 for the others).
    func operatorOnVisibleOrder(_ context: HubRequestContext, action: OrderAction) async throws -> (Identity, String) {
        let caller = try context.caller()
        let id = try context.parameters.require("id")
        guard try await dispatcher.orders.visibleOrder(id, to: caller) != nil else {
            throw APIError.notFound("no order \(id)")
        }
        guard caller.role == .operator else {
            throw APIError.forbidden("only operators can \(action.rawValue) orders")
        }
        return (caller, id)
    }

    static func checkReason(_ reason: String?) throws {
        try APIError.checkFreeText(reason, field: "reason")
    }

    @Sendable func decisions(_ request: Request, context: HubRequestContext) async throws -> DispatchView {
        let id = try context.parameters.require("id")
        guard try await store.order(id: id) != nil else { throw APIError.notFound("no order \(id)") }
        return DispatchView(
            order: id,
            decisions: try await store.decisions(order: id).map {
                DispatchRecordView(
                    time: Timestamp.format(milliseconds: $0.time), policy: $0.policy, agent: $0.agent,
                    outcome: $0.outcome, reason: $0.reason, candidates: $0.candidates)
            },
            offers: try await store.offers(order: id).map {
                OfferView(
                    agent: $0.agent, state: $0.state, created: Timestamp.format(milliseconds: $0.created),
                    deadline: Timestamp.format(milliseconds: $0.deadline), reason: $0.reason)
            })
    }

    @Sendable func alerts(_ request: Request, context: HubRequestContext) async throws -> AlertList {
        AlertList(alerts: try await store.alerts(limit: 200))
    }
}
