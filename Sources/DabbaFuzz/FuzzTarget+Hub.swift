// Internal imports: `FuzzTarget`'s public API (what the `dabba-fuzz` driver and the tests see) names none of the
// hub's types. (The driver still loads these modules; `make fuzz` passes it their C module maps.)
internal import DabbaCore
internal import DabbaHub
import DabbaProtocol
internal import Foundation
internal import HubModel
internal import HummingbirdCore

/// The hub's own readers of untrusted bytes, each run through the functions the hub's real path calls (no copies): a
/// device's messages as `IngestValidator` checks them, the payment webhook's signature and body, the bodies of the
/// order, payment and menu routes decoded as the routes decode them (`JSONDecoder`) and then checked and priced, the
/// list cursors and the query parameters. Each also asserts the bounds an accepted value must satisfy.
extension FuzzTarget {
    /// The targets over the hub's own readers (``runHub(_:)``).
    public static let hubTargets: [FuzzTarget] = [
        .owntracks, .ingest, .signature, .order, .payment, .menu, .cursor, .query,
    ]

    /// The device lanes in the `ingest` target's selector order (the last is not a lane the hub reads).
    static let ingestLanes = ["fix", "backlog", "events", "state", "sync", "other"]

    /// Runs one input through a hub target; true when the hub accepts it (`FuzzRegressionTests` checks that every
    /// seed is accepted, so that the fuzzer starts from the paths past the decoders).
    @discardableResult public func runHub(_ bytes: [UInt8]) -> Bool {
        switch self {
        case .owntracks: return Self.owntracks(bytes)
        case .ingest: return Self.ingest(bytes)
        case .signature: return Self.signature(bytes)
        case .order: return Self.order(bytes)
        case .payment: return Self.payment(bytes)
        case .menu: return Self.menu(bytes)
        case .cursor: return Self.cursor(String(decoding: bytes, as: UTF8.self))
        case .query: return Self.query(String(decoding: bytes, as: UTF8.self))
        default: preconditionFailure("\(self) is not a hub target")
        }
    }

    /// `IngestValidator.checkOwnTracks`: an accepted location has `tst` within its bound, `time` = `tst` × 1000
    /// (no overflow), a position on Earth, and a time the API formats and reads back unchanged.
    static func owntracks(_ bytes: [UInt8]) -> Bool {
        guard let position = try? IngestValidator.checkOwnTracks(bytes, agent: "a-1") else { return false }
        precondition((1...IngestValidator.maxOwnTracksTst).contains(position.seq), "tst out of bounds accepted")
        precondition(position.time == position.seq * 1000, "time is not tst × 1000")
        precondition((-90...90).contains(position.lat) && (-180...180).contains(position.lon), "not on Earth")
        precondition(Timestamp.parse(Timestamp.format(milliseconds: position.time)) == position.time, "time")
        return true
    }

    /// `IngestValidator.check` on `devices/a-1/<lane>`, the lane picked by the first byte (`'0'` fix, `'1'`
    /// backlog, `'2'` events, `'3'` state, `'4'` sync, `'5'` a lane the hub does not read). Accepted positions and
    /// events satisfy the validator's checks, and the hub's next step (the ack ranges over their seqs) holds.
    static func ingest(_ bytes: [UInt8]) -> Bool {
        guard let selector = bytes.first else { return false }
        let lane = ingestLanes[Int(selector) % ingestLanes.count]
        let payload = Array(bytes.dropFirst())
        let checked: IngestValidator.Outcome?
        do throws(PayloadError) {
            checked = try IngestValidator.check(lane: lane, payload: payload, agent: "a-1", now: 1_800_000_000_000)
        } catch {
            return false
        }
        guard let outcome = checked else {
            precondition(lane == "other", "lane \(lane) not read")
            return false
        }
        switch outcome {
        case .positions(let positions):
            precondition(lane == "fix" || lane == "backlog", "positions from \(lane)")
            precondition(positions.count <= IngestValidator.maxBacklogFixes, "too many fixes accepted")
            for p in positions {
                precondition(p.agent == "a-1" && p.seq >= 1, "foreign agent or seq < 1 accepted")
                precondition((-90...90).contains(p.lat) && (-180...180).contains(p.lon), "not on Earth")
                for value in [p.alt, p.speed, p.track, p.hacc] { precondition(value?.isFinite ?? true, "not finite") }
                _ = Timestamp.format(milliseconds: p.time)
            }
            let ranges = AckMessage.ranges(of: positions.map(\.seq))
            precondition(positions.allSatisfy { p in ranges.contains { $0.contains(p.seq) } }, "seq not acked")
        case .event(let event):
            precondition(lane == "events" && event.agent == "a-1" && event.seq >= 1, "bad event accepted")
            precondition(event.payload == payload, "event payload changed")
            precondition(AckMessage.ranges(of: [event.seq]) == [event.seq...event.seq], "event ack")
            _ = Timestamp.format(milliseconds: event.time)
            // The dispatcher's reading of a pickup or delivery: an action it applies carries cash within the bound.
            if case .action(let action) = DeviceAction.reading(event) {
                precondition((0...Money.maxAmount).contains(action.cashCollected ?? 0), "impossible cash applied")
                precondition(action.agent == "a-1" && action.seq == event.seq, "action of another event")
            }
        case .state(let state, _):
            precondition(lane == "state" && state.agent == "a-1" && state.v == payloadVersion, "bad state accepted")
        case .sync:
            precondition(lane == "sync", "sync from \(lane)")
        case .rejected:
            preconditionFailure("the pure check never answers rejected")
        }
        return true
    }

    /// The payment webhook secret and clock the `signature` target verifies with (its seeds are signed with them).
    static let webhookSecret = "fuzz-webhook-secret"
    static let webhookNow: Int64 = 1_800_000_000
    static let testProvider = TestPaymentProvider(webhookSecret: webhookSecret)

    /// `POST /v1/payments/webhooks/test` on `<Dabba-Signature header>\n<body>`: the test provider's check (the
    /// header parsed, `t` within 300 s of a fixed `now`, the HMAC, then the body decoded). Then the signer against
    /// the checker over the same body at a time taken from the input (any Int64, e.g. -2^63): a signature verifies
    /// exactly when its time is within the tolerance, never under another secret, and never traps.
    static func signature(_ bytes: [UInt8]) -> Bool {
        let newline = bytes.firstIndex(of: 0x0A) ?? bytes.endIndex
        let header = String(decoding: bytes[..<newline], as: UTF8.self)
        let body = Array(bytes[min(newline + 1, bytes.endIndex)...])
        let accepted = (try? testProvider.verifyWebhook(signature: header, body: body, now: webhookNow)) != nil
        if accepted {
            // Accepted only with a MAC over exactly this body: the same header over another body is refused.
            let other: Void? = try? WebhookSignature.verify(
                header: header, body: body + [0x20], secret: webhookSecret, now: webhookNow)
            precondition(other == nil, "a signature verified for a body it does not sign")
        }
        var timestamp: Int64 = 0
        for byte in body.prefix(8) { timestamp = timestamp << 8 | Int64(byte) }
        let signed = WebhookSignature.sign(body: body, secret: webhookSecret, timestamp: timestamp)
        let expected = Checked.subtract(webhookNow, timestamp).map { $0.magnitude <= 300 } ?? false
        let verified: Void? = try? WebhookSignature.verify(
            header: signed, body: body, secret: webhookSecret, now: webhookNow)
        precondition((verified != nil) == expected, "signature at t=\(timestamp)")
        let wrongKey: Void? = try? WebhookSignature.verify(header: signed, body: body, secret: "other", now: webhookNow)
        precondition(wrongKey == nil, "a signature verified under another secret")
        return accepted
    }

    /// What the store would hold for the `order` target: an always-open restaurant in INR, a zone serving it, and
    /// items up to the price bound (`MarketValidation.maxAmount`), with option groups.
    static let orderFixture: (restaurant: Restaurant, zone: Zone, items: [MenuItem]) = {
        let restaurant = Restaurant(
            id: "r-1", name: "Fuzz Dhaba", address: "1 MG Road", location: GeoPoint(lat: 12.97, lon: 77.59),
            zoneID: "z-1", ownerUserID: 2, currency: "INR", hours: .always)
        let zone = Zone(
            id: "z-1", name: "Centre",
            polygon: [
                GeoPoint(lat: 12, lon: 77), GeoPoint(lat: 12, lon: 78), GeoPoint(lat: 13, lon: 78),
                GeoPoint(lat: 13, lon: 77),
            ], deliveryFee: 4_000, currency: "INR")
        let spice = MenuOptionGroup(
            id: "spice", name: "Spice", minChoices: 1, maxChoices: 1,
            choices: [MenuOption(id: "mild", name: "Mild", price: 0), MenuOption(id: "hot", name: "Hot", price: 500)])
        let extras = MenuOptionGroup(
            id: "extras", name: "Extras", minChoices: 0, maxChoices: 3,
            choices: [
                MenuOption(id: "raita", name: "Raita", price: 3_000),
                MenuOption(id: "gold", name: "Gold leaf", price: MarketValidation.maxAmount),
                MenuOption(id: "papad", name: "Papad", price: 1_500),
            ])
        let items = [
            MenuItem(
                id: "i-1", restaurantID: "r-1", sectionID: "s-1", name: "Biryani", price: 25_000, currency: "INR",
                optionGroups: [spice, extras]),
            MenuItem(id: "i-2", restaurantID: "r-1", sectionID: "s-1", name: "Lassi", price: 6_000, currency: "INR"),
            MenuItem(
                id: "i-3", restaurantID: "r-1", sectionID: "s-1", name: "Feast", price: MarketValidation.maxAmount,
                currency: "INR", optionGroups: [extras]),
            MenuItem(
                id: "i-4", restaurantID: "r-1", sectionID: "s-1", name: "Sold out", price: 100, currency: "INR",
                available: false),
        ]
        return (restaurant, zone, items)
    }()
    static let orderNow: Int64 = 1_800_000_000_000
    static let taxRateBasisPoints = 500

    /// `POST /v1/orders`: the body decoded as the route decodes it, `OrderPricing`'s checks in the route's order,
    /// then priced against the fixture menu. An accepted order has one line per requested line with quantities in
    /// bounds, totals that add up (tax rounded half up) and a total within `Money.maxAmount`.
    static func order(_ bytes: [UInt8]) -> Bool {
        guard let input = try? JSONDecoder().decode(PlaceOrderRequest.self, from: Data(bytes)) else { return false }
        let (restaurant, zone, menu) = orderFixture
        guard (try? OrderPricing.checkRequest(input)) != nil else { return false }
        precondition((try? OrderPricing.checkOpen(restaurant, now: orderNow)) != nil, "the fixture is always open")
        precondition((try? OrderPricing.checkZone(zone, restaurant: restaurant)) != nil, "the fixture zone serves")
        let requested = Set(input.items.map(\.item))
        let items = menu.filter { requested.contains($0.id) }
        guard
            let priced = try? OrderPricing.price(
                input, restaurant: restaurant, zone: zone, items: items, taxRateBasisPoints: taxRateBasisPoints)
        else { return false }
        precondition(priced.lines.count == input.items.count && !priced.lines.isEmpty, "lines lost or added")
        for (line, asked) in zip(priced.lines, input.items) {
            precondition(line.itemID == asked.item && line.quantity == asked.quantity, "line changed")
            precondition((1...OrderPricing.maxQuantity).contains(line.quantity) && line.unitPrice >= 0, "line bounds")
            precondition(line.lineTotal == line.unitPrice * Int64(line.quantity), "line total")
        }
        let subtotal = priced.lines.reduce(Int64(0)) { $0 + $1.lineTotal }
        precondition(priced.subtotal == subtotal && priced.deliveryFee == zone.deliveryFee, "subtotal")
        let taxable = subtotal + zone.deliveryFee
        precondition(priced.tax == (taxable * Int64(taxRateBasisPoints) + 5_000) / 10_000, "tax")
        precondition(priced.total == taxable + priced.tax && priced.total <= Money.maxAmount, "total")
        precondition(priced.currency == "INR" && priced.zoneID == zone.id, "currency or zone")
        return true
    }

    /// A captured card payment of 10,000.00 INR, 2,500.00 of it already refunded (what a refund is reserved against).
    static let capturedPayment: PaymentRecord = {
        var p = PaymentRecord(
            id: "pay-1", orderID: "o-1", customerID: 1, method: .card, provider: "test", state: .partiallyRefunded,
            currency: "INR", amount: 1_000_000, createdAt: 0)
        p.captured = 1_000_000
        p.refunded = 250_000
        return p
    }()

    /// The payment routes' bodies, picked by the first byte: `'0'` authorize (the card check; only the last four
    /// digits are kept), `'1'` refund (reason and amount checks, then the refund reserved against a captured
    /// payment: never more than is refundable), `'2'` cash hand-in (note, amount and currency).
    static func payment(_ bytes: [UInt8]) -> Bool {
        guard let selector = bytes.first else { return false }
        let body = Data(bytes.dropFirst())
        switch selector % 3 {
        case 0:
            guard let input = try? JSONDecoder().decode(PaymentRequests.Authorize.self, from: body),
                CardNumber.isValid(input.card)
            else { return false }
            precondition((12...19).contains(input.card.utf8.count), "card length")
            precondition(input.card.utf8.allSatisfy { (0x30...0x39).contains($0) }, "card digits")
            precondition(String(input.card.suffix(4)).utf8.count == 4, "last four")
        case 1:
            guard let input = try? JSONDecoder().decode(PaymentRequests.Refund.self, from: body),
                (try? PaymentRequests.checkNote(input.reason, field: "reason")) != nil,
                (try? PaymentRequests.checkRefundAmount(input.amount)) != nil
            else { return false }
            precondition((1...Money.maxAmount).contains(input.amount) && (input.reason?.count ?? 0) <= 500, "refund")
            var payment = capturedPayment
            guard (try? PaymentRules.reserveRefund(&payment, amount: input.amount, now: 1)) != nil else {
                precondition(input.amount > capturedPayment.refundable, "a refundable amount refused")
                return false
            }
            precondition(payment.refundPending == input.amount && payment.refundable >= 0, "refund over capture")
        default:
            guard let input = try? JSONDecoder().decode(PaymentRequests.HandIn.self, from: body),
                (try? PaymentRequests.checkNote(input.note, field: "note")) != nil,
                (try? PaymentRequests.checkHandIn(amount: input.amount, currency: input.currency)) != nil
            else { return false }
            precondition((1...Money.maxAmount).contains(input.amount) && Money.isCurrency(input.currency), "hand-in")
        }
        return true
    }

    /// The menu routes' bodies, picked by the first byte: `'0'` a section (name, position), `'1'` a new item, `'2'`
    /// an update of an existing item. An accepted item is priced within `MarketValidation.maxAmount` in the
    /// restaurant's currency, its option groups within their bounds.
    static func menu(_ bytes: [UInt8]) -> Bool {
        guard let selector = bytes.first else { return false }
        let body = Data(bytes.dropFirst())
        let restaurant = orderFixture.restaurant
        switch selector % 3 {
        case 0:
            guard let input = try? JSONDecoder().decode(MenuRequests.Section.self, from: body), let name = input.name,
                let valid = try? MenuRequests.sectionName(name),
                let position = try? MenuRequests.position(input.position)
            else { return false }
            precondition((1...60).contains(valid.count), "section name")
            precondition((0...10_000).contains(position ?? 0), "section position")
        case 1:
            guard let input = try? JSONDecoder().decode(MenuRequests.Item.self, from: body),
                let item = try? MenuRequests.newItem(input, id: "i-9", restaurant: restaurant)
            else { return false }
            checkMenuItem(item)
        default:
            guard let input = try? JSONDecoder().decode(MenuRequests.Item.self, from: body) else { return false }
            var item = orderFixture.items[0]
            guard (try? MenuRequests.update(&item, with: input, restaurant: restaurant)) != nil else { return false }
            checkMenuItem(item)
        }
        return true
    }

    static func checkMenuItem(_ item: MenuItem) {
        precondition((0...MarketValidation.maxAmount).contains(item.price) && item.currency == "INR", "price")
        precondition(item.optionGroups.count <= 20, "option groups")
        for group in item.optionGroups {
            precondition(0 <= group.minChoices && group.minChoices <= group.maxChoices && group.maxChoices >= 1, "min")
            precondition(group.maxChoices <= group.choices.count && group.choices.count <= 50, "choices")
            precondition(group.choices.allSatisfy { (0...MarketValidation.maxAmount).contains($0.price) }, "choice")
        }
    }

    /// Every listing's cursor reader (`ListingCursor`) on the same text: an accepted cursor names a key that encodes
    /// (as the listing encodes its next cursor) to a cursor naming the same key again.
    static func cursor(_ text: String) -> Bool {
        var accepted = false
        if let key = ListingCursor.position(text) {
            accepted = true
            let again = ListingCursor.position(PageCursor.encode("\(key.time)", "\(key.seq)"))
            precondition(again?.time == key.time && again?.seq == key.seq, "position cursor round trip")
        }
        if let key = ListingCursor.order(text) {
            accepted = true
            let again = ListingCursor.order(PageCursor.encode("\(key.createdAt)", key.id))
            precondition(again?.createdAt == key.createdAt && again?.id == key.id, "order cursor round trip")
        }
        if let id = ListingCursor.zone(text) {
            accepted = true
            precondition(!id.isEmpty && ListingCursor.zone(PageCursor.encode(id)) == id, "zone cursor round trip")
        }
        for near in [nil, GeoPoint(lat: 12.97, lon: 77.59)] {
            if let key = ListingCursor.restaurant(text, near: near) {
                accepted = true
                precondition((key.distance != nil) == (near != nil), "a cursor of the other listing accepted")
                precondition((key.distance?.isFinite ?? true) && (1...64).contains(key.id.utf8.count), "bounds")
                precondition(ListingCursor.restaurant(key.encoded, near: near) == key, "restaurant cursor round trip")
            }
        }
        if let after = ListingCursor.seqConflict(text) {
            accepted = true
            precondition(after >= 0 && ListingCursor.seqConflict(String(after)) == after, "seq-conflict cursor")
        }
        if let before = ListingCursor.deliveryBefore(text) {
            accepted = true
            precondition(before >= 1, "delivery cursor below 1 accepted")
        }
        if let before = ListingCursor.statementBefore(text) {
            accepted = true
            precondition(Int64(text) == before, "statement cursor changed")
        }
        return accepted
    }

    /// The query parameters the REST routes read, on a query string as Hummingbird splits and percent-decodes it
    /// (`URI.queryParameters`, as `request.uri.queryParameters`): each listing's `limit` and cursor
    /// (`PageRequest` with the listing's range and `ListingCursor` reader), `since`/`until`, `lat`/`lon`, the
    /// restaurant filters, the order filters, the ledger's currency, date and amount. An accepted value lies within
    /// the bounds its route documents. True when no reader refused a parameter.
    static func query(_ text: String) -> Bool {
        let query = URI("/v1/fuzz?" + text).queryParameters
        let reader = QueryReader(query: query)
        var refused = 0
        func read<T>(_ parse: () throws(APIError) -> T) -> T? {
            do throws(APIError) { return try parse() } catch {
                refused += 1
                return nil
            }
        }
        func page<Key>(_ limit: ClosedRange<Int>, _ name: String, _ decode: (String) -> Key?) -> PageRequest<Key>? {
            let request = read { () throws(APIError) in
                try PageRequest(query, limit: limit, default: limit.lowerBound, cursorName: name, decode: decode)
            }
            if let request { precondition(limit.contains(request.limit), "limit \(request.limit) outside \(limit)") }
            return request
        }
        _ = page(1...1000, "cursor", ListingCursor.position)
        _ = page(1...1000, "cursor", ListingCursor.seqConflict)
        _ = page(1...200, "cursor", ListingCursor.order)
        _ = page(1...100, "cursor", ListingCursor.zone)
        _ = page(1...100, "cursor") { ListingCursor.restaurant($0, near: nil) }
        _ = page(1...200, "before", ListingCursor.statementBefore)
        _ = page(1...500, "before", ListingCursor.deliveryBefore)
        if let range = read({ () throws(APIError) in try reader.timeRange() }), let since = range.since,
            let until = range.until
        {
            precondition(since < until, "since ≥ until accepted")
        }
        if let point = read({ () throws(APIError) in try reader.point() }), let point {
            precondition(point.isValid, "not on Earth")
        }
        if let listing = read({ () throws(APIError) in try RestaurantQuery(reading: reader, now: orderNow) }) {
            precondition(listing.radius.isFinite && (1...50_000).contains(listing.radius), "radius")
            precondition(listing.near?.isValid ?? true, "listing point")
            precondition(listing.text.map { (1...100).contains($0.count) } ?? true, "q")
            precondition(listing.openAt == nil || listing.openAt == orderNow, "open_now")
        }
        if let customer = read({ () throws(APIError) in try OrderListQuery.customer(query.get("customer")) }),
            let customer
        {
            precondition(query.get("customer").flatMap { Int64($0) } == customer, "customer changed")
        }
        if let statuses = read({ () throws(APIError) in try OrderListQuery.statuses(query.get("status")) }),
            let statuses
        {
            precondition(!statuses.isEmpty, "an empty status filter")
        }
        if let text = query.get("currency"),
            let currency = read({ () throws(APIError) in try PaymentRequests.currency(text) })
        {
            precondition(Money.isCurrency(currency), "currency")
        }
        if let date = query.get("date") {
            if PaymentRequests.isDate(date) { precondition(date.utf8.count == 10, "date length") } else { refused += 1 }
        }
        if let amount = read({ () throws(APIError) in try PaymentRequests.cashAmount(query.get("amount")) }) {
            precondition((0...Money.maxAmount).contains(amount), "amount")
        }
        return refused == 0
    }
}
