import HubModel

/// The bodies of the menu routes (``MenuController``) and how an item or section is built from them, kept outside
/// the generic controller so that the `menu` fuzz target runs exactly these functions. Errors are 422 naming the
/// field.
package enum MenuRequests {
    /// `POST` and `PATCH …/menu/sections…`.
    package struct Section: Decodable {
        package var name: String?
        package var position: Int?
    }

    /// One choice of an option group in an item's body.
    package struct OptionInput: Decodable {
        package var id: String?
        package var name: String
        package var price: Int64?
    }

    /// One option group in an item's body.
    package struct OptionGroupInput: Decodable {
        package var id: String?
        package var name: String
        package var minChoices: Int?
        package var maxChoices: Int?
        package var required: Bool?
        package var choices: [OptionInput]
    }

    /// `POST` and `PATCH …/menu/items…`.
    package struct Item: Decodable {
        package var sectionID: String?
        package var name: String?
        package var description: String?
        package var price: Int64?
        package var currency: String?
        package var available: Bool?
        package var optionGroups: [OptionGroupInput]?
    }

    /// A section's name: 1 to 60 characters.
    package static func sectionName(_ name: String) throws(APIError) -> String {
        try validating { () throws(MarketError) in try MarketValidation.name(name, field: "name", max: 60) }
    }

    /// A section's position: 0 … 10,000, nil when absent.
    package static func position(_ value: Int?) throws(APIError) -> Int? {
        guard let value else { return nil }
        guard (0...10_000).contains(value) else { throw .invalid("position: 0 to 10000") }
        return value
    }

    /// A new item `id` of `restaurant` from a `POST` body: `sectionID`, `name` and `price` required, then
    /// ``apply(_:to:restaurant:)``.
    package static func newItem(_ body: Item, id: String, restaurant: Restaurant) throws(APIError) -> MenuItem {
        guard let sectionID = body.sectionID else { throw .invalid("sectionID: required") }
        guard let name = body.name else { throw .invalid("name: required") }
        guard let price = body.price else { throw .invalid("price: required (minor units)") }
        var item = MenuItem(
            id: id, restaurantID: restaurant.id, sectionID: sectionID, name: name,
            description: body.description ?? "", price: price, currency: restaurant.currency,
            available: body.available ?? true)
        try apply(body, to: &item, restaurant: restaurant)
        return item
    }

    /// An existing item changed by a `PATCH` body: the fields present replace the item's, then
    /// ``apply(_:to:restaurant:)``.
    package static func update(_ item: inout MenuItem, with body: Item, restaurant: Restaurant) throws(APIError) {
        var next = item
        if let sectionID = body.sectionID { next.sectionID = sectionID }
        if let name = body.name { next.name = name }
        if let description = body.description { next.description = description }
        if let price = body.price { next.price = price }
        if let available = body.available { next.available = available }
        try apply(body, to: &next, restaurant: restaurant)
        item = next
    }

    /// Currency and option groups from the request, then the item's own validation.
    package static func apply(_ body: Item, to item: inout MenuItem, restaurant: Restaurant) throws(APIError) {
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
    package static func group(_ g: OptionGroupInput, index: Int) throws(MarketError) -> MenuOptionGroup {
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
}
