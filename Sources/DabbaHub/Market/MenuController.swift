import HubModel
import Hummingbird

/// `/v1/restaurants/{id}/menu…`: reading a menu is public; operators and the owning restaurant user edit sections
/// and items. Prices are whole minor units of the restaurant's currency.
struct MenuController<Repository: MarketRepository> {
    let repository: Repository

    struct SectionRequest: Decodable {
        var name: String?
        var position: Int?
    }
    struct OptionInput: Decodable {
        var id: String?
        var name: String
        var price: Int64?
    }
    struct OptionGroupInput: Decodable {
        var id: String?
        var name: String
        var minChoices: Int?
        var maxChoices: Int?
        var required: Bool?
        var choices: [OptionInput]
    }
    struct ItemRequest: Decodable {
        var sectionID: String?
        var name: String?
        var description: String?
        var price: Int64?
        var currency: String?
        var available: Bool?
        var optionGroups: [OptionGroupInput]?
    }

    func addRoutes(to router: some RouterMethods<HubRequestContext>) {
        let browse = router.group("v1", access: .public)
        browse.get("restaurants/:id/menu", use: menu)
        browse.get("restaurants/:id/menu/items/:item", use: item)
        let manage = router.group("v1", access: .roles([.operator, .restaurant]))
        manage.post("restaurants/:id/menu/sections", use: createSection)
        manage.patch("restaurants/:id/menu/sections/:section", use: updateSection)
        manage.delete("restaurants/:id/menu/sections/:section", use: deleteSection)
        manage.post("restaurants/:id/menu/items", use: createItem)
        manage.patch("restaurants/:id/menu/items/:item", use: updateItem)
        manage.delete("restaurants/:id/menu/items/:item", use: deleteItem)
    }

    @Sendable func menu(_ request: Request, context: HubRequestContext) async throws -> Menu {
        let id = try context.parameters.require("id")
        // Two steps, not `try await` among guard conditions: Swift 6.3.1 -O crashed in LLVM CoroSplit on that.
        guard MarketID.plausible(id) else { throw APIError.notFound("no restaurant \(id)") }
        guard let menu = try await repository.menu(restaurant: id) else {
            throw APIError.notFound("no restaurant \(id)")
        }
        return menu
    }

    @Sendable func item(_ request: Request, context: HubRequestContext) async throws -> MenuItem {
        let (id, itemID) = (try context.parameters.require("id"), try context.parameters.require("item"))
        // Two steps, not `try await` among guard conditions: Swift 6.3.1 -O crashed in LLVM CoroSplit on that.
        guard MarketID.plausible(id), MarketID.plausible(itemID) else { throw APIError.notFound("no item \(itemID)") }
        guard let item = try await repository.menuItem(restaurant: id, id: itemID) else {
            throw APIError.notFound("no item \(itemID)")
        }
        return item
    }

    @Sendable func createSection(_ request: Request, context: HubRequestContext) async throws
        -> EditedResponse<MenuSection>
    {
        let restaurant = try await managed(context)
        let body = try await request.decode(as: SectionRequest.self, context: context)
        guard let rawName = body.name else { throw APIError.invalid("name: required") }
        let name = try validating { () throws(MarketError) in try MarketValidation.name(rawName, field: "name", max: 60)
        }
        let position = try Self.position(body.position)
        let section = try await repository.createSection(
            restaurant: restaurant.id, id: MarketID.make("s"), name: name, position: position)
        return EditedResponse(status: .created, response: section)
    }

    @Sendable func updateSection(_ request: Request, context: HubRequestContext) async throws -> MenuSection {
        var section = try await existingSection(context)
        let body = try await request.decode(as: SectionRequest.self, context: context)
        if let name = body.name {
            section.name = try validating { () throws(MarketError) in
                try MarketValidation.name(name, field: "name", max: 60)
            }
        }
        if let position = try Self.position(body.position) { section.position = position }
        return try await repository.updateSection(section)
    }

    @Sendable func deleteSection(_ request: Request, context: HubRequestContext) async throws -> HTTPResponse.Status {
        let section = try await existingSection(context)
        _ = try await repository.deleteSection(restaurant: section.restaurantID, id: section.id)
        return .noContent
    }

    @Sendable func createItem(_ request: Request, context: HubRequestContext) async throws -> EditedResponse<MenuItem> {
        let restaurant = try await managed(context)
        let body = try await request.decode(as: ItemRequest.self, context: context)
        guard let sectionID = body.sectionID else { throw APIError.invalid("sectionID: required") }
        guard let name = body.name else { throw APIError.invalid("name: required") }
        guard let price = body.price else { throw APIError.invalid("price: required (minor units)") }
        var item = MenuItem(
            id: MarketID.make("i"), restaurantID: restaurant.id, sectionID: sectionID, name: name,
            description: body.description ?? "", price: price, currency: restaurant.currency,
            available: body.available ?? true)
        try Self.apply(body, to: &item, restaurant: restaurant)
        try await requireSection(item)
        return EditedResponse(status: .created, response: try await repository.createMenuItem(item))
    }

    @Sendable func updateItem(_ request: Request, context: HubRequestContext) async throws -> MenuItem {
        let restaurant = try await managed(context)
        let itemID = try context.parameters.require("item")
        // Two steps, not `try await` among guard conditions: Swift 6.3.1 -O crashed in LLVM CoroSplit on that.
        guard MarketID.plausible(itemID) else { throw APIError.notFound("no item \(itemID)") }
        guard var item = try await repository.menuItem(restaurant: restaurant.id, id: itemID) else {
            throw APIError.notFound("no item \(itemID)")
        }
        let body = try await request.decode(as: ItemRequest.self, context: context)
        if let sectionID = body.sectionID { item.sectionID = sectionID }
        if let name = body.name { item.name = name }
        if let description = body.description { item.description = description }
        if let price = body.price { item.price = price }
        if let available = body.available { item.available = available }
        try Self.apply(body, to: &item, restaurant: restaurant)
        try await requireSection(item)
        return try await repository.updateMenuItem(item)
    }

    @Sendable func deleteItem(_ request: Request, context: HubRequestContext) async throws -> HTTPResponse.Status {
        let restaurant = try await managed(context)
        let itemID = try context.parameters.require("item")
        // Two steps, not `try await` among guard conditions: Swift 6.3.1 -O crashed in LLVM CoroSplit on that.
        guard MarketID.plausible(itemID) else { throw APIError.notFound("no item \(itemID)") }
        let found = try await repository.deleteMenuItem(restaurant: restaurant.id, id: itemID)
        guard found else { throw APIError.notFound("no item \(itemID)") }
        return .noContent
    }

    /// Currency and option groups from the request, then the item's own validation (422 naming the field).
    static func apply(_ body: ItemRequest, to item: inout MenuItem, restaurant: Restaurant) throws(APIError) {
        if let currency = body.currency, currency != restaurant.currency {
            throw .invalid("currency: items are priced in the restaurant's currency (\(restaurant.currency))")
        }
        let current = item
        item = try validating { () throws(MarketError) in
            var next = current
            if let groups = body.optionGroups {
                next.optionGroups = try groups.enumerated().map { (i, g) throws(MarketError) in try group(g, index: i) }
            }
            return try next.validated()
        }
    }

    /// An option group from its input: `required` defaults `minChoices` to 1 (and must agree with it), `maxChoices`
    /// defaults to 1 (at least `minChoices`), ids default to `g<n>` / `o<n>` by position.
    static func group(_ g: OptionGroupInput, index: Int) throws(MarketError) -> MenuOptionGroup {
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

    private func managed(_ context: HubRequestContext) async throws -> Restaurant {
        try await repository.managedRestaurant(try context.parameters.require("id"), by: try context.caller())
    }

    private func existingSection(_ context: HubRequestContext) async throws -> MenuSection {
        let restaurant = try await managed(context)
        let id = try context.parameters.require("section")
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
