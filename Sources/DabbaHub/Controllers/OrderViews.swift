import DabbaProtocol
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

/// Orders' list cursor: `(createdAt, id)` of the last row of the previous page.
enum OrderCursor {
    static func encode(createdAt: Int64, id: String) -> String { AuthRandom.base64URL(Array("\(createdAt).\(id)".utf8)) }

    static func decode(_ text: String) -> (createdAt: Int64, id: String)? {
        guard let bytes = AuthRandom.fromBase64URL(text) else { return nil }
        let parts = String(decoding: bytes, as: UTF8.self).split(separator: ".", maxSplits: 1)
        guard parts.count == 2, let time = Int64(parts[0]) else { return nil }
        return (time, String(parts[1]))
    }
}
