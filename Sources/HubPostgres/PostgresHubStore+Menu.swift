import DabbaProtocol
import HubModel
import PostgresNIO

/// Menu sections and items; an item's option groups are one JSON column. Writes that count or number a
/// restaurant's menu (limits, the next position, an empty section) run in a READ COMMITTED transaction that first
/// locks the restaurant's row (`SELECT … FOR UPDATE`), so writes to one menu are serialised as SQLite serialises all
/// writers, and two hubs cannot both add the 500th item.
extension PostgresHubStore {
    /// One snapshot: the restaurant, its sections and items read in one REPEATABLE READ transaction.
    package func menu(restaurant: String) async throws(StoreError) -> Menu? {
        try await transaction(.repeatableRead) { connection in
            guard
                let owner = try await readRestaurants(
                    "\(unescaped: Self.restaurantSelect) WHERE id = \(restaurant)", on: connection
                ).first
            else { return nil }
            let sections = try await readSections(
                "\(unescaped: Self.sectionSelect) WHERE restaurant_id = \(restaurant) ORDER BY position, id",
                on: connection)
            let items = try await readItems(
                "\(unescaped: Self.itemSelect) WHERE restaurant_id = \(restaurant) ORDER BY position, id",
                on: connection)
            let bySection = Dictionary(grouping: items, by: \.sectionID)
            return Menu(
                restaurantID: restaurant, currency: owner.currency,
                sections: sections.map { Menu.Section(section: $0, items: bySection[$0.id] ?? []) })
        }
    }

    /// One `SELECT`.
    package func section(restaurant: String, id: String) async throws(StoreError) -> MenuSection? {
        try await run { connection in
            try await readSections(
                "\(unescaped: Self.sectionSelect) WHERE restaurant_id = \(restaurant) AND id = \(id)", on: connection
            ).first
        }
    }

    /// READ COMMITTED with the restaurant's row locked: the count, the next position and the insert see every
    /// section committed before.
    package func createSection(restaurant: String, id: String, name: String, position: Int?)
        async throws(StoreError) -> MenuSection
    {
        try await transaction { connection in
            try await lockRestaurant(restaurant, on: connection)
            let count =
                try await connection.scalar(
                    Int64.self, "SELECT count(*) FROM menu_sections WHERE restaurant_id = \(restaurant)", logger) ?? 0
            guard count < MenuLimits.sectionsPerRestaurant else {
                throw StoreError(.conflict, "at most \(MenuLimits.sectionsPerRestaurant) sections")
            }
            let next =
                try await connection.scalar(
                    Int64?.self, "SELECT max(position) + 1 FROM menu_sections WHERE restaurant_id = \(restaurant)",
                    logger) ?? nil
            let section = MenuSection(
                id: id, restaurantID: restaurant, name: name, position: position ?? Int(next ?? 0))
            try await connection.query(
                """
                INSERT INTO menu_sections(id, restaurant_id, name, position)
                VALUES(\(id), \(restaurant), \(name), \(Int64(section.position)))
                """, logger: logger)
            return section
        }
    }

    /// One `UPDATE`.
    package func updateSection(_ section: MenuSection) async throws(StoreError) -> MenuSection {
        let changed = try await run { connection in
            try await connection.rows(
                """
                UPDATE menu_sections SET name = \(section.name), position = \(Int64(section.position))
                WHERE id = \(section.id) AND restaurant_id = \(section.restaurantID) RETURNING 1
                """, logger
            ).count
        }
        guard changed > 0 else { throw StoreError(.notFound, "no section \(section.id)") }
        return section
    }

    /// READ COMMITTED with the restaurant's row locked: an item added to the section concurrently (it locks the
    /// same row) is either seen here or waits and then finds the section gone.
    package func deleteSection(restaurant: String, id: String) async throws(StoreError) -> Bool {
        try await transaction { connection in
            guard try await lockRestaurant(restaurant, on: connection) else { return false }
            let items =
                try await connection.scalar(
                    Int64.self,
                    "SELECT count(*) FROM menu_items WHERE restaurant_id = \(restaurant) AND section_id = \(id)",
                    logger) ?? 0
            if items > 0 { throw StoreError(.conflict, "the section still has items; move or delete them first") }
            return try await connection.rows(
                "DELETE FROM menu_sections WHERE id = \(id) AND restaurant_id = \(restaurant) RETURNING 1", logger
            ).count > 0
        }
    }

    /// One `SELECT`.
    package func menuItem(restaurant: String, id: String) async throws(StoreError) -> MenuItem? {
        try await menuItems(restaurant: restaurant, ids: [id]).first
    }

    /// One `SELECT` (the ids as one array parameter).
    package func menuItems(restaurant: String, ids: [String]) async throws(StoreError) -> [MenuItem] {
        let unique = Array(Set(ids)).sorted()
        guard !unique.isEmpty else { return [] }
        return try await run { connection in
            try await readItems(
                "\(unescaped: Self.itemSelect) WHERE restaurant_id = \(restaurant) AND id = ANY(\(unique)) ORDER BY id",
                on: connection)
        }
    }

    /// READ COMMITTED with the restaurant's row locked (the limit and the next position); the section is checked in
    /// the same transaction.
    package func createMenuItem(_ item: MenuItem) async throws(StoreError) -> MenuItem {
        try await transaction { connection in
            try await lockRestaurant(item.restaurantID, on: connection)
            try await requireSection(item, on: connection)
            let count =
                try await connection.scalar(
                    Int64.self, "SELECT count(*) FROM menu_items WHERE restaurant_id = \(item.restaurantID)", logger)
                ?? 0
            guard count < MenuLimits.itemsPerRestaurant else {
                throw StoreError(.conflict, "at most \(MenuLimits.itemsPerRestaurant) items")
            }
            var stored = item
            stored.position = try await nextItemPosition(item, on: connection)
            try await insertOrUpdate(stored, insert: true, on: connection)
            return stored
        }
    }

    /// READ COMMITTED with the restaurant's row locked (a move appends to the new section).
    package func updateMenuItem(_ item: MenuItem) async throws(StoreError) -> MenuItem {
        try await transaction { connection in
            try await lockRestaurant(item.restaurantID, on: connection)
            guard
                let old = try await readItems(
                    "\(unescaped: Self.itemSelect) WHERE restaurant_id = \(item.restaurantID) AND id = \(item.id)",
                    on: connection
                ).first
            else { throw StoreError(.notFound, "no item \(item.id)") }
            try await requireSection(item, on: connection)
            var stored = item
            if old.sectionID != item.sectionID { stored.position = try await nextItemPosition(item, on: connection) }
            try await insertOrUpdate(stored, insert: false, on: connection)
            return stored
        }
    }

    /// One `DELETE`.
    package func deleteMenuItem(restaurant: String, id: String) async throws(StoreError) -> Bool {
        try await run { connection in
            try await connection.rows(
                "DELETE FROM menu_items WHERE id = \(id) AND restaurant_id = \(restaurant) RETURNING 1", logger
            ).count > 0
        }
    }

    /// Locks the restaurant's row for the transaction; false when there is no such restaurant.
    @discardableResult
    private func lockRestaurant(_ id: String, on connection: PostgresSession) async throws -> Bool {
        try await !connection.rows("SELECT 1 FROM restaurants WHERE id = \(id) FOR UPDATE", logger).isEmpty
    }

    /// A section id of another restaurant is as unknown as a missing one.
    private func requireSection(_ item: MenuItem, on connection: PostgresSession) async throws {
        let found = try await connection.rows(
            "SELECT 1 FROM menu_sections WHERE restaurant_id = \(item.restaurantID) AND id = \(item.sectionID)", logger)
        if found.isEmpty { throw StoreError(.notFound, "no section \(item.sectionID)") }
    }

    private func nextItemPosition(_ item: MenuItem, on connection: PostgresSession) async throws -> Int {
        let next = try await connection.scalar(
            Int64?.self,
            """
            SELECT max(position) + 1 FROM menu_items
            WHERE restaurant_id = \(item.restaurantID) AND section_id = \(item.sectionID)
            """, logger)
        return Int((next ?? nil) ?? 0)
    }

    private func insertOrUpdate(_ i: MenuItem, insert: Bool, on connection: PostgresSession) async throws {
        let groups = Bytea.bind(PayloadCoding.encode(i.optionGroups))
        let position = Int64(i.position)
        if insert {
            try await connection.query(
                """
                INSERT INTO menu_items(id, restaurant_id, section_id, name, description, price, currency, available,
                    option_groups, position)
                VALUES(\(i.id), \(i.restaurantID), \(i.sectionID), \(i.name), \(i.description), \(i.price),
                    \(i.currency), \(i.available), \(groups), \(position))
                """, logger: logger)
        } else {
            try await connection.query(
                """
                UPDATE menu_items SET section_id = \(i.sectionID), name = \(i.name), description = \(i.description),
                    price = \(i.price), currency = \(i.currency), available = \(i.available),
                    option_groups = \(groups), position = \(position)
                WHERE id = \(i.id) AND restaurant_id = \(i.restaurantID)
                """, logger: logger)
        }
    }

    static let sectionSelect = "SELECT id, restaurant_id, name, position FROM menu_sections"
    static let itemSelect = """
        SELECT id, restaurant_id, section_id, name, description, price, currency, available, option_groups, position
        FROM menu_items
        """

    private func readSections(_ query: PostgresQuery, on connection: PostgresSession) async throws
        -> [MenuSection]
    {
        try await connection.rows(query, logger).map { row in
            let (id, restaurant, name, position) = try row.decode((String, String, String, Int64).self)
            return MenuSection(id: id, restaurantID: restaurant, name: name, position: Int(position))
        }
    }

    private func readItems(_ query: PostgresQuery, on connection: PostgresSession) async throws -> [MenuItem] {
        try await connection.rows(query, logger).map { row in
            let (id, restaurant, section, name, description, price, currency, available, groups, position) =
                try row.decode((String, String, String, String, String, Int64, String, Bool, ByteBuffer, Int64).self)
            let optionGroups: [MenuOptionGroup]
            do throws(PayloadError) {
                optionGroups = try PayloadCoding.decode([MenuOptionGroup].self, from: Bytea.read(groups))
            } catch {
                throw StoreError(.corrupt, "menu_items \(id): option groups do not decode")
            }
            return MenuItem(
                id: id, restaurantID: restaurant, sectionID: section, name: name, description: description,
                price: price, currency: currency, available: available, optionGroups: optionGroups,
                position: Int(position))
        }
    }
}
