import HubModel
import Hummingbird

/// `/v1/restaurants/{id}/menu…`: reading a menu is public; operators and the owning restaurant user edit sections
/// and items. Prices are whole minor units of the restaurant's currency.
struct MenuController<Repository: MarketRepository> {
    let market: MarketService<Repository>
    var repository: Repository { market.repository }

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
        let input = try await request.decode(as: MenuRequests.Section.self, context: context)
        let section = try await market.createSection(
            input, restaurant: try restaurant(context), by: try context.caller())
        return EditedResponse(status: .created, response: section)
    }

    @Sendable func updateSection(_ request: Request, context: HubRequestContext) async throws -> MenuSection {
        let input = try await request.decode(as: MenuRequests.Section.self, context: context)
        return try await market.updateSection(
            try context.parameters.require("section"), input, restaurant: try restaurant(context),
            by: try context.caller())
    }

    @Sendable func deleteSection(_ request: Request, context: HubRequestContext) async throws -> HTTPResponse.Status {
        try await market.deleteSection(
            try context.parameters.require("section"), restaurant: try restaurant(context), by: try context.caller())
        return .noContent
    }

    @Sendable func createItem(_ request: Request, context: HubRequestContext) async throws -> EditedResponse<MenuItem> {
        let input = try await request.decode(as: MenuRequests.Item.self, context: context)
        let item = try await market.createItem(input, restaurant: try restaurant(context), by: try context.caller())
        return EditedResponse(status: .created, response: item)
    }

    @Sendable func updateItem(_ request: Request, context: HubRequestContext) async throws -> MenuItem {
        let input = try await request.decode(as: MenuRequests.Item.self, context: context)
        return try await market.updateItem(
            try context.parameters.require("item"), input, restaurant: try restaurant(context),
            by: try context.caller())
    }

    @Sendable func deleteItem(_ request: Request, context: HubRequestContext) async throws -> HTTPResponse.Status {
        try await market.deleteItem(
            try context.parameters.require("item"), restaurant: try restaurant(context), by: try context.caller())
        return .noContent
    }

    private func restaurant(_ context: HubRequestContext) throws -> String {
        try context.parameters.require("id")
    }
}
