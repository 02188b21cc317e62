import DabbaCore
import DabbaProtocol
import HubModel
import Hummingbird

/// The original platform's delivery service, same paths and meaning (DESIGN.md):
/// - `POST /delivery` `{"id","name"?,"vehicle"?}` adds an agent (operators) → 201.
/// - `GET /delivery/{id}` the agent's latest assigned order (operators, or that agent) → 404 when it has none.
/// - `PUT /delivery/{id}` completes the agent's current delivery (the order becomes delivered, the agent available)
///   → 409 when it has none.
/// - `POST /newdelivery` `{"order"}` asks for an agent for a confirmed order (operators, or the order's restaurant):
///   → 202 with the offer made, or with `"status":"queued"` when nobody is available yet (it is offered as soon as
///   someone is). Restaurants confirming an order go through the same code path.
struct DeliveryController<Store: DispatchStore> {
    let dispatcher: Dispatcher<Store>
    let orders: OrderService<Store>
    var store: Store { orders.store }

    struct AddAgent: Decodable {
        var id: String
        var name: String?
        var vehicle: String?
    }
    struct NewDelivery: Decodable { var order: String }
    struct DeliveryView: ResponseEncodable {
        var order: String
        var status: String
        var agent: String?
        var offerExpiresAt: String?
    }
    struct AgentView: ResponseEncodable {
        var id: String
        var name: String?
        var vehicle: String?
    }

    func addRoutes(to router: some RouterMethods<HubRequestContext>) {
        router.group("delivery", access: .roles([.operator])).post(use: addAgent)
        let agentOrOperator = router.group("delivery", access: .roles([.operator, .agent]))
        agentOrOperator.get(":id", use: latest)
        agentOrOperator.put(":id", use: complete)
        router.group("newdelivery", access: .roles([.operator, .restaurant])).post(use: newDelivery)
    }

    @Sendable func addAgent(_ request: Request, context: HubRequestContext) async throws -> EditedResponse<AgentView> {
        let body = try await request.decode(as: AddAgent.self, context: context)
        try await AgentRoster(repository: store).add(id: body.id, name: body.name, vehicle: body.vehicle)
        return EditedResponse(
            status: .created, response: AgentView(id: body.id, name: body.name, vehicle: body.vehicle))
    }

    @Sendable func latest(_ request: Request, context: HubRequestContext) async throws -> OrderView {
        let agent = try ownAgent(context)
        let latest = try await store.orders(OrderFilter(agentID: agent), after: nil, limit: 1).first
        guard let latest else { throw APIError.notFound("agent \(agent) has no assigned order") }
        return OrderView(latest)
    }

    @Sendable func complete(_ request: Request, context: HubRequestContext) async throws -> OrderView {
        let caller = try context.caller()
        let agent = try ownAgent(context)
        do {
            return OrderView(
                try await dispatcher.completeDelivery(agent: agent, actor: caller.actor))
        } catch {
            throw APIError(error)
        }
    }

    @Sendable func newDelivery(_ request: Request, context: HubRequestContext) async throws -> EditedResponse<
        DeliveryView
    > {
        let caller = try context.caller()
        let body = try await request.decode(as: NewDelivery.self, context: context)
        guard try await orders.visibleOrder(body.order, to: caller) != nil else {
            throw APIError.notFound("no order \(body.order)")
        }
        do {
            let (order, offer) = try await dispatcher.requestAgent(order: body.order)
            return EditedResponse(
                status: .accepted,
                response: DeliveryView(
                    order: order.id, status: offer == nil ? "queued" : "offered", agent: offer?.agent,
                    offerExpiresAt: offer.map { Timestamp.format(milliseconds: $0.deadline) }))
        } catch {
            throw APIError(error)
        }
    }

    /// The agent id in the path: operators may name any (unknown → 404); an agent only itself (others → 404).
    func ownAgent(_ context: HubRequestContext) throws -> String {
        let caller = try context.caller()
        let id = try context.parameters.require("id")
        if caller.role == .agent && caller.agentID != id { throw APIError.notFound("no agent \(id)") }
        return id
    }
}

extension APIError {
    /// Dispatcher refusals and store failures as HTTP errors.
    init(_ error: any Error) {
        switch error {
        case let e as APIError: self = e
        case let e as OrderServiceError: self = APIError(e)
        case let e as StoreError where e.code == .notFound: self = .notFound(e.message)
        case let e as StoreError where e.code == .illegalTransition || e.code == .conflict: self = .conflict(e.message)
        case let e as StoreError: self = .unavailable("storage: \(e.code.rawValue)")
        default:
            if let e = error as? DispatcherActionError {
                switch e {
                case .notFound(let m): self = .notFound(m)
                case .conflict(let m): self = .conflict(m)
                }
            } else {
                self = .internal()
            }
        }
    }
}
