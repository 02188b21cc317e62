import DabbaProtocol

/// What the order machinery needs to know about a restaurant.
public struct RestaurantSummary: Sendable, Equatable, Codable {
    public var id: String
    public var name: String
    public var address: String
    public var lat: Double
    public var lon: Double
    /// The user (role `restaurant`) who manages it.
    public var ownerUserID: Int64

    public init(id: String, name: String, address: String, lat: Double, lon: Double, ownerUserID: Int64) {
        self.id = id
        self.name = name
        self.address = address
        self.lat = lat
        self.lon = lon
        self.ownerUserID = ownerUserID
    }

    /// The pickup place in an agent's task.
    public var place: TaskMessage.Place { .init(name: name, address: address, lat: lat, lon: lon) }
}

/// Looks restaurants up for orders (implemented over the marketplace's repository).
public protocol RestaurantDirectory: Sendable {
    func restaurantSummary(id: String) async throws(StoreError) -> RestaurantSummary?
    /// Ids of the restaurants `user` manages.
    func restaurantIDs(ownedBy user: Int64) async throws(StoreError) -> [String]
}
