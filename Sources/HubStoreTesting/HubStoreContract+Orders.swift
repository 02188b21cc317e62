import HubModel
import Testing

/// ``OrderRepository``, its trail (``OrderEventLog``) and ``OrderShareRepository``: orders created once per
/// idempotency key, changed only as ``OrderStatus`` allows with one audit entry per change, listed newest first in
/// pages, shared by link; ``RestaurantDirectory``, what orders need to know of restaurants.
extension HubStoreContract {
    package static func orders<Store: HubStore>(make: Make<Store>) async throws {
        try await with(make) { try await anOrderIsCreatedOncePerIdempotencyKey($0) }
        try await with(make) { try await changesFollowTheStateMachineEachWithItsTrailEntry($0) }
        try await with(make) { try await listsAreNewestFirstInPagesAndFiltered($0) }
        try await with(make) { try await shareLinksAreStoredByHashAndRevoked($0) }
        try await with(make) { try await theRestaurantDirectoryAnswersForOrders($0) }
    }

    /// A restaurant (`r-1`, and its owner) and `customers` customers; returns the customers' ids.
    static func orderWorld(_ store: some HubStore, customers: Int = 1) async throws -> [Int64] {
        let owner = try await user(store, "owner@example.com", role: .restaurant).id
        _ = try await store.createRestaurant(
            restaurant("r-1", owner: owner, at: GeoPoint(lat: 22.3, lon: 87.3)))
        var ids: [Int64] = []
        for i in 0..<customers { ids.append(try await user(store, "c\(i)@example.com", role: .customer).id) }
        return ids
    }

    /// A cash order of one line, `placed`, created at `time`.
    static func order(_ id: String, customer: Int64, at time: Int64 = 1_800_000_000_000) -> OrderRecord {
        OrderRecord(
            id: id, customerID: customer, restaurantID: "r-1", paymentMethod: .cod, currency: "INR", subtotal: 25000,
            deliveryFee: 2500, tax: 1250, total: 28750, address: "2 Lane", dropLat: 22.31, dropLon: 87.31,
            zoneID: nil, createdAt: time, updatedAt: time,
            lines: [OrderLine(itemID: "i-1", name: "Biryani", quantity: 1, unitPrice: 25000, options: [])])
    }

    static func anOrderIsCreatedOncePerIdempotencyKey(_ store: some HubStore) async throws {
        let customer = try #require(try await orderWorld(store).first)
        let created = try await store.createOrder(
            order("o-1", customer: customer), idempotencyKey: "k-1", requestHash: "h-1", actor: "customer:\(customer)")
        #expect(created.created && created.order == order("o-1", customer: customer))
        #expect(created.event?.status == .placed && created.event?.order == "o-1")
        #expect(try await store.order(id: "o-1") == order("o-1", customer: customer))
        // The same request again answers the stored order, creating nothing.
        let again = try await store.createOrder(
            order("o-2", customer: customer), idempotencyKey: "k-1", requestHash: "h-1", actor: "customer:\(customer)")
        #expect(!again.created && again.order.id == "o-1" && again.event == nil)
        #expect(try await store.order(id: "o-2") == nil)
        await expect(.conflict) { () throws(StoreError) in
            _ = try await store.createOrder(
                order("o-3", customer: customer), idempotencyKey: "k-1", requestHash: "h-other",
                actor: "customer:\(customer)")
        }
        #expect(try await store.orderEvents(order: "o-1").count == 1)
    }

    static func changesFollowTheStateMachineEachWithItsTrailEntry(_ store: some HubStore) async throws {
        let customer = try #require(try await orderWorld(store).first)
        _ = try await store.createAgent(id: "a-1", name: nil)
        _ = try await store.createOrder(
            order("o-1", customer: customer), idempotencyKey: nil, requestHash: nil,
            actor: "customer:\(customer)")
        let (accepted, event) = try await store.applyOrderChange(
            OrderChange(action: .accept, actor: "restaurant:1", prepMinutes: 15), to: "o-1")
        #expect(accepted.status == .confirmed && accepted.prepMinutes == 15)
        #expect(event.previous == .placed && event.status == .confirmed && event.action == .accept)
        // Not from this state: refused, nothing written.
        await expect(.illegalTransition) { () throws(StoreError) in
            _ = try await store.applyOrderChange(OrderChange(action: .deliver, actor: "agent:a-1"), to: "o-1")
        }
        await expect(.illegalTransition) { () throws(StoreError) in
            _ = try await store.applyOrderChange(
                OrderChange(action: .cancel, actor: "customer:\(customer)", allowedFrom: [.placed]), to: "o-1")
        }
        await expect(.notFound) { () throws(StoreError) in
            _ = try await store.applyOrderChange(OrderChange(action: .accept, actor: "operator:1"), to: "o-404")
        }
        let assigned = try await store.applyOrderChange(
            OrderChange(action: .assign, actor: "operator:1", agent: "a-1"), to: "o-1"
        ).0
        #expect(assigned.status == .assigned && assigned.agentID == "a-1")
        // An agent acting on another agent's order finds no order.
        await expect(.notFound) { () throws(StoreError) in
            _ = try await store.applyOrderChange(
                OrderChange(action: .pickup, actor: "agent:a-2", requiredAgent: "a-2"), to: "o-1")
        }
        _ = try await store.applyOrderChange(
            OrderChange(action: .pickup, actor: "agent:a-1", requiredAgent: "a-1"), to: "o-1")
        let (delivered, last) = try await store.applyOrderChange(
            OrderChange(action: .deliver, actor: "agent:a-1", cashCollected: 28750), to: "o-1")
        #expect(delivered.status == .delivered && delivered.agentID == "a-1" && last.cashCollected == 28750)
        let trail = try await store.orderEvents(order: "o-1")
        #expect(trail.map(\.status) == [.placed, .confirmed, .assigned, .pickedUp, .delivered])
        #expect(trail.map(\.id) == trail.map(\.id).sorted() && Set(trail.map(\.id)).count == trail.count)
        // The log across orders, after a cursor.
        #expect(try await store.orderEvents(after: trail[2].id, limit: 10).map(\.id) == [trail[3].id, trail[4].id])
    }

    static func listsAreNewestFirstInPagesAndFiltered(_ store: some HubStore) async throws {
        let customers = try await orderWorld(store, customers: 2)
        let t: Int64 = 1_800_000_000_000
        for i in 0..<5 {
            _ = try await store.createOrder(
                order("o-\(i)", customer: customers[i % 2], at: t + Int64(i / 2) * 1000), idempotencyKey: nil,
                requestHash: nil, actor: "customer")
        }
        var seen: [String] = []
        var after: (createdAt: Int64, id: String)?
        while true {
            let page = try await store.orders(OrderFilter(), after: after, limit: 2)
            seen += page.map(\.id)
            guard page.count == 2, let last = page.last else { break }
            after = (last.createdAt, last.id)
        }
        // Newest first; orders created in the same millisecond by id, descending.
        #expect(seen == ["o-4", "o-3", "o-2", "o-1", "o-0"])
        let mine = try await store.orders(OrderFilter(customerID: customers[1]), after: nil, limit: 10)
        #expect(mine.map(\.id) == ["o-3", "o-1"])
        _ = try await store.applyOrderChange(OrderChange(action: .accept, actor: "restaurant:1"), to: "o-2")
        #expect(
            try await store.orders(OrderFilter(statuses: [.confirmed]), after: nil, limit: 10).map(\.id) == ["o-2"])
        #expect(
            try await store.orders(OrderFilter(restaurantIDs: ["r-2"]), after: nil, limit: 10).isEmpty)
        #expect(
            try await store.orders(OrderFilter(since: t + 1000, until: t + 2000), after: nil, limit: 10).map(\.id)
                == ["o-3", "o-2"])
    }

    static func shareLinksAreStoredByHashAndRevoked(_ store: some HubStore) async throws {
        let customer = try #require(try await orderWorld(store).first)
        _ = try await store.createOrder(
            order("o-1", customer: customer), idempotencyKey: nil, requestHash: nil,
            actor: "customer")
        let share = OrderShare(orderID: "o-1", createdBy: customer, expires: 1_800_000_600_000)
        try await store.createShare(tokenHash: "hash-1", share: share)
        try await store.createShare(tokenHash: "hash-2", share: share)
        #expect(try await store.share(tokenHash: "hash-1") == share)
        #expect(try await store.share(tokenHash: "nope") == nil)
        #expect(try await store.revokeShares(order: "o-1") == 2)
        #expect(try await store.share(tokenHash: "hash-2")?.revoked == true)
        #expect(try await store.revokeShares(order: "o-1") == 0)
    }

    static func theRestaurantDirectoryAnswersForOrders(_ store: some HubStore) async throws {
        let owner = try await user(store, "owner@example.com", role: .restaurant).id
        let other = try await user(store, "other@example.com", role: .restaurant).id
        let here = GeoPoint(lat: 22.3, lon: 87.3)
        _ = try await store.createRestaurant(restaurant("r-2", owner: owner, at: here, name: "Two"))
        _ = try await store.createRestaurant(restaurant("r-1", owner: owner, at: here))
        _ = try await store.createRestaurant(restaurant("r-3", owner: other, at: here))
        let summary = try #require(try await store.restaurantSummary(id: "r-2"))
        #expect(summary.id == "r-2" && summary.name == "Two" && summary.ownerUserID == owner)
        #expect(summary.lat == here.lat && summary.lon == here.lon && summary.address == "1 Road")
        #expect(try await store.restaurantSummary(id: "r-404") == nil)
        #expect(Set(try await store.restaurantIDs(ownedBy: owner)) == ["r-1", "r-2"])
        #expect(try await store.restaurantIDs(ownedBy: other + 1000).isEmpty)
    }
}
