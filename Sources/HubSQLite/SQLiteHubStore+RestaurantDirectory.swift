import DabbaSQLite
import HubModel

extension SQLiteHubStore: RestaurantDirectory {
    package func restaurantSummary(id: String) throws(StoreError) -> RestaurantSummary? {
        guard let r = try restaurant(id: id) else { return nil }
        return RestaurantSummary(
            id: r.id, name: r.name, address: r.address, lat: r.location.lat, lon: r.location.lon,
            ownerUserID: r.ownerUserID)
    }

    /// One call on the store's thread, one read per id.
    package func restaurantSummaries(ids: Set<String>) throws(StoreError) -> [String: RestaurantSummary] {
        var found: [String: RestaurantSummary] = [:]
        for id in ids {
            if let summary = try restaurantSummary(id: id) { found[id] = summary }
        }
        return found
    }

    package func restaurantIDs(ownedBy user: Int64) throws(StoreError) -> [String] {
        try run { () throws(SQLiteError) -> [String] in
            let s = try db.prepare("SELECT id FROM restaurants WHERE owner_id = ? ORDER BY id")
            defer { s.reset() }
            try s.bind([.integer(user)])
            var ids: [String] = []
            while try s.step() { ids.append(s.text(0) ?? "") }
            return ids
        }
    }
}
