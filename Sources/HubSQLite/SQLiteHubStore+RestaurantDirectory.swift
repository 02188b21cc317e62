import DabbaSQLite
import HubModel

extension SQLiteHubStore: RestaurantDirectory {
    package func restaurantSummary(id: String) throws(StoreError) -> RestaurantSummary? {
        guard let r = try restaurant(id: id) else { return nil }
        return RestaurantSummary(
            id: r.id, name: r.name, address: r.address, lat: r.location.lat, lon: r.location.lon,
            ownerUserID: r.ownerUserID)
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
