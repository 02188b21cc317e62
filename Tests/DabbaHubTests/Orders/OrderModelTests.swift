import DabbaProtocol
import Foundation
@testable import HubModel
@testable import HubSQLite
import Testing

@testable import DabbaHub

/// Who may act on an order, the ETA and the customer's live view, without I/O (the state machine itself:
/// `HubModelTests.OrderStatusTests`).
struct OrderModelTests {
    @Test func rolesMayOnlyTakeTheirActions() {
        typealias Service = OrderService<SQLiteHubStore>
        #expect(Service.allowedStates(.cancel, for: .customer) == [.placed])
        #expect(Service.allowedStates(.accept, for: .customer) == nil)
        #expect(Service.allowedStates(.assign, for: .restaurant) == nil)
        #expect(Service.allowedStates(.pickup, for: .restaurant) == nil)
        #expect(Service.allowedStates(.cancel, for: .restaurant)?.contains(.pickedUp) == false)
        #expect(Service.allowedStates(.accept, for: .agent) == nil)
        #expect(Service.allowedStates(.assign, for: .operator) != nil)
        #expect(Service.allowedStates(.cancel, for: .operator)?.contains(.pickedUp) == false)
    }

    @Test func etaShrinksAsTheAgentApproachesAndArrivalIsByDistance() {
        let eta = ETAEstimator()
        let target = (lat: 12.9716, lon: 77.5946)
        var last = Int.max
        for step in stride(from: 0.03, through: 0.001, by: -0.005) {
            let e = eta.estimate(from: (target.lat + step, target.lon), to: target, recentSpeed: 6)
            #expect(e.seconds <= last && !e.arrived)
            last = e.seconds
        }
        let near = eta.estimate(from: (target.lat + 0.0004, target.lon), to: target, recentSpeed: 6)  // ~44 m
        #expect(near.arrived && near.seconds == 0)
        // 1 km straight at 5 m/s with the default detour: 1.35 × 1000 / 5 = 270 s.
        let oneKm = ETAEstimator.haversineMeters((12.0, 77.0), (12.0 + 1000 / 111_195.0, 77.0))
        #expect(abs(oneKm - 1000) < 1)
        #expect(eta.estimate(from: (12.0, 77.0), to: (12.0 + 1000 / 111_195.0, 77.0), recentSpeed: 5).seconds == 270)
        // A parked agent is not promised an infinite ETA; noise above 25 m/s is clamped.
        #expect(eta.estimate(from: (12.0, 77.0), to: (12.01, 77.0), recentSpeed: 0).seconds < 1_000)
        #expect(eta.estimate(from: (12.0, 77.0), to: (12.1, 77.0), recentSpeed: 500).seconds >= 60)
    }

    @Test func recentSpeedComesFromReportedSpeedsOrFromDistanceOverTime() {
        var reported = RecentSpeed()
        for i in 0..<5 { reported.add(time: Int64(i) * 1000, lat: 12, lon: 77, speed: 4) }
        #expect(reported.metersPerSecond == 4)
        var derived = RecentSpeed()
        for i in 0..<5 { derived.add(time: Int64(i) * 1000, lat: 12 + Double(i) * 10 / 111_195.0, lon: 77, speed: nil) }
        #expect(abs((derived.metersPerSecond ?? 0) - 10) < 0.1)
        #expect(RecentSpeed().metersPerSecond == nil)
    }

    /// A cash order of customer 7 at restaurant r-1, unassigned, for the live view's tests.
    static func liveOrder(address: String) -> (OrderRecord, RestaurantSummary) {
        let order = OrderRecord(
            id: "o-1", customerID: 7, restaurantID: "r-1", paymentMethod: .cod, currency: "INR", subtotal: 100,
            deliveryFee: 10, tax: 5, total: 115, address: address, dropLat: 12.98, dropLon: 77.6, zoneID: "z",
            createdAt: 0, updatedAt: 0, lines: [])
        let restaurant = RestaurantSummary(
            id: "r-1", name: "Dosa", address: "2 Church St", lat: 12.97, lon: 77.59, ownerUserID: 3)
        return (order, restaurant)
    }

    @Test func theAgentIsVisibleOnlyFromAssignmentUntilDelivery() {
        let (order, restaurant) = Self.liveOrder(address: "1 MG Road")
        var view = OrderLiveView(
            order: order, restaurant: restaurant, events: [], agent: nil, position: nil, estimator: ETAEstimator())
        func fix(_ seq: Int64, _ lat: Double, agent: String = "a-1") -> StoredPosition {
            StoredPosition(agent: agent, seq: seq, time: seq * 1000, lat: lat, lon: 77.59)
        }
        func event(_ id: Int64, _ status: OrderStatus, _ action: OrderAction, agent: String? = nil) -> OrderEvent {
            OrderEvent(
                id: id, order: "o-1", restaurant: "r-1", customer: 7, agent: agent, status: status, action: action,
                time: "2026-11-26T10:00:0\(id).000Z", actor: "system")
        }
        #expect(view.apply(fix(1, 12.96)) == nil)  // before assignment: nothing
        #expect(view.apply(event(1, .confirmed, .accept), card: nil)?.agent == nil)
        let assigned = view.apply(
            event(2, .assigned, .assign, agent: "a-1"),
            card: .init(id: "a-1", firstName: "Ravi", vehicle: "scooter"))
        #expect(assigned?.agent?.firstName == "Ravi" && view.watchedAgent == "a-1")
        #expect(view.apply(fix(2, 12.96, agent: "a-2")) == nil)  // another agent: never
        let toRestaurant = view.apply(fix(3, 12.96))
        #expect(toRestaurant?.eta?.target == "restaurant" && toRestaurant?.position?.lat == 12.96)
        #expect(view.apply(fix(3, 12.96)) == nil)  // repeated fix: no frame
        _ = view.apply(event(3, .pickedUp, .pickup, agent: "a-1"), card: nil)
        #expect(view.apply(fix(4, 12.975))?.eta?.target == "customer")
        let delivered = view.apply(event(4, .delivered, .deliver, agent: "a-1"), card: nil)
        #expect(delivered?.position == nil && delivered?.agent == nil && delivered?.eta == nil)
        #expect(view.apply(fix(5, 12.98)) == nil)  // after delivery: nothing
        #expect(view.apply(event(4, .delivered, .deliver), card: nil) == nil)  // replayed event: ignored
        #expect(view.snapshot.agent == nil && view.snapshot.position == nil && view.timeline.count == 4)
    }

    /// `OrderView`'s hand-written JSON says what `JSONEncoder` says: same keys and values (nil fields left out,
    /// escapes included), and it decodes back to the same view.
    @Test func theOrderViewWriterMatchesJSONEncoder() throws {
        let line = OrderLine(
            itemID: "i-1", name: "Masala \"dosa\"\n", quantity: 2, unitPrice: 120,
            options: [OrderLineOption(id: "x", name: "Ghee", price: 20), OrderLineOption(id: "y", name: "é", price: 0)])
        let full = OrderRecord(
            id: "o-1", customerID: 7, restaurantID: "r-1", status: .assigned, agentID: "a-1", paymentMethod: .card,
            currency: "INR", subtotal: 240, deliveryFee: 30, tax: 12, total: 282, address: "1 MG Road\tBlock \\A",
            dropLat: 12.9716, dropLon: 77.0, zoneID: "z", prepMinutes: 15, readyAt: 1_795_000_000_123,
            createdAt: 1_795_000_000_000, updatedAt: 1_795_000_001_000, lines: [line, line])
        var bare = full
        bare.agentID = nil
        bare.zoneID = nil
        bare.prepMinutes = nil
        bare.readyAt = nil
        bare.lines = []
        for order in [full, bare] {
            let view = OrderView(order)
            let written = Data(view.jsonBytes())
            let encoded = try JSONEncoder().encode(view)
            let a = try #require(try JSONSerialization.jsonObject(with: written) as? NSDictionary)
            let b = try #require(try JSONSerialization.jsonObject(with: encoded) as? NSDictionary)
            #expect(a == b, "\(String(decoding: written, as: UTF8.self))")
            #expect(try JSONDecoder().decode(OrderView.self, from: written) == view)
        }
    }

    /// The feed's hand-written frames say what `JSONEncoder` (`.sortedKeys`) says, for every kind of frame.
    @Test func feedFramesMatchJSONEncoder() throws {
        let (order, restaurant) = Self.liveOrder(address: "1 \"MG\" Road")
        let event = OrderEvent(
            id: 1, order: "o-1", restaurant: "r-1", customer: 7, agent: "a-1", status: .assigned, action: .assign,
            time: "2026-11-26T10:00:01.000Z", actor: "system", reason: "nearest\u{1}")
        var view = OrderLiveView(
            order: order, restaurant: restaurant, events: [event], agent: nil, position: nil, estimator: ETAEstimator())
        let assigned = view.apply(
            OrderEvent(
                id: 2, order: "o-1", restaurant: "r-1", customer: 7, agent: "a-1", status: .assigned,
                action: .assign, time: "2026-11-26T10:00:02.000Z", actor: "system"),
            card: OrderLiveView.AgentCard(id: "a-1", firstName: "Asha", vehicle: "scooter"))
        let moved = view.apply(
            StoredPosition(agent: "a-1", seq: 3, time: 1_795_000_000_123, lat: 12.96, lon: 77.59, speed: 4.5, track: 90)
        )
        let movedAgain = view.apply(
            StoredPosition(agent: "a-1", seq: 4, time: 1_795_000_001_123, lat: 12.961, lon: 77.0))
        let frames = [
            view.snapshot, try #require(assigned), try #require(moved), try #require(movedAgain), view.snapshot,
        ]
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        for frame in frames {
            let written = Data(frame.jsonBytes())
            let a = try #require(try JSONSerialization.jsonObject(with: written) as? NSDictionary)
            let b = try #require(try JSONSerialization.jsonObject(with: encoder.encode(frame)) as? NSDictionary)
            #expect(a == b, "\(String(decoding: written, as: UTF8.self))")
            #expect(try JSONDecoder().decode(OrderLiveView.Frame.self, from: written) == frame)
        }
    }
}
