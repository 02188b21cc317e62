import DabbaCore
import HubModel
import Hummingbird

/// Prices an order on the server from the restaurant's menu and the delivery zone; the client's prices, if it
/// sent any, are never read.
package enum OrderPricing {
    package struct Priced: Equatable {
        package var lines: [OrderLine]
        package var subtotal: Int64
        package var deliveryFee: Int64
        package var tax: Int64
        package var total: Int64
        package var currency: String
        package var zoneID: String
    }

    package static let maxLines = 50
    package static let maxQuantity = 50

    /// An order whose total would exceed ``Money/maxAmount`` (or Int64) minor units.
    package static let tooLarge = APIError(
        .unprocessableContent, code: "total_too_large", "the order's total is larger than any order can be")

    /// Prices `input` with the restaurant, zone and menu items `store` holds: ``checkRequest(_:)``, the restaurant
    /// (404), ``checkOpen(_:now:)``, the zone serving the address, ``checkZone(_:restaurant:)``, then
    /// ``price(_:restaurant:zone:items:taxRateBasisPoints:)`` over the requested items.
    static func price<Store: MarketRepository>(
        _ input: PlaceOrderRequest, store: Store, taxRateBasisPoints: Int, now: Int64
    ) async throws -> Priced {
        try checkRequest(input)
        guard let restaurant = try await store.restaurant(id: input.restaurant) else {
            throw APIError.notFound("no restaurant \(input.restaurant)")
        }
        try checkOpen(restaurant, now: now)
        guard let zone = try await store.zone(containing: GeoPoint(lat: input.lat, lon: input.lon)) else {
            throw APIError(
                .unprocessableContent, code: "not_served", "the delivery address is outside every served zone")
        }
        try checkZone(zone, restaurant: restaurant)
        let items = try await store.menuItems(restaurant: restaurant.id, ids: input.items.map(\.item))
        return try price(
            input, restaurant: restaurant, zone: zone, items: items, taxRateBasisPoints: taxRateBasisPoints)
    }

    /// The checks of the body alone: 1 to ``maxLines`` lines, a position on Earth, an address of at most 300
    /// characters as sent (``Swift/String/schemaLength``) and not empty after trimming (422 naming the field).
    package static func checkRequest(_ input: PlaceOrderRequest) throws(APIError) {
        guard !input.items.isEmpty, input.items.count <= maxLines else {
            throw APIError.invalid("items: 1 to \(maxLines) lines")
        }
        guard (-90...90).contains(input.lat), (-180...180).contains(input.lon) else {
            throw APIError.invalid("lat/lon: not a position on Earth")
        }
        guard !input.address.trimmingSpaces.isEmpty, input.address.schemaLength <= 300 else {
            throw APIError.invalid("address: 1 to 300 characters")
        }
    }

    /// 422 `restaurant_closed` unless the restaurant takes orders at `now`.
    package static func checkOpen(_ restaurant: Restaurant, now: Int64) throws(APIError) {
        guard !restaurant.paused, restaurant.isOpen(at: now) else {
            throw APIError(
                .unprocessableContent, code: "restaurant_closed", "\(restaurant.name) is not taking orders now")
        }
    }

    /// 422 `not_served` when the zone serving the address charges in another currency than the restaurant.
    package static func checkZone(_ zone: Zone, restaurant: Restaurant) throws(APIError) {
        guard zone.currency == restaurant.currency else {
            throw APIError(
                .unprocessableContent, code: "not_served",
                "zone \(zone.id) charges in \(zone.currency), the restaurant in \(restaurant.currency)")
        }
    }

    /// The lines and totals of a checked request, from the restaurant's menu `items` (those the request names;
    /// others are ignored): each line's quantity, item, availability and options checked (422 naming the line),
    /// prices added with checked arithmetic, tax rounded half up, and `total_too_large` above ``Money/maxAmount``.
    package static func price(
        _ input: PlaceOrderRequest, restaurant: Restaurant, zone: Zone, items: [MenuItem], taxRateBasisPoints: Int
    ) throws(APIError) -> Priced {
        let byID = Dictionary(items.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var lines: [OrderLine] = []
        for (index, requested) in input.items.enumerated() {
            guard (1...maxQuantity).contains(requested.quantity) else {
                throw APIError.invalid("items[\(index)].quantity: 1 to \(maxQuantity)")
            }
            guard let item = byID[requested.item] else {
                throw APIError.invalid("items[\(index)].item: \(requested.item) is not on this restaurant's menu")
            }
            guard item.available else {
                throw APIError(
                    .unprocessableContent, code: "unavailable", "items[\(index)]: \(item.name) is not available now")
            }
            var chosen: [OrderLineOption] = []
            let requestedOptions = requested.options ?? []
            guard Set(requestedOptions).count == requestedOptions.count else {
                throw APIError.invalid("items[\(index)].options: an option is listed twice")
            }
            var unknown = Set(requestedOptions)
            for group in item.optionGroups {
                let picked = group.choices.filter { requestedOptions.contains($0.id) }
                guard picked.count >= group.minChoices, picked.count <= group.maxChoices else {
                    throw APIError.invalid(
                        "items[\(index)].options: \(group.name) takes \(group.minChoices) to \(group.maxChoices) choices"
                    )
                }
                for option in picked {
                    unknown.remove(option.id)
                    chosen.append(option)  // as the menu has it now, kept with the order
                }
            }
            if let stray = unknown.sorted().first {
                throw APIError.invalid("items[\(index)].options: \(stray) is not an option of \(item.name)")
            }
            // Checked throughout: prices are the restaurant's (each ≤ Price.maxAmount), counts are the customer's.
            guard let unit = Checked.sum([item.price] + chosen.map(\.price)),
                Checked.multiply(unit, Int64(requested.quantity)) != nil
            else { throw Self.tooLarge }
            guard unit >= 0 else { throw APIError.invalid("items[\(index)]: negative price") }
            lines.append(
                OrderLine(
                    itemID: item.id, name: item.name, quantity: requested.quantity, unitPrice: unit, options: chosen))
        }
        guard let subtotal = Checked.sum(lines.map(\.lineTotal)),
            let taxable = Checked.add(subtotal, zone.deliveryFee),
            let taxed = Checked.multiply(taxable, Int64(taxRateBasisPoints)).flatMap({ Checked.add($0, 5_000) }),
            let total = Checked.add(taxable, taxed / 10_000),  // tax rounded half up
            total <= Money.maxAmount
        else { throw Self.tooLarge }
        let tax = taxed / 10_000
        return Priced(
            lines: lines, subtotal: subtotal, deliveryFee: zone.deliveryFee, tax: tax, total: total,
            currency: restaurant.currency, zoneID: zone.id)
    }
}
