import DabbaCore
import DabbaProtocol
import HubModel
import PostgresNIO

/// Restaurants and zones. A restaurant's zone is derived from the zones when it is written, and every restaurant's
/// is re-derived when a zone is: those writes take one transaction-scoped advisory lock (``zonesLock``), so a
/// restaurant placed while a zone changes is derived from the zones before or after the change, never a mix — as
/// with SQLite's one writer. Reads need no lock (one snapshot each).
extension PostgresHubStore: MarketRepository {
    /// The advisory lock of zone derivation ("dabba_zn").
    static let zonesLock: Int64 = 0x6461_6262_615F_7A6E

    // MARK: Restaurants

    /// READ COMMITTED under ``zonesLock``: the zone is derived and the row inserted while no zone changes.
    package func createRestaurant(_ restaurant: Restaurant) async throws(StoreError) -> Restaurant {
        try await requireRestaurantUser(restaurant.ownerUserID)
        let now = wallClockMilliseconds()
        return try await transaction { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.zonesLock))", logger: logger)
            var stored = restaurant
            stored.zoneID = try await servingZone(restaurant.location, on: connection)?.id
            let hours = String(decoding: PayloadCoding.encode(stored.hours), as: UTF8.self)
            try await connection.query(
                """
                INSERT INTO restaurants(id, owner_id, name, address, lat, lon, zone_id, currency, paused, hours, created,
                    updated)
                VALUES(\(stored.id), \(stored.ownerUserID), \(stored.name), \(stored.address), \(stored.location.lat),
                    \(stored.location.lon), \(stored.zoneID), \(stored.currency), \(stored.paused), \(hours), \(now),
                    \(now))
                """, logger: logger)
            return stored
        }
    }

    /// READ COMMITTED under ``zonesLock``, with the restaurant's row locked (`FOR UPDATE`) before the menu is
    /// counted: a menu item added concurrently (it locks the same row) cannot slip in under a currency change.
    package func updateRestaurant(_ restaurant: Restaurant) async throws(StoreError) -> Restaurant {
        guard let old = try await self.restaurant(id: restaurant.id) else {
            throw StoreError(.notFound, "no restaurant \(restaurant.id)")
        }
        if old.ownerUserID != restaurant.ownerUserID { try await requireRestaurantUser(restaurant.ownerUserID) }
        let now = wallClockMilliseconds()
        return try await transaction { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.zonesLock))", logger: logger)
            guard
                let currency = try await connection.scalar(
                    String.self, "SELECT currency FROM restaurants WHERE id = \(restaurant.id) FOR UPDATE", logger)
            else { throw StoreError(.notFound, "no restaurant \(restaurant.id)") }
            if currency != restaurant.currency,
                try await connection.scalar(
                    Int64.self, "SELECT count(*) FROM menu_items WHERE restaurant_id = \(restaurant.id)", logger) ?? 0
                    > 0
            {
                throw StoreError(.conflict, "the currency cannot change while the menu has items")
            }
            var stored = restaurant
            stored.zoneID = try await servingZone(restaurant.location, on: connection)?.id
            let hours = String(decoding: PayloadCoding.encode(stored.hours), as: UTF8.self)
            try await connection.query(
                """
                UPDATE restaurants SET owner_id = \(stored.ownerUserID), name = \(stored.name),
                    address = \(stored.address), lat = \(stored.location.lat), lon = \(stored.location.lon),
                    zone_id = \(stored.zoneID), currency = \(stored.currency), paused = \(stored.paused),
                    hours = \(hours), updated = \(now)
                WHERE id = \(stored.id)
                """, logger: logger)
            return stored
        }
    }

    /// One `SELECT`.
    package func restaurant(id: String) async throws(StoreError) -> Restaurant? {
        try await run { connection in
            try await readRestaurants("\(unescaped: Self.restaurantSelect) WHERE id = \(id)", on: connection).first
        }
    }

    /// One `SELECT` of the candidates (text, owner and bounding box filters); distance, opening hours and the
    /// cursor are applied by `RestaurantQuery.page`, as for SQLite.
    package func restaurants(matching query: RestaurantQuery) async throws(StoreError) -> [RestaurantHit] {
        var conditions: [String] = []
        var binds = PostgresBindings()
        func bind(_ value: some PostgresDynamicTypeEncodable) -> String {
            binds.append(value)
            return "$\(binds.count)"
        }
        if let near = query.near {
            let box = Geo.box(around: near, radius: query.radius)
            conditions.append("lat BETWEEN \(bind(box.minLat)) AND \(bind(box.maxLat))")
            if box.minLon >= -180 && box.maxLon <= 180 {
                conditions.append("lon BETWEEN \(bind(box.minLon)) AND \(bind(box.maxLon))")
            }
        }
        if let owner = query.owner { conditions.append("owner_id = \(bind(owner))") }
        if let text = query.text, !text.isEmpty {
            // ILIKE: case-insensitive as SQLite's LIKE.
            let pattern = bind(RestaurantQuery.likeContaining(text))
            conditions.append(
                """
                (name ILIKE \(pattern) ESCAPE '\\' OR EXISTS (SELECT 1 FROM menu_items i
                    WHERE i.restaurant_id = restaurants.id AND i.name ILIKE \(pattern) ESCAPE '\\'))
                """)
        }
        var sql = Self.restaurantSelect
        // Without distance or opening filters the id order and the page can be done by the database itself.
        let simple = query.near == nil && query.openAt == nil
        if simple, let after = query.after { conditions.append("id > \(bind(after.id))") }
        if !conditions.isEmpty { sql += " WHERE " + conditions.joined(separator: " AND ") }
        if simple { sql += " ORDER BY id LIMIT \(bind(Int64(query.limit)))" }
        let statement = PostgresQuery(unsafeSQL: sql, binds: binds)
        let candidates = try await run { connection in try await readRestaurants(statement, on: connection) }
        return query.page(candidates)
    }

    // MARK: Zones

    /// READ COMMITTED under ``zonesLock``: the zone and every restaurant's re-derived zone commit together.
    package func createZone(_ zone: Zone) async throws(StoreError) -> Zone {
        let now = wallClockMilliseconds()
        try await transaction { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.zonesLock))", logger: logger)
            let (ring, b) = Self.zoneColumns(zone)
            try await connection.query(
                """
                INSERT INTO zones(id, name, polygon, min_lat, max_lat, min_lon, max_lon, area, delivery_fee, currency,
                    active, created, updated)
                VALUES(\(zone.id), \(zone.name), \(ring), \(b.minLat), \(b.maxLat), \(b.minLon), \(b.maxLon),
                    \(zone.area), \(zone.deliveryFee), \(zone.currency), \(zone.active), \(now), \(now))
                """, logger: logger)
            try await refreshRestaurantZones(on: connection)
        }
        return zone
    }

    /// READ COMMITTED under ``zonesLock``, as ``createZone(_:)``.
    package func updateZone(_ zone: Zone) async throws(StoreError) -> Zone {
        let now = wallClockMilliseconds()
        let changed = try await transaction { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.zonesLock))", logger: logger)
            let (ring, b) = Self.zoneColumns(zone)
            let changed = try await connection.rows(
                """
                UPDATE zones SET name = \(zone.name), polygon = \(ring), min_lat = \(b.minLat), max_lat = \(b.maxLat),
                    min_lon = \(b.minLon), max_lon = \(b.maxLon), area = \(zone.area),
                    delivery_fee = \(zone.deliveryFee), currency = \(zone.currency), active = \(zone.active),
                    updated = \(now)
                WHERE id = \(zone.id) RETURNING 1
                """, logger
            ).count
            if changed > 0 { try await refreshRestaurantZones(on: connection) }
            return changed
        }
        guard changed > 0 else { throw StoreError(.notFound, "no zone \(zone.id)") }
        return zone
    }

    /// One `SELECT`.
    package func zone(id: String) async throws(StoreError) -> Zone? {
        try await run { connection in
            try await readZones("\(unescaped: Self.zoneSelect) WHERE id = \(id)", on: connection).first
        }
    }

    /// One `SELECT`, in id order.
    package func zones(after: String?, limit: Int) async throws(StoreError) -> [Zone] {
        let after = after ?? ""
        return try await run { connection in
            try await readZones(
                "\(unescaped: Self.zoneSelect) WHERE id > \(after) ORDER BY id LIMIT \(Int64(limit))", on: connection)
        }
    }

    /// One `SELECT` of the zones whose box holds the point; `Zone.serving` decides.
    package func zone(containing point: GeoPoint) async throws(StoreError) -> Zone? {
        try await run { connection in try await servingZone(point, on: connection) }
    }

    // MARK: Helpers

    private func requireRestaurantUser(_ id: Int64) async throws(StoreError) {
        guard let owner = try await user(id: id), owner.role == .restaurant else {
            throw StoreError(.notFound, "no restaurant user \(id)")
        }
    }

    /// The active zone serving `point` (bounding boxes prefilter, `Zone.serving` decides).
    func servingZone(_ point: GeoPoint, on connection: PostgresSession) async throws -> Zone? {
        let candidates = try await readZones(
            """
            \(unescaped: Self.zoneSelect) WHERE active AND min_lat <= \(point.lat) AND max_lat >= \(point.lat)
                AND min_lon <= \(point.lon) AND max_lon >= \(point.lon)
            """, on: connection)
        return Zone.serving(point, among: candidates)
    }

    /// Re-derives every restaurant's zone after a zone changed (inside the zone's transaction, under the lock).
    private func refreshRestaurantZones(on connection: PostgresSession) async throws {
        let zones = try await readZones("\(unescaped: Self.zoneSelect) WHERE active", on: connection)
        var changes: [(String, String?)] = []
        for row in try await connection.rows("SELECT id, lat, lon, zone_id FROM restaurants", logger) {
            let (id, lat, lon, current) = try row.decode((String, Double, Double, String?).self)
            let zone = Zone.serving(GeoPoint(lat: lat, lon: lon), among: zones)?.id
            if zone != current { changes.append((id, zone)) }
        }
        for (id, zone) in changes {
            try await connection.query("UPDATE restaurants SET zone_id = \(zone) WHERE id = \(id)", logger: logger)
        }
    }

    static let restaurantSelect =
        "SELECT id, owner_id, name, address, lat, lon, zone_id, currency, paused, hours FROM restaurants"

    func readRestaurants(_ query: PostgresQuery, on connection: PostgresSession) async throws -> [Restaurant] {
        try await connection.rows(query, logger).map { row in
            let (id, owner, name, address, lat, lon, zone, currency, paused, hoursText) = try row.decode(
                (String, Int64, String, String, Double, Double, String?, String, Bool, String).self)
            let hours: OpeningHours
            do throws(PayloadError) {
                hours = try PayloadCoding.decode(OpeningHours.self, from: Array(hoursText.utf8))
            } catch {
                // Validated before they were stored; unreadable ones (never expected) read as closed, as in SQLite.
                logger.warning("Stored opening hours do not decode", metadata: ["restaurant": "\(id)"])
                hours = .closed
            }
            return Restaurant(
                id: id, name: name, address: address, location: GeoPoint(lat: lat, lon: lon), zoneID: zone,
                ownerUserID: owner, currency: currency, paused: paused, hours: hours)
        }
    }

    static let zoneSelect = "SELECT id, name, polygon, delivery_fee, currency, active FROM zones"

    /// The polygon as JSON `[[lon, lat]…]` and its bounding box.
    static func zoneColumns(_ z: Zone) -> (
        ring: String, box: (minLat: Double, maxLat: Double, minLon: Double, maxLon: Double)
    ) {
        let b = Geo.bounds(z.polygon)
        let ring = String(decoding: PayloadCoding.encode(z.polygon.map { [$0.lon, $0.lat] }), as: UTF8.self)
        return (ring, (b.minLat, b.maxLat, b.minLon, b.maxLon))
    }

    func readZones(_ query: PostgresQuery, on connection: PostgresSession) async throws -> [Zone] {
        try await connection.rows(query, logger).map { row in
            let (id, name, polygon, fee, currency, active) = try row.decode(
                (String, String, String, Int64, String, Bool).self)
            let ring: [[Double]]
            do throws(PayloadError) {
                ring = try PayloadCoding.decode([[Double]].self, from: Array(polygon.utf8))
            } catch {
                throw StoreError(.corrupt, "zones \(id): polygon does not decode")
            }
            return Zone(
                id: id, name: name, polygon: ring.compactMap { $0.count == 2 ? GeoPoint(lat: $0[1], lon: $0[0]) : nil },
                deliveryFee: fee, currency: currency, active: active)
        }
    }
}

extension PostgresHubStore: RestaurantDirectory {
    /// One `SELECT` (``restaurant(id:)``).
    package func restaurantSummary(id: String) async throws(StoreError) -> RestaurantSummary? {
        guard let r = try await restaurant(id: id) else { return nil }
        return RestaurantSummary(
            id: r.id, name: r.name, address: r.address, lat: r.location.lat, lon: r.location.lon,
            ownerUserID: r.ownerUserID)
    }

    /// One `SELECT` per id (``restaurant(id:)``).
    package func restaurantSummaries(ids: Set<String>) async throws(StoreError) -> [String: RestaurantSummary] {
        var found: [String: RestaurantSummary] = [:]
        for id in ids {
            if let summary = try await restaurantSummary(id: id) { found[id] = summary }
        }
        return found
    }

    /// One `SELECT`, in id order.
    package func restaurantIDs(ownedBy user: Int64) async throws(StoreError) -> [String] {
        try await run { connection in
            try await connection.rows("SELECT id FROM restaurants WHERE owner_id = \(user) ORDER BY id", logger)
                .map { try $0.decode(String.self) }
        }
    }
}
