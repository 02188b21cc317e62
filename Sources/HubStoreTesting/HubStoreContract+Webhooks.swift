import HubModel
import Testing

/// ``WebhookRepository``: endpoints bounded per owner, one delivery per matching event and endpoint, each claimed
/// by one hub at a time, in order per order and endpoint.
extension HubStoreContract {
    package static func webhooks<Store: HubStore>(make: Make<Store>) async throws {
        try await with(make) { try await endpointsAreBoundedPerOwnerAndDeleted($0) }
        try await with(make) { try await eachEventIsDeliveredOncePerEndpointAndInOrder($0) }
        try await with(make) { try await hubsClaimingAtOnceTakeEachDeliveryOnce($0) }
    }

    /// Several hubs claiming due deliveries at the same moment (concurrent calls: on PostgreSQL, concurrent
    /// connections) take each delivery exactly once between them.
    static func hubsClaimingAtOnceTakeEachDeliveryOnce(_ store: some HubStore) async throws {
        let customer = try #require(try await orderWorld(store).first)
        let op = try await user(store, "op@example.com", role: .operator).id
        _ = try await store.createWebhookEndpoint(endpoint("wh-1", owner: op))
        let orders = (1...24).map { "o-\($0)" }
        for id in orders {
            _ = try await store.createOrder(
                order(id, customer: customer), idempotencyKey: nil, requestHash: nil, actor: "c")
        }
        let t: Int64 = 1_800_000_000_000
        #expect(try await store.enqueueWebhookDeliveries(limit: 100, now: t).deliveries == orders.count)
        let claims = try await withThrowingTaskGroup(of: [WebhookAttempt].self) { group in
            for hub in 0..<4 {
                group.addTask {
                    try await store.claimWebhookDeliveries(
                        limit: 100, owner: "hub-\(hub)", now: t, leaseUntil: t + 60_000)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let claimed = claims.flatMap { $0 }.map(\.deliveryID)
        #expect(claimed.count == orders.count && Set(claimed).count == orders.count, "\(claims.map(\.count))")
    }

    static func endpoint(_ id: String, owner: Int64, restaurant: String? = nil) -> WebhookEndpoint {
        WebhookEndpoint(
            id: id, url: "http://127.0.0.1:9/hook", secret: "whsec", restaurant: restaurant, statuses: [],
            ownerID: owner, createdAt: 1_800_000_000_000)
    }

    static func endpointsAreBoundedPerOwnerAndDeleted(_ store: some HubStore) async throws {
        let owner = try await user(store, "op@example.com", role: .operator).id
        let stored = try await store.createWebhookEndpoint(endpoint("wh-1", owner: owner), maxPerOwner: 1)
        #expect(stored.id == "wh-1" && stored.url == "http://127.0.0.1:9/hook" && stored.ownerID == owner)
        await expect(.conflict) { () throws(StoreError) in
            _ = try await store.createWebhookEndpoint(endpoint("wh-2", owner: owner), maxPerOwner: 1)
        }
        _ = try await store.createWebhookEndpoint(endpoint("wh-3", owner: owner), maxPerOwner: 2)
        #expect(try await store.webhookEndpoints().map(\.id) == ["wh-1", "wh-3"])
        #expect(try await store.webhookEndpoint(id: "wh-1") == stored)
        #expect(try await store.webhookEndpoint(id: "wh-2") == nil)
        #expect(try await store.deleteWebhookEndpoint(id: "wh-1"))
        #expect(try await store.deleteWebhookEndpoint(id: "wh-1") == false)
        #expect(try await store.webhookEndpoints().map(\.id) == ["wh-3"])
    }

    static func eachEventIsDeliveredOncePerEndpointAndInOrder(_ store: some HubStore) async throws {
        let customer = try #require(try await orderWorld(store).first)
        let op = try await user(store, "op@example.com", role: .operator).id
        let t: Int64 = 1_800_000_000_000
        // An event from before the endpoint existed is not delivered to it.
        _ = try await store.createOrder(
            order("o-1", customer: customer), idempotencyKey: nil, requestHash: nil,
            actor: "customer")
        _ = try await store.createWebhookEndpoint(endpoint("wh-1", owner: op))
        let accepted = try await store.applyOrderChange(OrderChange(action: .accept, actor: "operator"), to: "o-1").1
        let placed = try #require(
            try await store.createOrder(
                order("o-2", customer: customer), idempotencyKey: nil, requestHash: nil,
                actor: "customer"
            ).event)
        #expect(try await store.webhookBacklog() == WebhookBacklog(pending: 0, oldestCreated: nil))
        let enqueued = try await store.enqueueWebhookDeliveries(limit: 100, now: t)
        #expect(enqueued.deliveries == 2 && enqueued.cursor == placed.id)
        #expect(try await store.webhookBacklog() == WebhookBacklog(pending: 2, oldestCreated: t))
        #expect(try await store.enqueueWebhookDeliveries(limit: 100, now: t).deliveries == 0)
        #expect(try await store.nextWebhookDue() == t)
        // Claimed by one hub; another finds them leased.
        let claimed = try await store.claimWebhookDeliveries(limit: 10, owner: "hub-a", now: t, leaseUntil: t + 60_000)
        #expect(Set(claimed.map(\.eventID)) == [accepted.id, placed.id] && claimed.allSatisfy { $0.attempt == 1 })
        #expect(
            try await store.claimWebhookDeliveries(limit: 10, owner: "hub-b", now: t, leaseUntil: t + 60_000).isEmpty)
        let first = try #require(claimed.first { $0.eventID == accepted.id })
        let second = try #require(claimed.first { $0.eventID == placed.id })
        try await store.finishWebhookAttempt(first, owner: "hub-a", outcome: .delivered(status: 200), now: t + 1)
        // A later event of o-2 waits while o-2's earlier one is still pending.
        let confirmed = try await store.applyOrderChange(OrderChange(action: .accept, actor: "operator"), to: "o-2").1
        #expect(try await store.enqueueWebhookDeliveries(limit: 100, now: t + 2).deliveries == 1)
        #expect(
            try await store.claimWebhookDeliveries(limit: 10, owner: "hub-b", now: t + 2, leaseUntil: t + 60_000)
                .isEmpty)
        // Given up (no retry): the next one of the order follows.
        try await store.finishWebhookAttempt(
            second, owner: "hub-a", outcome: .failed(status: 500, error: "HTTP 500", retryAt: nil), now: t + 3)
        let next = try await store.claimWebhookDeliveries(limit: 10, owner: "hub-b", now: t + 4, leaseUntil: t + 60_000)
        #expect(next.map(\.eventID) == [confirmed.id])
        let deliveries = try await store.webhookDeliveries(endpoint: "wh-1", before: nil, limit: 10)
        #expect(deliveries.map(\.eventID) == [confirmed.id, placed.id, accepted.id])
        #expect(deliveries.map(\.state) == [.pending, .failed, .delivered])
        // The backlog: the one still pending (in flight), created at t + 2.
        #expect(try await store.webhookBacklog() == WebhookBacklog(pending: 1, oldestCreated: t + 2))
        #expect(deliveries.last?.lastStatus == 200 && deliveries[1].lastError == "HTTP 500")
    }
}
