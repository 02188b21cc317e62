/// A section of a restaurant's menu ("Starters", "Biryani"…), shown in `position` order (then id).
package struct MenuSection: Sendable, Codable, Equatable {
    package var id: String
    package var restaurantID: String
    package var name: String
    package var position: Int

    package init(id: String, restaurantID: String, name: String, position: Int) {
        self.id = id
        self.restaurantID = restaurantID
        self.name = name
        self.position = position
    }
}

/// One choice of an option group; `price` is the delta added to the item's price, in minor units (never negative).
package struct MenuOption: Sendable, Codable, Equatable {
    package var id: String
    package var name: String
    package var price: Int64

    package init(id: String, name: String, price: Int64) {
        self.id = id
        self.name = name
        self.price = price
    }
}

/// A group of choices on an item ("Size", "Extras"): the customer picks `minChoices…maxChoices` of them.
/// `required` is `minChoices > 0`.
package struct MenuOptionGroup: Sendable, Codable, Equatable {
    package var id: String
    package var name: String
    package var minChoices: Int
    package var maxChoices: Int
    package var choices: [MenuOption]

    package init(id: String, name: String, minChoices: Int, maxChoices: Int, choices: [MenuOption]) {
        self.id = id
        self.name = name
        self.minChoices = minChoices
        self.maxChoices = maxChoices
        self.choices = choices
    }

    /// A choice must be made.
    package var required: Bool { minChoices > 0 }

    enum CodingKeys: String, CodingKey { case id, name, minChoices, maxChoices, required, choices }

    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            id: try c.decode(String.self, forKey: .id), name: try c.decode(String.self, forKey: .name),
            minChoices: try c.decode(Int.self, forKey: .minChoices),
            maxChoices: try c.decode(Int.self, forKey: .maxChoices),
            choices: try c.decode([MenuOption].self, forKey: .choices))
    }

    package func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(name, forKey: .name)
        try c.encode(minChoices, forKey: .minChoices)
        try c.encode(maxChoices, forKey: .maxChoices)
        try c.encode(required, forKey: .required)
        try c.encode(choices, forKey: .choices)
    }

    /// Checks names, bounds (`0 <= min <= max <= choices`, `max >= 1`), unique choice ids and non-negative deltas.
    package func validated(field: String) throws(MarketError) -> MenuOptionGroup {
        var group = self
        group.id = try MarketValidation.slug(id, field: field + ".id")
        group.name = try MarketValidation.name(name, field: field + ".name", max: 60)
        guard (1...50).contains(choices.count) else { throw MarketError(field + ".choices", "1 to 50 choices") }
        guard minChoices >= 0, maxChoices >= 1, minChoices <= maxChoices, maxChoices <= choices.count else {
            throw MarketError(field, "need 0 <= minChoices <= maxChoices <= number of choices, and maxChoices >= 1")
        }
        var seen = Set<String>()
        group.choices = try choices.enumerated().map { (i, choice) throws(MarketError) -> MenuOption in
            let f = "\(field).choices[\(i)]"
            let option = MenuOption(
                id: try MarketValidation.slug(choice.id, field: f + ".id"),
                name: try MarketValidation.name(choice.name, field: f + ".name", max: 60),
                price: try MarketValidation.amount(choice.price, field: f + ".price"))
            guard seen.insert(option.id).inserted else { throw MarketError(f + ".id", "duplicate choice id") }
            return option
        }
        return group
    }
}

/// A dish on a menu. `price` is in minor units of `currency`, which is always the restaurant's currency.
package struct MenuItem: Sendable, Codable, Equatable {
    package var id: String
    package var restaurantID: String
    package var sectionID: String
    package var name: String
    package var description: String
    package var price: Int64
    package var currency: String
    /// Unavailable items stay on the menu (greyed out) but cannot be ordered.
    package var available: Bool
    package var optionGroups: [MenuOptionGroup]
    /// Order within the section (then id).
    package var position: Int

    package init(
        id: String, restaurantID: String, sectionID: String, name: String, description: String = "", price: Int64,
        currency: String, available: Bool = true, optionGroups: [MenuOptionGroup] = [], position: Int = 0
    ) {
        self.id = id
        self.restaurantID = restaurantID
        self.sectionID = sectionID
        self.name = name
        self.description = description
        self.price = price
        self.currency = currency
        self.available = available
        self.optionGroups = optionGroups
        self.position = position
    }

    /// Checks every field (names, lengths, price, at most 20 option groups with unique ids) and returns the
    /// normalised item (trimmed text).
    package func validated() throws(MarketError) -> MenuItem {
        var item = self
        item.name = try MarketValidation.name(name, field: "name")
        item.description = try MarketValidation.text(description, field: "description", max: 1000)
        item.price = try MarketValidation.amount(price, field: "price")
        item.currency = try MarketValidation.currency(currency)
        guard optionGroups.count <= 20 else { throw MarketError("optionGroups", "at most 20 option groups") }
        var seen = Set<String>()
        item.optionGroups = try optionGroups.enumerated().map { (i, group) throws(MarketError) -> MenuOptionGroup in
            let valid = try group.validated(field: "optionGroups[\(i)]")
            guard seen.insert(valid.id).inserted else {
                throw MarketError("optionGroups[\(i)].id", "duplicate option group id")
            }
            return valid
        }
        return item
    }
}

/// A restaurant's whole menu: sections in order, each with its items in order.
package struct Menu: Sendable, Encodable, Equatable {
    /// A section with its items; encoded flat (`id`, `name`, `position`, `items`).
    package struct Section: Sendable, Encodable, Equatable {
        package var section: MenuSection
        package var items: [MenuItem]

        enum CodingKeys: String, CodingKey { case id, name, position, items }
        package func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(section.id, forKey: .id)
            try c.encode(section.name, forKey: .name)
            try c.encode(section.position, forKey: .position)
            try c.encode(items, forKey: .items)
        }

        package init(section: MenuSection, items: [MenuItem]) {
            self.section = section
            self.items = items
        }
    }
    package var restaurantID: String
    package var currency: String
    package var sections: [Section]

    package init(restaurantID: String, currency: String, sections: [Section]) {
        self.restaurantID = restaurantID
        self.currency = currency
        self.sections = sections
    }
}

/// Menu size limits (so a menu is one bounded document, not a paged list).
package enum MenuLimits {
    package static let sectionsPerRestaurant = 50
    package static let itemsPerRestaurant = 500
}
