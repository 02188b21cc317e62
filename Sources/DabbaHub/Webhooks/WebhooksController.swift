import DabbaCore
import DabbaProtocol
import HubModel
import Hummingbird

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// `/v1/webhooks`: register, list and delete endpoints, and read an endpoint's delivery log. Operators see every
/// endpoint and may register global ones (every order); restaurant accounts see and manage the endpoints of the
/// restaurants they own, and any other id is "not found", like an unknown one (the rules: ``WebhookRegistry``).
struct WebhooksController<Repository: WebhookRepository & RestaurantDirectory> {
    let registry: WebhookRegistry<Repository>

    struct CreateRequest: Decodable {
        var url: String
        var restaurant: String?
        var statuses: [String]?
    }
    struct EndpointView: ResponseEncodable {
        var id: String
        var url: String
        var restaurant: String?
        var statuses: [String]
        var createdAt: String
        /// Only in the answer to the registration.
        var secret: String?

        init(_ e: WebhookEndpoint, secret: Bool = false) {
            id = e.id
            url = e.url
            restaurant = e.restaurant
            statuses = e.statuses.map(\.rawValue).sorted()
            createdAt = Timestamp.format(milliseconds: e.createdAt)
            self.secret = secret ? e.secret : nil
        }
    }
    struct EndpointList: ResponseEncodable {
        var webhooks: [EndpointView]
    }
    struct DeliveryView: ResponseEncodable {
        var id: Int64
        var event: Int64
        var state: WebhookDeliveryState
        var attempts: Int
        var lastStatus: Int?
        var lastError: String?
        var nextAttempt: String?
        var deliveredAt: String?
        var createdAt: String

        init(_ d: WebhookDelivery) {
            id = d.id
            event = d.eventID
            state = d.state
            attempts = d.attempts
            lastStatus = d.lastStatus
            lastError = d.lastError
            nextAttempt = d.state == .pending ? Timestamp.format(milliseconds: d.nextAttempt) : nil
            deliveredAt = d.deliveredAt.map(Timestamp.format(milliseconds:))
            createdAt = Timestamp.format(milliseconds: d.createdAt)
        }
    }
    /// One page of the delivery log; `next` is always present (null on the last page), as the document says.
    struct DeliveryPage: ResponseEncodable {
        var deliveries: [DeliveryView]
        /// Pass as `before` for the next (older) page; nil on the last.
        var next: Int64?

        enum CodingKeys: String, CodingKey { case deliveries, next }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(deliveries, forKey: .deliveries)
            try container.encode(next, forKey: .next)
        }
    }

    func addRoutes(to router: some RouterMethods<HubRequestContext>) {
        let group = router.group("v1", access: .roles([.operator, .restaurant]))
        group.post("webhooks", use: create)
        group.get("webhooks", use: list)
        group.delete("webhooks/:id", use: delete)
        group.get("webhooks/:id/deliveries", use: deliveries)
    }

    @Sendable func create(_ request: Request, context: HubRequestContext) async throws -> EditedResponse<EndpointView> {
        let body = try await request.decode(as: CreateRequest.self, context: context)
        let endpoint = try await registry.register(
            url: body.url, restaurant: body.restaurant, statuses: body.statuses ?? [], by: try context.caller(),
            logger: context.logger)
        return EditedResponse(status: .created, response: EndpointView(endpoint, secret: true))
    }

    @Sendable func list(_ request: Request, context: HubRequestContext) async throws -> EndpointList {
        EndpointList(webhooks: try await registry.endpoints(visibleTo: try context.caller()).map { EndpointView($0) })
    }

    @Sendable func delete(_ request: Request, context: HubRequestContext) async throws -> HTTPResponse.Status {
        try await registry.delete(
            try context.parameters.require("id"), by: try context.caller(), logger: context.logger)
        return .noContent
    }

    @Sendable func deliveries(_ request: Request, context: HubRequestContext) async throws -> DeliveryPage {
        let endpoint = try await registry.endpoint(
            try context.parameters.require("id"), visibleTo: try context.caller())
        let query = request.uri.queryParameters
        let request = try PageRequest(
            query, limit: 1...500, default: 50, cursorName: "before", decode: ListingCursor.deliveryBefore)
        let page = try await request.read {
            try await registry.repository.webhookDeliveries(endpoint: endpoint.id, before: $0, limit: $1)
        }
        return DeliveryPage(deliveries: page.rows.map(DeliveryView.init), next: page.next(\.id))
    }
}
