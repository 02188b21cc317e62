import HubModel
import Hummingbird

/// `/v1/restaurants/{id}/menu…`: reading a menu is public; operators and the owning restaurant user edit sections
/// and items. Prices are whole minor units of the restaurant's currency.
struct MenuController<Repository: MarketRepository> {
    let repository: Repository

    typealias SectionRequest = MenuRequests.Section
    typealias ItemRequest = MenuRequests.Item

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
        let name = try MenuRequests.sectionName(rawName)
        let position = try MenuRequests.position(body.position)
        let section = try await repository.createSection(
            restaurant: restaurant.id, id: MarketID.make("s"), name: name, position: position)
        return EditedResponse(status: .created, response: section)
    }

    @Sendable func updateSection(_ request: Request, context: HubRequestContext) async throws -> MenuSection {
        var section = try await existingSection(context)
        let body = try await request.decode(as: SectionRequest.self, context: context)
        if let name = body.name { section.name = try MenuRequests.sectionName(name) }
        if let position = try MenuRequests.position(body.position) { section.position = position }
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
        let item = try MenuRequests.newItem(body, id: MarketID.make("i"), restaurant: restaurant)
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
        try MenuRequests.update(&item, with: body, restaurant: restaurant)
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
