import DabbaProtocol
import HubModel

/// The customer's live view of one order, as it evolves: it turns order events and the assigned agent's fixes into
/// the frames of `/v1/orders/{id}/live` and `/v1/track/{token}/live`. The agent's position is part of the view
/// only while the order is assigned or picked up — never before assignment, never after delivery — and only the
/// order's own agent.
package struct OrderLiveView: Sendable {
    package private(set) var order: OrderRecord
    package let restaurant: RestaurantSummary?
    package private(set) var timeline: [TimelineEntry]
    package private(set) var agent: AgentCard?
    package private(set) var position: StoredPosition?
    var speed = RecentSpeed()
    let estimator: ETAEstimator
    /// Newest event id applied (events at or before it are ignored).
    package private(set) var lastEventID: Int64

    /// One step of the order's history.
    package struct TimelineEntry: Sendable, Codable, Equatable {
        package var status: OrderStatus
        package var time: String
        package var reason: String?
    }

    /// Who is delivering: first name and vehicle only.
    package struct AgentCard: Sendable, Codable, Equatable {
        package var id: String
        package var firstName: String
        package var vehicle: String?
    }

    /// Where the ETA points and what it says.
    package struct ETA: Sendable, Codable, Equatable {
        /// `restaurant` before pickup, `customer` after.
        package var target: String
        package var seconds: Int
        package var distanceMeters: Int
        package var arrived: Bool
    }

    package struct Place: Sendable, Codable, Equatable {
        package var name: String?
        package var address: String
        package var lat: Double
        package var lon: Double
    }

    package struct Point: Sendable, Codable, Equatable {
        package var lat: Double
        package var lon: Double
        package var time: String
        package var speed: Double?
        package var track: Double?
    }

    /// One frame of the feed. `snapshot` carries everything; `status` and `position` carry the change and the
    /// fields it affects.
    package struct Frame: Sendable, Codable, Equatable {
        package var type: String
        package var order: String
        package var status: OrderStatus
        package var previous: OrderStatus?
        package var time: String?
        package var reason: String?
        package var timeline: [TimelineEntry]?
        package var restaurant: Place?
        package var destination: Place?
        package var agent: AgentCard?
        package var position: Point?
        package var eta: ETA?
    }

    package init(
        order: OrderRecord, restaurant: RestaurantSummary?, events: [OrderEvent], agent: AgentCard?,
        position: StoredPosition?, estimator: ETAEstimator
    ) {
        self.order = order
        self.restaurant = restaurant
        self.estimator = estimator
        timeline = events.map { TimelineEntry(status: $0.status, time: $0.time, reason: $0.reason) }
        lastEventID = events.last?.id ?? 0
        if order.status.showsAgent, let agentID = order.agentID, agent?.id == agentID {
            self.agent = agent
            if let position, position.agent == agentID { self.position = position }
        }
        if let position = self.position {
            speed.add(time: position.time, lat: position.lat, lon: position.lon, speed: position.speed)
        }
    }

    /// The agent whose fixes the view wants now (nil: none may be shown).
    package var watchedAgent: String? { order.status.showsAgent ? order.agentID : nil }

    /// The first frame.
    package var snapshot: Frame {
        Frame(
            type: "snapshot", order: order.id, status: order.status, timeline: timeline,
            restaurant: restaurant.map { Place(name: $0.name, address: $0.address, lat: $0.lat, lon: $0.lon) },
            destination: Place(name: nil, address: order.address, lat: order.dropLat, lon: order.dropLon),
            agent: watchedAgent == nil ? nil : agent, position: watchedAgent == nil ? nil : position.map(Self.point),
            eta: eta)
    }

    /// Applies an order event; nil when it is old or of another order. `card` is the newly assigned agent's card
    /// (looked up by the caller when the event names an agent the view does not know).
    package mutating func apply(_ event: OrderEvent, card: AgentCard?) -> Frame? {
        guard event.order == order.id, event.id > lastEventID else { return nil }
        lastEventID = event.id
        let previous = order.status
        order.status = event.status
        if event.action == .assign { order.agentID = event.agent }
        if event.action == .unassign { order.agentID = nil }
        timeline.append(TimelineEntry(status: event.status, time: event.time, reason: event.reason))
        if let watched = watchedAgent {
            if agent?.id != watched {
                agent = card?.id == watched ? card : AgentCard(id: watched, firstName: "Your rider", vehicle: nil)
                position = nil
                speed = RecentSpeed()
            }
        } else {
            agent = nil
            position = nil
        }
        return Frame(
            type: "status", order: order.id, status: order.status, previous: previous, time: event.time,
            reason: event.reason, agent: agent, position: position.map(Self.point), eta: eta)
    }

    /// Applies a fix of some agent; a frame only for the watched agent's newer fixes.
    package mutating func apply(_ fix: StoredPosition) -> Frame? {
        guard let watched = watchedAgent, fix.agent == watched else { return nil }
        if let position, (position.time, position.seq) >= (fix.time, fix.seq) { return nil }
        position = fix
        speed.add(time: fix.time, lat: fix.lat, lon: fix.lon, speed: fix.speed)
        return Frame(type: "position", order: order.id, status: order.status, position: Self.point(fix), eta: eta)
    }

    /// ETA to the restaurant before pickup, to the customer after; nil without a watched agent's fix.
    package var eta: ETA? {
        guard watchedAgent != nil, let position else { return nil }
        let toCustomer = order.status == .pickedUp
        let target: (lat: Double, lon: Double)
        if toCustomer {
            target = (order.dropLat, order.dropLon)
        } else {
            guard let restaurant else { return nil }
            target = (restaurant.lat, restaurant.lon)
        }
        let e = estimator.estimate(from: (position.lat, position.lon), to: target, recentSpeed: speed.metersPerSecond)
        return ETA(
            target: toCustomer ? "customer" : "restaurant", seconds: e.seconds,
            distanceMeters: Int(e.distanceMeters.rounded()), arrived: e.arrived)
    }

    static func point(_ p: StoredPosition) -> Point {
        Point(lat: p.lat, lon: p.lon, time: Timestamp.format(milliseconds: p.time), speed: p.speed, track: p.track)
    }

    /// The card shown for `agent`: first word of its name.
    package static func card(_ agent: AgentRecord) -> AgentCard {
        let first = agent.name?.split(separator: " ").first.map(String.init)
        return AgentCard(id: agent.id, firstName: first ?? "Your rider", vehicle: agent.vehicle)
    }
}
