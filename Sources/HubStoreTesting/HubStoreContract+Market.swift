import HubModel
import Testing

/// ``MarketRepository``: zone derivation, menu lookups for orders, limits and conflicts, listing pages.
extension HubStoreContract {
    package static func market<Store: MarketRepository & UserRepository>(make: Make<Store>) async throws {
        try await with(make) { try await zonesAreDerivedAndFollowZoneChanges($0) }
        try await with(make) { try await menuItemsForOrdersSkipUnknownAndForeignIDs($0) }
        try await with(make) { try await ownersMustBeRestaurantUsers($0) }
        try await with(make) { try await listingPagesByDistanceThenIDWithoutOverlap($0) }
    }

    static func square(_ lon: Double, _ lat: Double, size: Double = 0.1) -> [GeoPoint] {
        [
            GeoPoint(lat: lat, lon: lon), GeoPoint(lat: lat, lon: lon + size),
            GeoPoint(lat: lat + size, lon: lon + size),
            GeoPoint(lat: lat + size, lon: lon),
        ]
    }

    static func restaurant(_ id: String, owner: Int64, at point: GeoPoint, name: String = "Kitchen") -> Restaurant {
        Restaurant(
            id: id, name: name, address: "1 Road", location: point, ownerUserID: owner, currency: "INR", hours: .always)
    }

    static func zonesAreDerivedAndFollowZoneChanges(_ store: some MarketRepository & UserRepository) async throws {
        let owner = try await user(store, "r@example.com", role: .restaurant).id
        let inside = GeoPoint(lat: 22.35, lon: 87.35)
        var r = try await store.createRestaurant(restaurant("r-1", owner: owner, at: inside))
        #expect(r.zoneID == nil)
        // A zone created later picks up the restaurant already inside it.
        var zone = try await store.createZone(
            Zone(id: "z-1", name: "IIT", polygon: Self.square(87.3, 22.3), deliveryFee: 2500, currency: "INR"))
        #expect(try await store.restaurant(id: "r-1")?.zoneID == "z-1")
        #expect(try await store.zone(containing: inside)?.id == "z-1")
        #expect(try await store.zone(containing: GeoPoint(lat: 22.5, lon: 87.35)) == nil)
        // Moving the restaurant out clears its zone; deactivating the zone stops it serving.
        r.location = GeoPoint(lat: 22.5, lon: 87.35)
        #expect(try await store.updateRestaurant(r).zoneID == nil)
        r.location = inside
        #expect(try await store.updateRestaurant(r).zoneID == "z-1")
        zone.active = false
        _ = try await store.updateZone(zone)
        #expect(try await store.zone(containing: inside) == nil)
        #expect(try await store.restaurant(id: "r-1")?.zoneID == nil)
        // A smaller zone inside a bigger one wins for the points they share.
        zone.active = true
        _ = try await store.updateZone(zone)
        _ = try await store.createZone(
            Zone(
                id: "z-2", name: "Gate", polygon: Self.square(87.34, 22.34, size: 0.02), deliveryFee: 1000,
                currency: "INR"))
        #expect(try await store.zone(containing: inside)?.id == "z-2")
        #expect(try await store.restaurant(id: "r-1")?.zoneID == "z-2")
        await #expect(throws: StoreError.self) {
            try await store.updateZone(
                Zone(id: "z-none", name: "X", polygon: Self.square(1, 1), deliveryFee: 0, currency: "INR"))
        }
        #expect(try await store.zones(after: nil, limit: 10).map(\.id) == ["z-1", "z-2"])
        #expect(try await store.zones(after: "z-1", limit: 10).map(\.id) == ["z-2"])
    }

    static func menuItemsForOrdersSkipUnknownAndForeignIDs(_ store: some MarketRepository & UserRepository) async throws
    {
        let owner = try await user(store, "r@example.com", role: .restaurant).id
        _ = try await store.createRestaurant(restaurant("r-1", owner: owner, at: GeoPoint(lat: 22, lon: 87)))
        _ = try await store.createRestaurant(restaurant("r-2", owner: owner, at: GeoPoint(lat: 22, lon: 87)))
        let s1 = try await store.createSection(restaurant: "r-1", id: "s-1", name: "Mains", position: nil)
        let s2 = try await store.createSection(restaurant: "r-1", id: "s-2", name: "Drinks", position: nil)
        #expect(s1.position == 0 && s2.position == 1)
        _ = try await store.createSection(restaurant: "r-2", id: "s-9", name: "Other", position: nil)
        let size = MenuOptionGroup(
            id: "size", name: "Size", minChoices: 1, maxChoices: 1,
            choices: [
                MenuOption(id: "reg", name: "Regular", price: 0), MenuOption(id: "lg", name: "Large", price: 4000),
            ])
        let biryani = try await store.createMenuItem(
            MenuItem(
                id: "i-1", restaurantID: "r-1", sectionID: "s-1", name: "Biryani", price: 25000, currency: "INR",
                optionGroups: [size]))
        let lassi = try await store.createMenuItem(
            MenuItem(id: "i-2", restaurantID: "r-1", sectionID: "s-2", name: "Lassi", price: 6000, currency: "INR"))
        _ = try await store.createMenuItem(
            MenuItem(id: "i-9", restaurantID: "r-2", sectionID: "s-9", name: "Elsewhere", price: 1, currency: "INR"))
        let items = try await store.menuItems(restaurant: "r-1", ids: ["i-2", "i-1", "nope", "i-9", "i-1"])
        #expect(items.map(\.id) == ["i-1", "i-2"])
        #expect(items.first == biryani && items.first?.optionGroups == [size] && items.last == lassi)
        #expect(try await store.menuItems(restaurant: "r-1", ids: []).isEmpty)
        // A section of another restaurant is unknown to this one.
        await expect(.notFound) { () throws(StoreError) in
            _ = try await store.createMenuItem(
                MenuItem(id: "i-3", restaurantID: "r-1", sectionID: "s-9", name: "Sneaky", price: 1, currency: "INR"))
        }
        // The menu document: sections in order with their items.
        let menu = try #require(try await store.menu(restaurant: "r-1"))
        #expect(menu.sections.map(\.section.id) == ["s-1", "s-2"] && menu.sections.map(\.items.count) == [1, 1])
        #expect(try await store.menu(restaurant: "r-404") == nil)
        // Currency cannot change under priced items; a section with items cannot go.
        var r1 = try #require(try await store.restaurant(id: "r-1"))
        r1.currency = "USD"
        await #expect(throws: StoreError.self) { try await store.updateRestaurant(r1) }
        #expect(try await store.restaurant(id: "r-1")?.currency == "INR")
        await #expect(throws: StoreError.self) { try await store.deleteSection(restaurant: "r-1", id: "s-2") }
        #expect(try await store.deleteMenuItem(restaurant: "r-2", id: "i-2") == false)
        #expect(try await store.deleteMenuItem(restaurant: "r-1", id: "i-2"))
        #expect(try await store.deleteSection(restaurant: "r-1", id: "s-2"))
        #expect(try await store.section(restaurant: "r-1", id: "s-2") == nil)
    }

    static func ownersMustBeRestaurantUsers(_ store: some MarketRepository & UserRepository) async throws {
        let customer = try await user(store, "c@example.com", role: .customer).id
        await #expect(throws: StoreError.self) {
            try await store.createRestaurant(restaurant("r-1", owner: customer, at: GeoPoint(lat: 22, lon: 87)))
        }
        await #expect(throws: StoreError.self) {
            try await store.createRestaurant(restaurant("r-1", owner: 999, at: GeoPoint(lat: 22, lon: 87)))
        }
        #expect(try await store.restaurant(id: "r-1") == nil)
    }

    static func listingPagesByDistanceThenIDWithoutOverlap(_ store: some MarketRepository & UserRepository) async throws
    {
        let owner = try await user(store, "r@example.com", role: .restaurant).id
        let center = GeoPoint(lat: 22.3, lon: 87.3)
        // Pairs at the same distance (ties broken by id), one far away, one closed.
        for i in 0..<9 {
            var r = restaurant(
                "r-\(i)", owner: owner, at: GeoPoint(lat: center.lat + Double(i / 2) * 0.001, lon: center.lon),
                name: i % 3 == 0 ? "Dosa Corner \(i)" : "Tea \(i)")
            if i == 8 { r.hours = .closed }
            _ = try await store.createRestaurant(r)
        }
        _ = try await store.createRestaurant(restaurant("r-far", owner: owner, at: GeoPoint(lat: 23.3, lon: 87.3)))
        var seen: [String] = []
        var query = RestaurantQuery(near: center, radius: 5000, limit: 4)
        while true {
            let page = try await store.restaurants(matching: query)
            seen += page.map(\.restaurant.id)
            guard page.count == 4, let last = page.last else { break }
            query.after = last.cursor
        }
        #expect(seen == (0..<9).map { "r-\($0)" })
        query = RestaurantQuery(near: center, radius: 5000, openAt: 0, limit: 20)
        #expect(try await store.restaurants(matching: query).count == 8)
        query = RestaurantQuery(text: "dOSa", limit: 20)
        #expect(try await store.restaurants(matching: query).map(\.restaurant.id) == ["r-0", "r-3", "r-6"])
        query = RestaurantQuery(text: "%", limit: 20)
        #expect(try await store.restaurants(matching: query).isEmpty)
        let all = try await store.restaurants(matching: RestaurantQuery(limit: 100))
        #expect(all.count == 10 && all.map(\.restaurant.id) == all.map(\.restaurant.id).sorted())
        // Cursors survive their opaque encoding exactly.
        let cursor = RestaurantCursor(distance: 111.19492664455873, id: "r-3")
        #expect(RestaurantCursor(encoded: cursor.encoded) == cursor)
        #expect(RestaurantCursor(encoded: RestaurantCursor(distance: nil, id: "r-3").encoded)?.distance == nil)
        #expect(
            RestaurantCursor(encoded: "%%%") == nil
                && RestaurantCursor(encoded: AuthRandom.base64URL(Array("x.r".utf8))) == nil)
    }
}
