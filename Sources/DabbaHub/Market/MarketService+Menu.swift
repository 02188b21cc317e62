import HubModel

extension MarketService {
    /// Adds a section to the menu of the restaurant `restaurantID` the caller manages.
    func createSection(_ input: MenuRequests.Section, restaurant restaurantID: String, by caller: Identity)
        async throws -> MenuSection
    {
        let restaurant = try await repository.managedRestaurant(restaurantID, by: caller)
        guard let rawName = input.name else { throw APIError.invalid("name: required") }
        let name = try MenuRequests.sectionName(rawName)
        let position = try MenuRequests.position(input.position)
        return try await repository.createSection(
            restaurant: restaurant.id, id: MarketID.make("s"), name: name, position: position)
    }

    /// Renames or moves a section.
    func updateSection(_ id: String, _ change: MenuRequests.Section, restaurant: String, by caller: Identity)
        async throws -> MenuSection
    {
        var section = try await existingSection(id, restaurant: restaurant, by: caller)
        if let name = change.name { section.name = try MenuRequests.sectionName(name) }
        if let position = try MenuRequests.position(change.position) { section.position = position }
        return try await repository.updateSection(section)
    }

    /// Deletes a section (the repository says what happens to its items).
    func deleteSection(_ id: String, restaurant: String, by caller: Identity) async throws {
        let section = try await existingSection(id, restaurant: restaurant, by: caller)
        _ = try await repository.deleteSection(restaurant: section.restaurantID, id: section.id)
    }

    /// Adds an item (``MenuRequests/newItem(_:id:restaurant:)``: `sectionID`, `name` and `price` required, the
    /// restaurant's currency).
    func createItem(_ input: MenuRequests.Item, restaurant restaurantID: String, by caller: Identity) async throws
        -> MenuItem
    {
        let restaurant = try await repository.managedRestaurant(restaurantID, by: caller)
        let item = try MenuRequests.newItem(input, id: MarketID.make("i"), restaurant: restaurant)
        try await requireSection(item)
        return try await repository.createMenuItem(item)
    }

    /// Applies `change` to the item `id`.
    func updateItem(_ id: String, _ change: MenuRequests.Item, restaurant restaurantID: String, by caller: Identity)
        async throws -> MenuItem
    {
        let restaurant = try await repository.managedRestaurant(restaurantID, by: caller)
        // Two steps, not `try await` among guard conditions: Swift 6.3.1 -O crashed in LLVM CoroSplit on that.
        guard MarketID.plausible(id) else { throw APIError.notFound("no item \(id)") }
        guard var item = try await repository.menuItem(restaurant: restaurant.id, id: id) else {
            throw APIError.notFound("no item \(id)")
        }
        try MenuRequests.update(&item, with: change, restaurant: restaurant)
        try await requireSection(item)
        return try await repository.updateMenuItem(item)
    }

    /// Deletes the item `id`; 404 when the restaurant has none.
    func deleteItem(_ id: String, restaurant restaurantID: String, by caller: Identity) async throws {
        let restaurant = try await repository.managedRestaurant(restaurantID, by: caller)
        guard MarketID.plausible(id) else { throw APIError.notFound("no item \(id)") }
        let found = try await repository.deleteMenuItem(restaurant: restaurant.id, id: id)
        guard found else { throw APIError.notFound("no item \(id)") }
    }

    private func existingSection(_ id: String, restaurant restaurantID: String, by caller: Identity) async throws
        -> MenuSection
    {
        let restaurant = try await repository.managedRestaurant(restaurantID, by: caller)
        // Two steps, not `try await` among guard conditions: Swift 6.3.1 -O crashed in LLVM CoroSplit on that.
        guard MarketID.plausible(id) else { throw APIError.notFound("no section \(id)") }
        guard let section = try await repository.section(restaurant: restaurant.id, id: id) else {
            throw APIError.notFound("no section \(id)")
        }
        return section
    }

    /// An unknown section (or another restaurant's) in a body is a field error: 422 naming `sectionID`.
    private func requireSection(_ item: MenuItem) async throws {
        // Two steps, not `try await` among guard conditions: Swift 6.3.1 -O crashed in LLVM CoroSplit on that.
        guard MarketID.plausible(item.sectionID) else {
            throw APIError.invalid("sectionID: no section \(item.sectionID) in this restaurant")
        }
        let found = try await repository.section(restaurant: item.restaurantID, id: item.sectionID) != nil
        guard found else { throw APIError.invalid("sectionID: no section \(item.sectionID) in this restaurant") }
    }
}
