import DabbaCore
import DabbaProtocol
import HubModel
import Logging

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Webhook endpoints' registration: who may register, list and delete which endpoints, URL and status checks, and
/// the per-owner cap. ``WebhooksController`` decodes requests and calls this; ``WebhookService`` delivers.
///
/// Operators see every endpoint and may register global ones (every order); restaurant accounts see and manage the
/// endpoints of the restaurants they own, and any other id is "not found", like an unknown one. A URL whose host is,
/// or resolves to, an address webhooks may not reach (``WebhookEgress``) is refused with 422 (a host that does not
/// resolve yet is accepted: every attempt checks again); a user holds at most `webhook-max-endpoints` endpoints
/// (409 beyond).
struct WebhookRegistry<Repository: WebhookRepository & RestaurantDirectory>: Sendable {
    let repository: Repository
    let egress: WebhookEgress
    let maxEndpoints: Int
    static var maxURLBytes: Int { 2048 }

    /// Registers an endpoint for `caller`; the answer holds its signing secret (shown once).
    func register(
        url rawURL: String, restaurant rawRestaurant: String?, statuses names: [String], by caller: Identity,
        logger: Logger
    ) async throws -> WebhookEndpoint {
        let url = try Self.validURL(rawURL)
        do {
            _ = try await egress.destination(of: url)
        } catch  where error.code == .forbiddenDestination {
            throw APIError.invalid("url: " + error.message)
        } catch {}  // not resolvable now: each attempt resolves it again
        let statuses = try Self.validStatuses(names)
        let restaurant = rawRestaurant.map(\.trimmingSpaces)
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
        logger.notice(
            "Webhook registered", metadata: ["webhook.endpoint": "\(endpoint.id)", "user.id": "\(caller.userID)"])
        return endpoint
    }

    /// The endpoints `caller` may see.
    func endpoints(visibleTo caller: Identity) async throws -> [WebhookEndpoint] {
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
        return visible
    }

    /// The endpoint `id` when `caller` may see it; otherwise 404, the same as an unknown id.
    func endpoint(_ id: String, visibleTo caller: Identity) async throws -> WebhookEndpoint {
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

    /// Deletes the endpoint `id` if `caller` may see it (its pending deliveries go with it).
    func delete(_ id: String, by caller: Identity, logger: Logger) async throws {
        let endpoint = try await endpoint(id, visibleTo: caller)
        guard try await repository.deleteWebhookEndpoint(id: endpoint.id) else { throw APIError.notFound() }
        logger.notice("Webhook deleted", metadata: ["webhook.endpoint": "\(endpoint.id)"])
    }

    /// Whether `user` manages `restaurant` (the marketplace's record).
    func owns(_ user: Int64, _ restaurant: String) async throws -> Bool {
        try await repository.restaurantSummary(id: restaurant)?.ownerUserID == user
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
