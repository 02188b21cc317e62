import DabbaSQLite
import HubModel

extension SQLiteHubStore: RestaurantDirectory {
    package func restaurantSummary(id: String) throws(StoreError) -> RestaurantSummary? {
        try run { () throws(SQLiteError) -> RestaurantSummary? in try readSummary(id: id) }
    }

    /// One `run`, one read per id.
    package func restaurantSummaries(ids: Set<String>) throws(StoreError) -> [String: RestaurantSummary] {
        try run { () throws(SQLiteError) -> [String: RestaurantSummary] in
            var found: [String: RestaurantSummary] = [:]
            for id in ids {
                if let summary = try readSummary(id: id) { found[id] = summary }
            }
            return found
        }
    }

    /// The summary's columns only (not the opening hours, which are JSON).
    private func readSummary(id: String) throws(SQLiteError) -> RestaurantSummary? {
        let s = try db.prepare("SELECT id, name, address, lat, lon, owner_id FROM restaurants WHERE id = ?")
        defer { s.reset() }
        try s.bind([.text(id)])
        guard try s.step() else { return nil }
        return RestaurantSummary(
            id: s.text(0) ?? "", name: s.text(1) ?? "", address: s.text(2) ?? "", lat: s.double(3), lon: s.double(4),
            ownerUserID: s.int64(5))
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
