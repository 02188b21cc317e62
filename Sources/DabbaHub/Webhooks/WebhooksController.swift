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
/// restaurants they own, and any other id is "not found", like an unknown one.
///
/// A URL whose host is, or resolves to, an address webhooks may not reach (``WebhookEgress``) is refused with 422
/// (a host that does not resolve yet is accepted: every attempt checks again); a user holds at most
/// `webhook-max-endpoints` endpoints (409 beyond).
struct WebhooksController<Repository: WebhookRepository & RestaurantDirectory> {
    let repository: Repository
    let egress: WebhookEgress
    let maxEndpoints: Int
    static var maxURLBytes: Int { 2048 }

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

    /// Whether `user` manages `restaurant` (the marketplace's record).
    func owns(_ user: Int64, _ restaurant: String) async throws -> Bool {
        try await repository.restaurantSummary(id: restaurant)?.ownerUserID == user
    }

    func addRoutes(to router: some RouterMethods<HubRequestContext>) {
        let group = router.group("v1", access: .roles([.operator, .restaurant]))
        group.post("webhooks", use: create)
        group.get("webhooks", use: list)
        group.delete("webhooks/:id", use: delete)
        group.get("webhooks/:id/deliveries", use: deliveries)
    }

    @Sendable func create(_ request: Request, context: HubRequestContext) async throws -> EditedResponse<EndpointView> {
        let caller = try context.caller()
        let body = try await request.decode(as: CreateRequest.self, context: context)
        let url = try Self.validURL(body.url)
        do {
            _ = try await egress.destination(of: url)
        } catch  where error.code == .forbiddenDestination {
            throw APIError.invalid("url: " + error.message)
        } catch {}  // not resolvable now: each attempt resolves it again
        let statuses = try Self.validStatuses(body.statuses ?? [])
        let restaurant = body.restaurant.map(\.trimmingSpaces)
        if let restaurant, restaurant.isEmpty || restaurant.utf8.count > 128 {
            throw APIError.invalid("restaurant: expected a restaurant id")
        }
        if caller.role != .operator {
            guard let restaurant else {
                throw APIError.invalid("restaurant: required (only operators register global webhooks)")
            }
            guard try await owns(caller.userID, restaurant) else {
                throw APIError.notFound("no restaurant \(restaurant)")
            }
        }
        let endpoint = try await repository.createWebhookEndpoint(
            WebhookEndpoint(
                id: "wh_" + AuthRandom.token(bytes: 12), url: url, secret: "whsec_" + AuthRandom.token(bytes: 32),
                restaurant: restaurant, statuses: statuses, ownerID: caller.userID, createdAt: wallClockMilliseconds()),
            maxPerOwner: maxEndpoints)
        context.logger.notice(
            "Webhook registered", metadata: ["webhook.endpoint": "\(endpoint.id)", "user.id": "\(caller.userID)"])
        return EditedResponse(status: .created, response: EndpointView(endpoint, secret: true))
    }

    @Sendable func list(_ request: Request, context: HubRequestContext) async throws -> EndpointList {
        let caller = try context.caller()
        var visible: [WebhookEndpoint] = []
        var owned: [String: Bool] = [:]
        for endpoint in try await repository.webhookEndpoints() {
            if caller.role == .operator {
                visible.append(endpoint)
            } else if let restaurant = endpoint.restaurant {
                if owned[restaurant] == nil { owned[restaurant] = try await owns(caller.userID, restaurant) }
                if owned[restaurant] == true { visible.append(endpoint) }
            }
        }
        return EndpointList(webhooks: visible.map { EndpointView($0) })
    }

    @Sendable func delete(_ request: Request, context: HubRequestContext) async throws -> HTTPResponse.Status {
        let endpoint = try await visibleEndpoint(context)
        guard try await repository.deleteWebhookEndpoint(id: endpoint.id) else { throw APIError.notFound() }
        context.logger.notice("Webhook deleted", metadata: ["webhook.endpoint": "\(endpoint.id)"])
        return .noContent
    }

    @Sendable func deliveries(_ request: Request, context: HubRequestContext) async throws -> DeliveryPage {
        let endpoint = try await visibleEndpoint(context)
        let query = request.uri.queryParameters
        let request = try PageRequest(
            query, limit: 1...500, default: 50, cursorName: "before", decode: ListingCursor.deliveryBefore)
        let page = try await request.read {
            try await repository.webhookDeliveries(endpoint: endpoint.id, before: $0, limit: $1)
        }
        return DeliveryPage(deliveries: page.rows.map(DeliveryView.init), next: page.next(\.id))
    }

    /// The endpoint `:id` names, when the caller may see it; otherwise 404, the same as an unknown id.
    private func visibleEndpoint(_ context: HubRequestContext) async throws -> WebhookEndpoint {
        let caller = try context.caller()
        let id = try context.parameters.require("id")
        guard let endpoint = try await repository.webhookEndpoint(id: id) else {
            throw APIError.notFound("no webhook \(id)")
        }
        if caller.role != .operator {
            guard let restaurant = endpoint.restaurant, try await owns(caller.userID, restaurant) else {
                throw APIError.notFound("no webhook \(id)")
            }
        }
        return endpoint
    }

    /// An absolute `http://` or `https://` URL with a host, at most 2048 bytes; 422 otherwise.
    static func validURL(_ text: String) throws(APIError) -> String {
        let url = text.trimmingSpaces
        guard url.utf8.count <= maxURLBytes, let parsed = URL(string: url),
            let scheme = parsed.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = parsed.host, !host.isEmpty
        else { throw .invalid("url: expected an absolute http:// or https:// URL") }
        return url
    }

    /// Order statuses by their JSON names; 422 naming an unknown one.
    static func validStatuses(_ names: [String]) throws(APIError) -> Set<OrderStatus> {
        var statuses = Set<OrderStatus>()
        for name in names {
            guard let status = OrderStatus(rawValue: name) else {
                throw .invalid(
                    "statuses: unknown status \"\(name)\" (expected \(OrderStatus.allCases.map(\.rawValue).joined(separator: ", ")))"
                )
            }
            statuses.insert(status)
        }
        return statuses
    }
}
