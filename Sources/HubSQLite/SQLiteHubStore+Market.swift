import DabbaCore
import DabbaProtocol
import DabbaSQLite
import HubModel

/// Restaurants, menus and zones in SQLite. Hours and option groups are stored as JSON, polygons as JSON
/// `[[lon, lat]…]` with their bounding box and area in columns (the box prefilters point lookups).
extension SQLiteHubStore: MarketRepository {
    // MARK: Restaurants

    package func createRestaurant(_ restaurant: Restaurant) throws(StoreError) -> Restaurant {
        try requireRestaurantUser(restaurant.ownerUserID)
        var stored = restaurant
        let now = wallClockMilliseconds()
        try run { () throws(SQLiteError) in
            stored.zoneID = try servingZone(restaurant.location)?.id
            try db.prepare(
                """
                INSERT INTO restaurants(id, owner_id, name, address, lat, lon, zone_id, currency, paused, hours, created,
                    updated) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
            ).run(Self.restaurantValues(stored) + [.integer(now), .integer(now)])
        }
        return stored
    }

    package func updateRestaurant(_ restaurant: Restaurant) throws(StoreError) -> Restaurant {
        guard let old = try self.restaurant(id: restaurant.id) else {
            throw StoreError(.notFound, "no restaurant \(restaurant.id)")
        }
        if old.ownerUserID != restaurant.ownerUserID { try requireRestaurantUser(restaurant.ownerUserID) }
        var stored = restaurant
        try run { () throws(SQLiteError) in
            try db.transaction { () throws(SQLiteError) in
                if old.currency != restaurant.currency,
                    try db.scalarInt("SELECT count(*) FROM menu_items WHERE restaurant_id = ?", [.text(restaurant.id)])
                        ?? 0 > 0
                {
                    // A constraint failure (19), so the one SQLite→store conversion makes it `conflict`.
                    throw SQLiteError(extendedCode: 19, message: "the currency cannot change while the menu has items")
                }
                stored.zoneID = try servingZone(restaurant.location)?.id
                try db.prepare(
                    """
                    UPDATE restaurants SET owner_id = ?2, name = ?3, address = ?4, lat = ?5, lon = ?6, zone_id = ?7,
                        currency = ?8, paused = ?9, hours = ?10, updated = ?11 WHERE id = ?1
                    """
                ).run(Self.restaurantValues(stored) + [.integer(wallClockMilliseconds())])
            }
        }
        return stored
    }

    package func restaurant(id: String) throws(StoreError) -> Restaurant? {
        try run { () throws(SQLiteError) in
            try readRestaurants(Self.restaurantSelect + " WHERE id = ?", [.text(id)]).first
        }
    }

    package func restaurants(matching query: RestaurantQuery) throws(StoreError) -> [RestaurantHit] {
        var conditions: [String] = []
        var values: [SQLiteValue] = []
        if let near = query.near {
            let box = Geo.box(around: near, radius: query.radius)
            conditions.append("lat BETWEEN ? AND ?")
            values += [.real(box.minLat), .real(box.maxLat)]
            if box.minLon >= -180 && box.maxLon <= 180 {
                conditions.append("lon BETWEEN ? AND ?")
                values += [.real(box.minLon), .real(box.maxLon)]
            }
        }
        if let owner = query.owner {
            conditions.append("owner_id = ?")
            values.append(.integer(owner))
        }
        if let text = query.text, !text.isEmpty {
            let pattern = RestaurantQuery.likeContaining(text)
            conditions.append(
                """
                (name LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM menu_items i WHERE i.restaurant_id = restaurants.id
                    AND i.name LIKE ? ESCAPE '\\'))
                """)
            values += [.text(pattern), .text(pattern)]
        }
        var sql = Self.restaurantSelect
        // Without distance or opening filters the id order and the page can be done by SQLite itself.
        let simple = query.near == nil && query.openAt == nil
        if simple, let after = query.after {
            conditions.append("id > ?")
            values.append(.text(after.id))
        }
        if !conditions.isEmpty { sql += " WHERE " + conditions.joined(separator: " AND ") }
        if simple {
            sql += " ORDER BY id LIMIT ?"
            values.append(.integer(Int64(query.limit)))
        }
        let candidates = try run { () throws(SQLiteError) in try readRestaurants(sql, values) }
        return query.page(candidates)
    }

    // MARK: Zones

    package func createZone(_ zone: Zone) throws(StoreError) -> Zone {
        let now = wallClockMilliseconds()
        try run { () throws(SQLiteError) in
            try db.transaction { () throws(SQLiteError) in
                try db.prepare(
                    """
                    INSERT INTO zones(id, name, polygon, min_lat, max_lat, min_lon, max_lon, area, delivery_fee, currency,
                        active, created, updated) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12)
                    """
                ).run(Self.zoneValues(zone) + [.integer(now)])
                try refreshRestaurantZones()
            }
        }
        return zone
    }

    package func updateZone(_ zone: Zone) throws(StoreError) -> Zone {
        try run { () throws(SQLiteError) in
            try db.transaction { () throws(SQLiteError) in
                try db.prepare(
                    """
                    UPDATE zones SET name = ?2, polygon = ?3, min_lat = ?4, max_lat = ?5, min_lon = ?6, max_lon = ?7,
                        area = ?8, delivery_fee = ?9, currency = ?10, active = ?11, updated = ?12 WHERE id = ?1
                    """
                ).run(Self.zoneValues(zone) + [.integer(wallClockMilliseconds())])
                guard db.changes > 0 else { return }
                try refreshRestaurantZones()
            }
        }
        guard try self.zone(id: zone.id) != nil else { throw StoreError(.notFound, "no zone \(zone.id)") }
        return zone
    }

    package func zone(id: String) throws(StoreError) -> Zone? {
        try run { () throws(SQLiteError) in try readZones(Self.zoneSelect + " WHERE id = ?", [.text(id)]).first }
    }

    package func zones(after: String?, limit: Int) throws(StoreError) -> [Zone] {
        try run { () throws(SQLiteError) in
            try readZones(
                Self.zoneSelect + " WHERE id > ? ORDER BY id LIMIT ?", [.text(after ?? ""), .integer(Int64(limit))])
        }
    }

    package func zone(containing point: GeoPoint) throws(StoreError) -> Zone? {
        try run { () throws(SQLiteError) in try servingZone(point) }
    }

    // MARK: Helpers

    private func requireRestaurantUser(_ id: Int64) throws(StoreError) {
        guard let owner = try user(id: id), owner.role == .restaurant else {
            throw StoreError(.notFound, "no restaurant user \(id)")
        }
    }

    /// The active zone serving `point` (bounding boxes prefilter, `Zone.serving` decides).
    func servingZone(_ point: GeoPoint) throws(SQLiteError) -> Zone? {
        let candidates = try readZones(
            Self.zoneSelect
                + " WHERE active = 1 AND min_lat <= ?1 AND max_lat >= ?1 AND min_lon <= ?2 AND max_lon >= ?2",
            [.real(point.lat), .real(point.lon)])
        return Zone.serving(point, among: candidates)
    }

    /// Re-derives every restaurant's zone after a zone changed (inside the zone's transaction).
    private func refreshRestaurantZones() throws(SQLiteError) {
        let zones = try readZones(Self.zoneSelect + " WHERE active = 1", [])
        let s = try db.prepare("SELECT id, lat, lon, zone_id FROM restaurants")
        var changes: [(String, String?)] = []
        while try s.step() {
            let zone = Zone.serving(GeoPoint(lat: s.double(1), lon: s.double(2)), among: zones)?.id
            if zone != s.text(3) { changes.append((s.text(0) ?? "", zone)) }
        }
        s.reset()
        let update = try db.prepare("UPDATE restaurants SET zone_id = ? WHERE id = ?")
        for (id, zone) in changes { try update.run([zone.map { .text($0) } ?? .null, .text(id)]) }
    }

    static let restaurantSelect =
        "SELECT id, owner_id, name, address, lat, lon, zone_id, currency, paused, hours FROM restaurants"

    /// id, owner, name, address, lat, lon, zone, currency, paused, hours (parameters 1…10).
    static func restaurantValues(_ r: Restaurant) -> [SQLiteValue] {
        [
            .text(r.id), .integer(r.ownerUserID), .text(r.name), .text(r.address), .real(r.location.lat),
            .real(r.location.lon), r.zoneID.map { .text($0) } ?? .null, .text(r.currency), .integer(r.paused ? 1 : 0),
            .text(String(decoding: PayloadCoding.encode(r.hours), as: UTF8.self)),
        ]
    }

    func readRestaurants(_ sql: String, _ values: [SQLiteValue]) throws(SQLiteError) -> [Restaurant] {
        let s = try db.prepare(sql)
        defer { s.reset() }
        try s.bind(values)
        var result: [Restaurant] = []
        while try s.step() {
            // Hours were validated before they were stored; unreadable ones (never expected) read as closed.
            let hours = (try? PayloadCoding.decode(OpeningHours.self, from: Array((s.text(9) ?? "").utf8))) ?? .closed
            result.append(
                Restaurant(
                    id: s.text(0) ?? "", name: s.text(2) ?? "", address: s.text(3) ?? "",
                    location: GeoPoint(lat: s.double(4), lon: s.double(5)), zoneID: s.text(6), ownerUserID: s.int64(1),
                    currency: s.text(7) ?? "", paused: s.int64(8) != 0, hours: hours))
        }
        return result
    }

    static let zoneSelect = "SELECT id, name, polygon, delivery_fee, currency, active FROM zones"

    /// id, name, polygon, box (4), area, fee, currency, active (parameters 1…11).
    static func zoneValues(_ z: Zone) -> [SQLiteValue] {
        let b = Geo.bounds(z.polygon)
        let ring = PayloadCoding.encode(z.polygon.map { [$0.lon, $0.lat] })
        return [
            .text(z.id), .text(z.name), .text(String(decoding: ring, as: UTF8.self)), .real(b.minLat), .real(b.maxLat),
            .real(b.minLon), .real(b.maxLon), .real(z.area), .integer(z.deliveryFee), .text(z.currency),
            .integer(z.active ? 1 : 0),
        ]
    }

    func readZones(_ sql: String, _ values: [SQLiteValue]) throws(SQLiteError) -> [Zone] {
        let s = try db.prepare(sql)
        defer { s.reset() }
        try s.bind(values)
        var result: [Zone] = []
        while try s.step() {
            let ring = (try? PayloadCoding.decode([[Double]].self, from: Array((s.text(2) ?? "").utf8))) ?? []
            result.append(
                Zone(
                    id: s.text(0) ?? "", name: s.text(1) ?? "",
                    polygon: ring.compactMap { $0.count == 2 ? GeoPoint(lat: $0[1], lon: $0[0]) : nil },
                    deliveryFee: s.int64(3), currency: s.text(4) ?? "", active: s.int64(5) != 0))
        }
        return result
    }
}
