/// Which restaurants a listing wants. The store filters by text and owner (and a bounding box when `near` is
/// set); distance, `openAt` and the cursor are applied by `RestaurantQuery.page(_:)`, shared by every store.
package struct RestaurantQuery: Sendable, Equatable {
    /// With `near`, only restaurants within `radius` metres, nearest first (then id); without, in id order.
    package var near: GeoPoint?
    package var radius: Double
    /// Only restaurants open at this instant (UTC milliseconds).
    package var openAt: Int64?
    /// Case-insensitive substring of the restaurant's name or of one of its menu items' names.
    package var text: String?
    /// Only restaurants of this owner.
    package var owner: Int64?
    /// Resume after this position of the previous page.
    package var after: RestaurantCursor?
    /// Page size (the store returns at most this many).
    package var limit: Int

    package init(
        near: GeoPoint? = nil, radius: Double = 5000, openAt: Int64? = nil, text: String? = nil, owner: Int64? = nil,
        after: RestaurantCursor? = nil, limit: Int = 20
    ) {
        self.near = near
        self.radius = radius
        self.openAt = openAt
        self.text = text
        self.owner = owner
        self.after = after
        self.limit = limit
    }

    /// Orders and pages `candidates` (already filtered by text and owner): drops those beyond the radius or
    /// closed at `openAt`, sorts by (distance, id) or id, skips up to the cursor and keeps `limit`.
    package func page(_ candidates: [Restaurant]) -> [RestaurantHit] {
        var hits: [RestaurantHit] = candidates.compactMap { r in
            if let openAt, !r.isOpen(at: openAt) { return nil }
            guard let near else { return RestaurantHit(restaurant: r, distance: nil) }
            let d = Geo.distance(near, r.location)
            return d <= radius ? RestaurantHit(restaurant: r, distance: d) : nil
        }
        hits.sort { $0.key < $1.key }
        if let after { hits.removeAll { $0.key <= after.key } }
        return Array(hits.prefix(limit))
    }
}

/// A restaurant in a listing, with its distance in metres from the query's point.
package struct RestaurantHit: Sendable, Equatable {
    package var restaurant: Restaurant
    package var distance: Double?

    /// The position of this hit in the listing order.
    package var cursor: RestaurantCursor { RestaurantCursor(distance: distance, id: restaurant.id) }
    var key: RestaurantCursor.Key { cursor.key }
}

/// A position in a restaurant listing: (distance, id) near a point, else id. Opaque on the wire.
package struct RestaurantCursor: Sendable, Equatable {
    package var distance: Double?
    package var id: String

    package init(distance: Double?, id: String) {
        self.distance = distance
        self.id = id
    }

    struct Key: Comparable {
        var distance: Double
        var id: String
        static func < (a: Key, b: Key) -> Bool { (a.distance, a.id) < (b.distance, b.id) }
    }
    var key: Key { Key(distance: distance ?? 0, id: id) }

    /// Base64url of `d<bit pattern hex>.<id>` or `i.<id>` (the exact distance, so pages never overlap).
    package var encoded: String {
        PageCursor.encode(distance.map { "d" + String($0.bitPattern, radix: 16) } ?? "i", id)
    }

    package init?(encoded text: String) {
        guard let fields = PageCursor.decode(text, fields: 2), fields[1].utf8.count <= 64 else { return nil }
        let (head, id) = (fields[0], fields[1])
        if head == "i" {
            self.init(distance: nil, id: id)
        } else if head.first == "d", let bits = UInt64(head.dropFirst(), radix: 16), Double(bitPattern: bits).isFinite {
            self.init(distance: Double(bitPattern: bits), id: id)
        } else {
            return nil
        }
    }
}

/// Restaurants, menus and zones. Ids are made by the caller (`r-…`, `s-…`, `i-…`, `z-…`); restaurant-scoped
/// lookups of an id belonging to another restaurant answer nil / `notFound`, like unknown ids.
package protocol MarketRepository: Sendable {
    // Restaurants.
    /// Stores a new restaurant (its zone derived from its location); `notFound` when the owner is not a
    /// restaurant user.
    func createRestaurant(_ restaurant: Restaurant) async throws(StoreError) -> Restaurant
    /// Replaces a restaurant's fields (zone re-derived); `notFound` when absent; `conflict` when the currency
    /// changes while it has menu items.
    func updateRestaurant(_ restaurant: Restaurant) async throws(StoreError) -> Restaurant
    func restaurant(id: String) async throws(StoreError) -> Restaurant?
    /// One page of restaurants for `query` (see `RestaurantQuery`).
    func restaurants(matching query: RestaurantQuery) async throws(StoreError) -> [RestaurantHit]

    // Menus.
    /// The whole menu: sections in order with their items in order; nil when the restaurant is unknown.
    func menu(restaurant: String) async throws(StoreError) -> Menu?
    func section(restaurant: String, id: String) async throws(StoreError) -> MenuSection?
    /// Adds a section (position: `nil` appends); `conflict` past `MenuLimits.sectionsPerRestaurant`.
    func createSection(restaurant: String, id: String, name: String, position: Int?) async throws(StoreError)
        -> MenuSection
    func updateSection(_ section: MenuSection) async throws(StoreError) -> MenuSection
    /// Deletes an empty section; false when absent; `conflict` while it holds items.
    func deleteSection(restaurant: String, id: String) async throws(StoreError) -> Bool
    func menuItem(restaurant: String, id: String) async throws(StoreError) -> MenuItem?
    /// The items of `restaurant` with these ids (unknown ids simply absent), with their option groups.
    func menuItems(restaurant: String, ids: [String]) async throws(StoreError) -> [MenuItem]
    /// Adds an item (appended to its section); `notFound` when the section is not the restaurant's, `conflict`
    /// past `MenuLimits.itemsPerRestaurant`.
    func createMenuItem(_ item: MenuItem) async throws(StoreError) -> MenuItem
    /// Replaces an item; `notFound` when it or its (new) section is not the restaurant's.
    func updateMenuItem(_ item: MenuItem) async throws(StoreError) -> MenuItem
    func deleteMenuItem(restaurant: String, id: String) async throws(StoreError) -> Bool

    // Zones.
    /// Stores a zone and re-derives every restaurant's zone.
    func createZone(_ zone: Zone) async throws(StoreError) -> Zone
    /// Replaces a zone and re-derives every restaurant's zone; `notFound` when absent.
    func updateZone(_ zone: Zone) async throws(StoreError) -> Zone
    func zone(id: String) async throws(StoreError) -> Zone?
    /// Zones in id order after `after`, at most `limit`.
    func zones(after: String?, limit: Int) async throws(StoreError) -> [Zone]
    /// The active zone containing `point`, nil when none serves it. Overlaps resolve to the smallest area, then
    /// the lowest id; boundary points count as inside.
    func zone(containing point: GeoPoint) async throws(StoreError) -> Zone?
}

extension Zone {
    /// Of several zones containing a point, the one that serves it: active, smallest area, then lowest id.
    package static func serving(_ point: GeoPoint, among zones: [Zone]) -> Zone? {
        zones.filter { $0.active && $0.contains(point) }.min { a, b in
            let (areaA, areaB) = (a.area, b.area)
            return areaA != areaB ? areaA < areaB : a.id < b.id
        }
    }
}

extension RestaurantQuery {
    /// The `LIKE … ESCAPE '\\'` pattern matching names that contain `text`: its wildcards (`%`, `_`) and the escape
    /// character escaped by a backslash, so a search is literal in both backends.
    package static func likeContaining(_ text: String) -> String {
        var out = "%"
        for c in text {
            if c == "%" || c == "_" || c == "\\" { out.append("\\") }
            out.append(c)
        }
        return out + "%"
    }
}
