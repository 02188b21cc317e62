import HubModel

extension MarketService {
    /// Adds a section to the menu of the restaurant `restaurantID` the caller manages.
    func createSection(_ input: MenuSectionInput, restaurant restaurantID: String, by caller: Identity) async throws
        -> MenuSection
    {
        let restaurant = try await repository.managedRestaurant(restaurantID, by: caller)
        guard let rawName = input.name else { throw APIError.invalid("name: required") }
        let name = try validating { () throws(MarketError) in
            try MarketValidation.name(rawName, field: "name", max: 60)
        }
        let position = try Self.position(input.position)
        return try await repository.createSection(
            restaurant: restaurant.id, id: MarketID.make("s"), name: name, position: position)
    }

    /// Renames or moves a section.
    func updateSection(_ id: String, _ change: MenuSectionInput, restaurant: String, by caller: Identity)
        async throws -> MenuSection
    {
        var section = try await existingSection(id, restaurant: restaurant, by: caller)
        if let name = change.name {
            section.name = try validating { () throws(MarketError) in
                try MarketValidation.name(name, field: "name", max: 60)
            }
        }
        if let position = try Self.position(change.position) { section.position = position }
        return try await repository.updateSection(section)
    }

    /// Deletes a section (the repository says what happens to its items).
    func deleteSection(_ id: String, restaurant: String, by caller: Identity) async throws {
        let section = try await existingSection(id, restaurant: restaurant, by: caller)
        _ = try await repository.deleteSection(restaurant: section.restaurantID, id: section.id)
    }

    /// Adds an item; `sectionID`, `name` and `price` are required, the currency is the restaurant's.
    func createItem(_ input: MenuItemInput, restaurant restaurantID: String, by caller: Identity) async throws
        -> MenuItem
    {
        let restaurant = try await repository.managedRestaurant(restaurantID, by: caller)
        guard let sectionID = input.sectionID else { throw APIError.invalid("sectionID: required") }
        guard let name = input.name else { throw APIError.invalid("name: required") }
        guard let price = input.price else { throw APIError.invalid("price: required (minor units)") }
        var item = MenuItem(
            id: MarketID.make("i"), restaurantID: restaurant.id, sectionID: sectionID, name: name,
            description: input.description ?? "", price: price, currency: restaurant.currency,
            available: input.available ?? true)
        try Self.apply(input, to: &item, restaurant: restaurant)
        try await requireSection(item)
        return try await repository.createMenuItem(item)
    }

    /// Applies `change` to the item `id`.
    func updateItem(_ id: String, _ change: MenuItemInput, restaurant restaurantID: String, by caller: Identity)
        async throws -> MenuItem
    {
        let restaurant = try await repository.managedRestaurant(restaurantID, by: caller)
        // Two steps, not `try await` among guard conditions: Swift 6.3.1 -O crashed in LLVM CoroSplit on that.
        guard MarketID.plausible(id) else { throw APIError.notFound("no item \(id)") }
        guard var item = try await repository.menuItem(restaurant: restaurant.id, id: id) else {
            throw APIError.notFound("no item \(id)")
        }
        if let sectionID = change.sectionID { item.sectionID = sectionID }
        if let name = change.name { item.name = name }
        if let description = change.description { item.description = description }
        if let price = change.price { item.price = price }
        if let available = change.available { item.available = available }
        try Self.apply(change, to: &item, restaurant: restaurant)
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

    /// Currency and option groups from the input, then the item's own validation (422 naming the field).
    static func apply(_ input: MenuItemInput, to item: inout MenuItem, restaurant: Restaurant) throws(APIError) {
        if let currency = input.currency, currency != restaurant.currency {
            throw .invalid("currency: items are priced in the restaurant's currency (\(restaurant.currency))")
        }
        let current = item
        item = try validating { () throws(MarketError) in
            var next = current
            if let groups = input.optionGroups {
                next.optionGroups = try groups.enumerated().map { (i, g) throws(MarketError) in try group(g, index: i) }
            }
            return try next.validated()
        }
    }

    /// An option group from its input: `required` defaults `minChoices` to 1 (and must agree with it), `maxChoices`
    /// defaults to 1 (at least `minChoices`), ids default to `g<n>` / `o<n>` by position.
    static func group(_ g: MenuItemInput.OptionGroup, index: Int) throws(MarketError) -> MenuOptionGroup {
        let field = "optionGroups[\(index)]"
        let minChoices = g.minChoices ?? (g.required == true ? 1 : 0)
        if let required = g.required, required != (minChoices > 0) {
            throw MarketError(field + ".required", "required means minChoices >= 1")
        }
        let group = MenuOptionGroup(
            id: g.id ?? "g\(index + 1)", name: g.name, minChoices: minChoices,
            maxChoices: g.maxChoices ?? max(1, minChoices),
            choices: g.choices.enumerated().map {
                MenuOption(id: $1.id ?? "o\($0 + 1)", name: $1.name, price: $1.price ?? 0)
            })
        return try group.validated(field: field)
    }

    static func position(_ value: Int?) throws(APIError) -> Int? {
        guard let value else { return nil }
        guard (0...10_000).contains(value) else { throw .invalid("position: 0 to 10000") }
        return value
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
