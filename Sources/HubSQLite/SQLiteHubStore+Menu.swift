import DabbaProtocol
import DabbaSQLite
import HubModel

/// Menu sections and items in SQLite; an item's option groups are one JSON column.
extension SQLiteHubStore {
    package func menu(restaurant: String) throws(StoreError) -> Menu? {
        guard let owner = try self.restaurant(id: restaurant) else { return nil }
        return try run { () throws(SQLiteError) in
            let sections = try readSections(
                Self.sectionSelect + " WHERE restaurant_id = ? ORDER BY position, id", [.text(restaurant)])
            let items = try readItems(
                Self.itemSelect + " WHERE restaurant_id = ? ORDER BY position, id", [.text(restaurant)])
            let bySection = Dictionary(grouping: items, by: \.sectionID)
            return Menu(
                restaurantID: restaurant, currency: owner.currency,
                sections: sections.map { Menu.Section(section: $0, items: bySection[$0.id] ?? []) })
        }
    }

    package func section(restaurant: String, id: String) throws(StoreError) -> MenuSection? {
        try run { () throws(SQLiteError) in
            try readSections(
                Self.sectionSelect + " WHERE restaurant_id = ? AND id = ?", [.text(restaurant), .text(id)]
            )
            .first
        }
    }

    package func createSection(restaurant: String, id: String, name: String, position: Int?) throws(StoreError)
        -> MenuSection
    {
        try run { () throws(SQLiteError) in
            try db.transaction { () throws(SQLiteError) in
                let count =
                    try db.scalarInt(
                        "SELECT count(*) FROM menu_sections WHERE restaurant_id = ?", [.text(restaurant)]) ?? 0
                guard count < MenuLimits.sectionsPerRestaurant else {
                    throw SQLiteError(extendedCode: 19, message: "at most \(MenuLimits.sectionsPerRestaurant) sections")
                }
                let next =
                    try db.scalarInt(
                        "SELECT max(position) + 1 FROM menu_sections WHERE restaurant_id = ?", [.text(restaurant)]) ?? 0
                let section = MenuSection(id: id, restaurantID: restaurant, name: name, position: position ?? Int(next))
                try db.prepare("INSERT INTO menu_sections(id, restaurant_id, name, position) VALUES(?, ?, ?, ?)")
                    .run([.text(id), .text(restaurant), .text(name), .integer(Int64(section.position))])
                return section
            }
        }
    }

    package func updateSection(_ section: MenuSection) throws(StoreError) -> MenuSection {
        let changed = try run { () throws(SQLiteError) in
            try db.prepare("UPDATE menu_sections SET name = ?, position = ? WHERE id = ? AND restaurant_id = ?")
                .run([
                    .text(section.name), .integer(Int64(section.position)), .text(section.id),
                    .text(section.restaurantID),
                ])
            return db.changes
        }
        guard changed > 0 else { throw StoreError(.notFound, "no section \(section.id)") }
        return section
    }

    package func deleteSection(restaurant: String, id: String) throws(StoreError) -> Bool {
        try run { () throws(SQLiteError) in
            try db.transaction { () throws(SQLiteError) in
                if try db.scalarInt(
                    "SELECT count(*) FROM menu_items WHERE restaurant_id = ? AND section_id = ?",
                    [.text(restaurant), .text(id)])
                    ?? 0 > 0
                {
                    throw SQLiteError(
                        extendedCode: 19, message: "the section still has items; move or delete them first")
                }
                try db.prepare("DELETE FROM menu_sections WHERE id = ? AND restaurant_id = ?")
                    .run([.text(id), .text(restaurant)])
                return db.changes > 0
            }
        }
    }

    package func menuItem(restaurant: String, id: String) throws(StoreError) -> MenuItem? {
        try menuItems(restaurant: restaurant, ids: [id]).first
    }

    package func menuItems(restaurant: String, ids: [String]) throws(StoreError) -> [MenuItem] {
        let unique = Array(Set(ids)).sorted()
        guard !unique.isEmpty else { return [] }
        return try run { () throws(SQLiteError) in
            var items: [MenuItem] = []
            // Chunks keep the number of bound parameters well under SQLite's limit.
            for start in stride(from: 0, to: unique.count, by: 200) {
                let chunk = unique[start..<min(start + 200, unique.count)]
                let marks = Array(repeating: "?", count: chunk.count).joined(separator: ", ")
                items += try readItems(
                    Self.itemSelect + " WHERE restaurant_id = ? AND id IN (\(marks)) ORDER BY id",
                    [.text(restaurant)] + chunk.map { .text($0) })
            }
            return items
        }
    }

    package func createMenuItem(_ item: MenuItem) throws(StoreError) -> MenuItem {
        try requireSection(item)
        var stored = item
        try run { () throws(SQLiteError) in
            try db.transaction { () throws(SQLiteError) in
                let count =
                    try db.scalarInt(
                        "SELECT count(*) FROM menu_items WHERE restaurant_id = ?", [.text(item.restaurantID)]) ?? 0
                guard count < MenuLimits.itemsPerRestaurant else {
                    throw SQLiteError(extendedCode: 19, message: "at most \(MenuLimits.itemsPerRestaurant) items")
                }
                stored.position = Int(try nextItemPosition(item))
                try db.prepare(
                    """
                    INSERT INTO menu_items(id, restaurant_id, section_id, name, description, price, currency, available,
                        option_groups, position) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                    """
                ).run(Self.itemValues(stored))
            }
        }
        return stored
    }

    package func updateMenuItem(_ item: MenuItem) throws(StoreError) -> MenuItem {
        guard let old = try menuItem(restaurant: item.restaurantID, id: item.id) else {
            throw StoreError(.notFound, "no item \(item.id)")
        }
        try requireSection(item)
        var stored = item
        try run { () throws(SQLiteError) in
            try db.transaction { () throws(SQLiteError) in
                // Moved to another section: appended there.
                if old.sectionID != item.sectionID { stored.position = Int(try nextItemPosition(item)) }
                try db.prepare(
                    """
                    UPDATE menu_items SET section_id = ?3, name = ?4, description = ?5, price = ?6, currency = ?7,
                        available = ?8, option_groups = ?9, position = ?10 WHERE id = ?1 AND restaurant_id = ?2
                    """
                ).run(Self.itemValues(stored))
            }
        }
        return stored
    }

    package func deleteMenuItem(restaurant: String, id: String) throws(StoreError) -> Bool {
        try run { () throws(SQLiteError) in
            try db.prepare("DELETE FROM menu_items WHERE id = ? AND restaurant_id = ?").run([
                .text(id), .text(restaurant),
            ])
            return db.changes > 0
        }
    }

    /// A section id of another restaurant is as unknown as a missing one.
    private func requireSection(_ item: MenuItem) throws(StoreError) {
        guard try section(restaurant: item.restaurantID, id: item.sectionID) != nil else {
            throw StoreError(.notFound, "no section \(item.sectionID)")
        }
    }

    private func nextItemPosition(_ item: MenuItem) throws(SQLiteError) -> Int64 {
        try db.scalarInt(
            "SELECT max(position) + 1 FROM menu_items WHERE restaurant_id = ? AND section_id = ?",
            [.text(item.restaurantID), .text(item.sectionID)]) ?? 0
    }

    static let sectionSelect = "SELECT id, restaurant_id, name, position FROM menu_sections"
    static let itemSelect = """
        SELECT id, restaurant_id, section_id, name, description, price, currency, available, option_groups, position
        FROM menu_items
        """

    private func readSections(_ sql: String, _ values: [SQLiteValue]) throws(SQLiteError) -> [MenuSection] {
        let s = try db.prepare(sql)
        defer { s.reset() }
        try s.bind(values)
        var result: [MenuSection] = []
        while try s.step() {
            result.append(
                MenuSection(
                    id: s.text(0) ?? "", restaurantID: s.text(1) ?? "", name: s.text(2) ?? "", position: Int(s.int64(3))
                ))
        }
        return result
    }

    private func readItems(_ sql: String, _ values: [SQLiteValue]) throws(SQLiteError) -> [MenuItem] {
        let s = try db.prepare(sql)
        defer { s.reset() }
        try s.bind(values)
        var result: [MenuItem] = []
        while try s.step() {
            result.append(
                MenuItem(
                    id: s.text(0) ?? "", restaurantID: s.text(1) ?? "", sectionID: s.text(2) ?? "",
                    name: s.text(3) ?? "",
                    description: s.text(4) ?? "", price: s.int64(5), currency: s.text(6) ?? "",
                    available: s.int64(7) != 0,
                    optionGroups: (try? PayloadCoding.decode([MenuOptionGroup].self, from: s.bytes(8))) ?? [],
                    position: Int(s.int64(9))))
        }
        return result
    }

    /// Parameters 1…10 of the item statements.
    private static func itemValues(_ i: MenuItem) -> [SQLiteValue] {
        [
            .text(i.id), .text(i.restaurantID), .text(i.sectionID), .text(i.name), .text(i.description),
            .integer(i.price), .text(i.currency), .integer(i.available ? 1 : 0),
            .blob(PayloadCoding.encode(i.optionGroups)),
            .integer(Int64(i.position)),
        ]
    }
}
