import DabbaCore
import Foundation
import HTTPTypes
import HubModel
import Hummingbird

/// `POST /v1/orders` (customers): priced on the server from the menu — client prices are never read — after
/// checking that the restaurant is open and the address lies in a served zone. An `Idempotency-Key` is optional and
/// follows the one rule of ``IdempotentRequest``: looked up before pricing, so a retry with the same key and body
/// replays the stored 201 with the same order even when the restaurant has closed since; another body is 422; a
/// retry while the first request runs is 409.
/// The body of `POST /v1/orders`, decoded as the route decodes it (`JSONDecoder`); checked and priced by
/// ``OrderPricing``.
package struct PlaceOrderRequest: Decodable {
    package struct Item: Decodable {
        package var item: String
        package var quantity: Int
        package var options: [String]?
    }
    package var restaurant: String
    package var items: [Item]
    package var address: String
    package var lat: Double
    package var lon: Double
    package var paymentMethod: PaymentMethod
}

extension OrdersController {
    func addPlaceRoute(to router: some RouterMethods<HubRequestContext>) {
        router.post(use: place)
    }

    @Sendable func place(_ request: Request, context: HubRequestContext) async throws -> Response {
        let caller = try context.caller()
        guard caller.role == .customer else { throw APIError.forbidden("only customers place orders") }
        let call = try await IdempotentRequest(
            request, context, store: store, ttl: Int64(configuration.idempotencyTTLHours) * 3_600_000,
            keyRequired: false)
        let input = try call.decode(PlaceOrderRequest.self)
        return try await call.run { () async throws -> (HTTPResponse.Status, OrderView) in
            guard configuration.paymentMethods.contains(input.paymentMethod) else {
                let offered = PaymentMethod.allCases.filter(configuration.paymentMethods.contains).map(\.rawValue)
                throw APIError.invalid(
                    "paymentMethod: \(input.paymentMethod.rawValue) is not taken here (payment-methods: "
                        + "\(offered.joined(separator: ", ")))")
            }
            let now = wallClockMilliseconds()
            let priced = try await OrderPricing.price(
                input, store: store, taxRateBasisPoints: configuration.taxRateBasisPoints, now: now)
            let order = OrderRecord(
                id: "o-" + AuthRandom.token(bytes: 9), customerID: caller.userID, restaurantID: input.restaurant,
                paymentMethod: input.paymentMethod, currency: priced.currency, subtotal: priced.subtotal,
                deliveryFee: priced.deliveryFee, tax: priced.tax, total: priced.total, address: input.address,
                dropLat: input.lat, dropLon: input.lon, zoneID: priced.zoneID, createdAt: now, updatedAt: now,
                lines: priced.lines)
            let result: (order: OrderRecord, created: Bool)
            do {
                result = try await orders.place(
                    order, by: caller, idempotencyKey: call.key, requestHash: call.key == nil ? nil : call.hash)
            } catch {
                throw APIError(error)
            }
            return (.created, OrderView(result.order))
        }
    }
}
