import DabbaProtocol

/// What the order machinery needs to know about a restaurant.
package struct RestaurantSummary: Sendable, Equatable, Codable {
    package var id: String
    package var name: String
    package var address: String
    package var lat: Double
    package var lon: Double
    /// The user (role `restaurant`) who manages it.
    package var ownerUserID: Int64

    package init(id: String, name: String, address: String, lat: Double, lon: Double, ownerUserID: Int64) {
        self.id = id
        self.name = name
        self.address = address
        self.lat = lat
        self.lon = lon
        self.ownerUserID = ownerUserID
    }

    /// The pickup place in an agent's task.
    package var place: TaskMessage.Place { .init(name: name, address: address, lat: lat, lon: lon) }
}

/// Looks restaurants up for orders (implemented over the marketplace's repository).
package protocol RestaurantDirectory: Sendable {
    func restaurantSummary(id: String) async throws(StoreError) -> RestaurantSummary?
    /// ``restaurantSummary(id:)`` of several restaurants in one call, by id; unknown ids are left out.
    func restaurantSummaries(ids: Set<String>) async throws(StoreError) -> [String: RestaurantSummary]
    /// Ids of the restaurants `user` manages.
    func restaurantIDs(ownedBy user: Int64) async throws(StoreError) -> [String]
}
