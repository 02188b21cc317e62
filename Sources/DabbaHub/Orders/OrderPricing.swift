import DabbaCore
import HubModel
import Hummingbird

/// Prices an order on the server from the restaurant's menu and the delivery zone; the client's prices, if it
/// sent any, are never read.
enum OrderPricing {
    struct Priced: Equatable {
        var lines: [OrderLine]
        var subtotal: Int64
        var deliveryFee: Int64
        var tax: Int64
        var total: Int64
        var currency: String
        var zoneID: String
    }

    static let maxLines = 50
    static let maxQuantity = 50

    /// An order whose total would exceed ``Money/maxAmount`` (or Int64) minor units.
    static let tooLarge = APIError(
        .unprocessableContent, code: "total_too_large", "the order's total is larger than any order can be")

    static func price<Store: MarketRepository>(
        _ input: OrdersController<some OrderStore & MarketRepository & IdempotencyRepository>.PlaceRequest,
        store: Store,
        taxRateBasisPoints: Int, now: Int64
    ) async throws -> Priced {
        guard !input.items.isEmpty, input.items.count <= maxLines else {
            throw APIError.invalid("items: 1 to \(maxLines) lines")
        }
        guard (-90...90).contains(input.lat), (-180...180).contains(input.lon) else {
            throw APIError.invalid("lat/lon: not a position on Earth")
        }
        let address = input.address.trimmingSpaces
        guard !address.isEmpty, address.count <= 300 else { throw APIError.invalid("address: 1 to 300 characters") }
        guard let restaurant = try await store.restaurant(id: input.restaurant) else {
            throw APIError.notFound("no restaurant \(input.restaurant)")
        }
        guard !restaurant.paused, restaurant.isOpen(at: now) else {
            throw APIError(
                .unprocessableContent, code: "restaurant_closed", "\(restaurant.name) is not taking orders now")
        }
        guard let zone = try await store.zone(containing: GeoPoint(lat: input.lat, lon: input.lon)) else {
            throw APIError(
                .unprocessableContent, code: "not_served", "the delivery address is outside every served zone")
        }
        guard zone.currency == restaurant.currency else {
            throw APIError(
                .unprocessableContent, code: "not_served",
                "zone \(zone.id) charges in \(zone.currency), the restaurant in \(restaurant.currency)")
        }
        let items = try await store.menuItems(restaurant: restaurant.id, ids: input.items.map(\.item))
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
