import DabbaCore
import Foundation
import HTTPTypes
import Hummingbird

/// `POST /v1/orders` (customers): priced on the server from the menu — client prices are never read — after
/// checking that the restaurant is open and the address lies in a served zone. `Idempotency-Key`: a retry with the
/// same key and body returns the same order (200 instead of 201); the same key with another body is 409.
extension OrdersController {
    struct PlaceRequest: Decodable {
        struct Item: Decodable {
            var item: String
            var quantity: Int
            var options: [String]?
        }
        var restaurant: String
        var items: [Item]
        var address: String
        var lat: Double
        var lon: Double
        var paymentMethod: PaymentMethod
    }

    func addPlaceRoute(to router: some RouterMethods<HubRequestContext>) {
        router.post(use: place)
    }

    @Sendable func place(_ request: Request, context: HubRequestContext) async throws -> EditedResponse<OrderView> {
        let caller = try context.caller()
        guard caller.role == .customer else { throw APIError.forbidden("only customers place orders") }
        var request = request
        let body = try await request.collectBody(upTo: context.maxUploadSize)
        let input = try await request.decode(as: PlaceRequest.self, context: context)
        let key = request.headers[HTTPField.Name("Idempotency-Key")!]
        if let key, key.isEmpty || key.count > 128 { throw APIError.badRequest("Idempotency-Key: 1 to 128 characters") }
        let priced = try await OrderPricing.price(
            input, store: store, taxRateBasisPoints: configuration.taxRateBasisPoints, now: wallClockMilliseconds())
        let now = wallClockMilliseconds()
        let order = OrderRecord(
            id: "o-" + AuthRandom.token(bytes: 9), customerID: caller.userID, restaurantID: input.restaurant,
            paymentMethod: input.paymentMethod, currency: priced.currency, subtotal: priced.subtotal,
            deliveryFee: priced.deliveryFee, tax: priced.tax, total: priced.total, address: input.address,
            dropLat: input.lat, dropLon: input.lon, zoneID: priced.zoneID, createdAt: now, updatedAt: now,
            lines: priced.lines)
        let hash = AuthRandom.sha256Hex(String(buffer: body))
        let result = try await store.createOrder(
            order, idempotencyKey: key, requestHash: key == nil ? nil : hash, actor: OrderService<Store>.actor(caller))
        if let event = result.event { orders.notifier.committed(event, order: result.order) }
        return EditedResponse(status: result.created ? .created : .ok, response: OrderView(result.order))
    }
}
