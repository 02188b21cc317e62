import DabbaProtocol
import HubModel
import Hummingbird

/// An order as the API shows it. Money in minor units of `currency`.
struct OrderView: ResponseCodable, Equatable {
    var id: String
    var status: OrderStatus
    var customer: Int64
    var restaurant: String
    var agent: String?
    var paymentMethod: PaymentMethod
    var currency: String
    var subtotal: Int64
    var deliveryFee: Int64
    var tax: Int64
    var total: Int64
    var address: String
    var lat: Double
    var lon: Double
    var zone: String?
    var prepMinutes: Int?
    var readyAt: String?
    var createdAt: String
    var updatedAt: String
    var items: [OrderLine]

    init(_ o: OrderRecord) {
        id = o.id
        status = o.status
        customer = o.customerID
        restaurant = o.restaurantID
        agent = o.agentID
        paymentMethod = o.paymentMethod
        currency = o.currency
        subtotal = o.subtotal
        deliveryFee = o.deliveryFee
        tax = o.tax
        total = o.total
        address = o.address
        lat = o.dropLat
        lon = o.dropLon
        zone = o.zoneID
        prepMinutes = o.prepMinutes
        readyAt = o.readyAt.map { Timestamp.format(milliseconds: $0) }
        createdAt = Timestamp.format(milliseconds: o.createdAt)
        updatedAt = Timestamp.format(milliseconds: o.updatedAt)
        items = o.lines
    }
}

extension OrderView {
    /// The JSON body written by hand (`GET /v1/orders/{id}` is customers' apps' hot read, where `JSONEncoder` cost
    /// more than the SQLite read): the synthesized `Encodable`'s fields and values, nil ones left out.
    func jsonBytes() -> [UInt8] {
        var w = JSONWriter(capacity: 512)
        w.field("id", id)
        w.field("status", status.rawValue)
        w.field("customer", customer)
        w.field("restaurant", restaurant)
        w.field("agent", ifPresent: agent) { $0.field($1, $2) }
        w.field("paymentMethod", paymentMethod.rawValue)
        w.field("currency", currency)
        w.field("subtotal", subtotal)
        w.field("deliveryFee", deliveryFee)
        w.field("tax", tax)
        w.field("total", total)
        w.field("address", address)
        w.field("lat", lat)
        w.field("lon", lon)
        w.field("zone", ifPresent: zone) { $0.field($1, $2) }
        w.field("prepMinutes", ifPresent: prepMinutes) { $0.field($1, $2) }
        w.field("readyAt", ifPresent: readyAt) { $0.field($1, $2) }
        w.field("createdAt", createdAt)
        w.field("updatedAt", updatedAt)
        w.field("items", raw: JSONWriter.array(items.map { $0.jsonBytes() }))
        return w.finish()
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        let bytes = jsonBytes()
        return Response(
            status: .ok,
            headers: [.contentType: "application/json; charset=utf-8", .contentLength: String(bytes.count)],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

extension OrderLine {
    func jsonBytes() -> [UInt8] {
        var w = JSONWriter(capacity: 128)
        w.field("itemID", itemID)
        w.field("name", name)
        w.field("quantity", quantity)
        w.field("unitPrice", unitPrice)
        let options = options.map { option in
            var o = JSONWriter(capacity: 64)
            o.field("id", option.id)
            o.field("name", option.name)
            o.field("price", option.price)
            return o.finish()
        }
        w.field("options", raw: JSONWriter.array(options))
        w.field("lineTotal", lineTotal)
        return w.finish()
    }
}

struct OrderPage: ResponseEncodable {
    var orders: [OrderView]
    var next: String?
}

struct OrderTimeline: ResponseEncodable {
    var order: String
    var events: [OrderEvent]
}

/// `{"reason"?, "agent"?, "prepMinutes"?, "cashCollected"?}` for the action routes (all optional; which apply
/// depends on the action: `cashCollected` only on `deliver` of a cash-on-delivery order).
struct OrderActionRequest: Decodable {
    var reason: String?
    var agent: String?
    var prepMinutes: Int?
    var cashCollected: Int64?
}

struct ShareRequest: Decodable {
    /// Lifetime of the link in minutes (default: `share-ttl-minutes`).
    var ttlMinutes: Int?
}

struct ShareView: ResponseEncodable {
    var token: String
    var expiresAt: String
    /// The page (`/track/{token}`) and the feed (`/v1/track/{token}/live`).
    var url: String
    var live: String
}

extension OrderEvent: ResponseEncodable {}
