import DabbaTestSupport
import Foundation
@testable import HubModel
import HummingbirdTesting

@testable import DabbaHub

/// A small marketplace in the store: a zone around central Bengaluru, a restaurant open all week, a menu with an
/// option group, and one user per role (password `password-1`).
struct OrderFixture {
    let harness: HubHarness
    var customerA: UserRecord
    var customerB: UserRecord
    var owner: UserRecord
    var otherOwner: UserRecord
    var operatorUser: UserRecord
    var agentUser: UserRecord
    var otherAgentUser: UserRecord
    var restaurant: Restaurant
    var otherRestaurant: Restaurant

    /// Inside the zone.
    static let home = GeoPoint(lat: 12.9800, lon: 77.6000)
    /// Outside every zone.
    static let faraway = GeoPoint(lat: 13.5, lon: 78.5)

    static func make(_ harness: HubHarness) async throws -> OrderFixture {
        let store = harness.store
        _ = try await store.createAgent(id: "a-1", name: "Ravi Kumar")
        _ = try await store.createAgent(id: "a-2", name: "Sita Devi")
        try await store.updateAgentProfile(id: "a-1", name: nil, vehicle: "scooter KA-01-1234")
        _ = try await store.createZone(
            Zone(
                id: "z-central", name: "Central",
                polygon: [
                    .init(lat: 12.90, lon: 77.50), .init(lat: 12.90, lon: 77.70), .init(lat: 13.05, lon: 77.70),
                    .init(lat: 13.05, lon: 77.50),
                ],
                deliveryFee: 4_000, currency: "INR"))
        let owner = try await harness.addUser("owner@example.com", role: .restaurant)
        let otherOwner = try await harness.addUser("other-owner@example.com", role: .restaurant)
        let allWeek = try OpeningHours(
            timezone: "Asia/Kolkata",
            hours: Dictionary(uniqueKeysWithValues: Weekday.allCases.map { ($0.rawValue, [["00:00", "24:00"]]) }))
        let restaurant = try await store.createRestaurant(
            Restaurant(
                id: "r-dosa", name: "Dosa Corner", address: "2 Church Street",
                location: .init(lat: 12.9750, lon: 77.6050),
                ownerUserID: owner.id, currency: "INR", hours: allWeek))
        let other = try await store.createRestaurant(
            Restaurant(
                id: "r-other", name: "Other Place", address: "9 Brigade Road",
                location: .init(lat: 12.9700, lon: 77.6070),
                ownerUserID: otherOwner.id, currency: "INR", hours: allWeek))
        try await store.createSection(restaurant: "r-dosa", id: "s-main", name: "Mains", position: 0)
        _ = try await store.createMenuItem(
            MenuItem(
                id: "i-masala", restaurantID: "r-dosa", sectionID: "s-main", name: "Masala dosa", price: 25_000,
                currency: "INR",
                optionGroups: [
                    MenuOptionGroup(
                        id: "g-extra", name: "Extras", minChoices: 0, maxChoices: 2,
                        choices: [
                            MenuOption(id: "o-ghee", name: "Ghee", price: 3_000),
                            MenuOption(id: "o-cheese", name: "Cheese", price: 4_000),
                        ])
                ]))
        _ = try await store.createMenuItem(
            MenuItem(
                id: "i-gone", restaurantID: "r-dosa", sectionID: "s-main", name: "Rava dosa", price: 20_000,
                currency: "INR", available: false))
        return OrderFixture(
            harness: harness,
            customerA: try await harness.addUser("a@example.com", role: .customer),
            customerB: try await harness.addUser("b@example.com", role: .customer),
            owner: owner, otherOwner: otherOwner,
            operatorUser: try await harness.addUser("op@example.com", role: .operator),
            agentUser: try await harness.addUser("ravi@example.com", role: .agent, agentID: "a-1"),
            otherAgentUser: try await harness.addUser("sita@example.com", role: .agent, agentID: "a-2"),
            restaurant: restaurant, otherRestaurant: other)
    }

    /// A `POST /v1/orders` body: two masala dosas with ghee, plus whatever `extra` JSON members.
    static func orderJSON(
        restaurant: String = "r-dosa", at point: GeoPoint = home, item: String = "i-masala",
        options: [String] = ["o-ghee"], method: String = "cod", extra: String = ""
    ) -> String {
        let opts = options.map { "\"\($0)\"" }.joined(separator: ",")
        return """
            {"restaurant":"\(restaurant)","items":[{"item":"\(item)","quantity":2,"options":[\(opts)]\(extra)}],
             "address":"1 MG Road, flat 4","lat":\(point.lat),"lon":\(point.lon),"paymentMethod":"\(method)"\(extra)}
            """
    }
}

extension TestClientProtocol {
    /// Places an order as `token`; returns its id (fails the test through a thrown error otherwise).
    func placeOrder(_ token: String, json: String = OrderFixture.orderJSON()) async throws -> String {
        let response = try await send(.post, "/v1/orders", token: token, json: json)
        guard response.status == .created, let id = response.json?["id"] as? String else {
            throw TestSupportError("place order: \(response.status) \(response.text)")
        }
        return id
    }

    /// `POST /v1/orders/{id}/{action}` with an optional JSON body.
    func act(_ action: String, _ id: String, _ token: String, _ json: String? = nil) async throws -> TestResponse {
        try await send(.post, "/v1/orders/\(id)/\(action)", token: token, json: json)
    }
}
