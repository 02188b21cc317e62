import DabbaCore
import DabbaProtocol
import Foundation
import Synchronization

/// `dabba-sim day`: customers and kitchens over the hub's REST API at a configured order rate. Customers (registered
/// once) order from the open restaurants to a point near each (cash on delivery, or the test provider's card); an
/// operator account plays the kitchens — accepting each order after a short delay with its preparation time,
/// preparing it and marking it ready when that time is up. Dispatch and the riders (`dabba-sim fleet`, or real
/// devices) do the rest. When the orders have settled it reads each one's trail and dispatch record and reports
/// order-to-door time, the wait for an agent, offers per order, and the per-agent earnings Gini (delivery fees).
public final class DaySimulator: Sendable {
    public enum Payment: String, Sendable, CaseIterable {
        case cod, card, mixed
    }

    public struct Options: Sendable {
        public var hub: URL
        public var operatorEmail: String
        public var operatorPassword: String
        public var customers = 10
        public var ordersPerMinute = 6.0
        /// How long orders are placed.
        public var duration: Duration = .seconds(600)
        /// How long, after the last order, orders may take to finish before the report.
        public var settle: Duration = .seconds(1800)
        public var prepMinutes: ClosedRange<Double> = 2...5
        /// Seconds before the kitchen accepts.
        public var acceptDelay: ClosedRange<Double> = 2...10
        public var payment = Payment.cod
        /// Drop-off points lie within this many metres of the restaurant.
        public var radiusMetres = 2000.0
        public var seed: UInt64 = 1

        public init(hub: URL, operatorEmail: String, operatorPassword: String) {
            self.hub = hub
            self.operatorEmail = operatorEmail
            self.operatorPassword = operatorPassword
        }
    }

    /// What the day came to.
    public struct Summary: Sendable {
        public var placed = 0
        /// Attempts the hub refused (not served, closed, sold out, …), by its error code.
        public var refused: [String: Int] = [:]
        public var delivered = 0
        public var cancelled = 0
        public var failed = 0
        public var rejected = 0
        public var unfinished = 0
        /// Placed → delivered, seconds, per delivered order.
        public var doorSeconds: [Double] = []
        /// Confirmed → first assigned, seconds.
        public var waitSeconds: [Double] = []
        public var offersPerOrder: [Int] = []
        /// Delivery fees earned per agent (minor units), agents on shift at the start included with 0.
        public var earnings: [String: Int64] = [:]

        /// Gini coefficient of `earnings` (0: all equal; 1: one agent earned everything).
        public var gini: Double { Self.gini(earnings.values.map(Double.init)) }

        public static func gini(_ values: [Double]) -> Double {
            let sorted = values.sorted()
            let total = sorted.reduce(0, +)
            guard sorted.count > 1, total > 0 else { return 0 }
            let n = Double(sorted.count)
            let weighted = sorted.enumerated().reduce(0.0) { $0 + Double($1.offset + 1) * $1.element }
            return (2 * weighted) / (n * total) - (n + 1) / n
        }
    }

    let options: Options
    let random: Mutex<SplitMix64>
    let summary = Mutex(Summary())
    /// The orders placed, in order.
    let ids = Mutex<[String]>([])
    let progress: @Sendable (String) -> Void

    public init(options: Options, progress: @escaping @Sendable (String) -> Void = { _ in }) {
        self.options = options
        self.random = Mutex(SplitMix64(seed: options.seed))
        self.progress = progress
    }

    func uniform(_ range: ClosedRange<Double>) -> Double { random.withLock { Double.random(in: range, using: &$0) } }
    func pick(_ count: Int) -> Int { random.withLock { Int.random(in: 0..<count, using: &$0) } }

    /// Places orders for `duration`, waits for them to settle, and reports.
    public func run() async throws -> Summary {
        let staff = HubClient(base: options.hub, email: options.operatorEmail, password: options.operatorPassword)
        try await staff.signIn()
        let menus = try await openMenus(staff)
        guard !menus.isEmpty else { throw HubClient.Failure(description: "no open restaurant with an orderable item") }
        var customers: [HubClient] = []
        for n in 1...options.customers {
            let customer = HubClient(
                base: options.hub, email: "sim-customer-\(n)@dabba.sim", password: "sim-password-\(n)")
            try await customer.registerAndSignIn(name: "Sim customer \(n)")
            customers.append(customer)
        }
        let agents = try await staff.send("GET", "/v1/agents")
        for agent in agents["agents"]?.array ?? [] where agent["onShift"]?.bool == true {
            if let id = agent["id"]?.string { summary.withLock { $0.earnings[id] = 0 } }
        }
        progress(
            "day: \(customers.count) customers, \(menus.count) restaurants, \(options.ordersPerMinute) orders a minute "
                + "for \(options.duration), \(summary.withLock { $0.earnings.count }) agents on shift")

        let clock = ContinuousClock()
        let end = clock.now + options.duration
        let gap = Duration.seconds(60 / options.ordersPerMinute)
        var next = clock.now
        await withTaskGroup(of: Void.self) { group in
            while clock.now < end {
                let customer = customers[pick(customers.count)]
                let menu = menus[pick(menus.count)]
                group.addTask {
                    do {
                        if let id = try await self.order(customer, menu, staff) { self.ids.withLock { $0.append(id) } }
                    } catch {
                        // The hub unreachable or a broken answer: counted, the day goes on.
                        self.summary.withLock { $0.refused["error: \(error)", default: 0] += 1 }
                    }
                }
                next = next + gap
                try? await Task.sleep(until: next, clock: clock)
            }
            progress("day: orders placed; waiting for the kitchens")
            await group.waitForAll()
        }
        try await report(ids.withLock { $0 }, staff)
        return summary.withLock { $0 }
    }

    /// A restaurant open now and what can be ordered there without choosing options.
    struct Menu: Sendable {
        var restaurant: String
        var lat: Double
        var lon: Double
        var items: [String]
    }

    func openMenus(_ client: HubClient) async throws -> [Menu] {
        var menus: [Menu] = []
        var cursor: String?
        repeat {
            let page = try await client.send(
                "GET", "/v1/restaurants?limit=100" + (cursor.map { "&cursor=\($0)" } ?? ""), authorized: false)
            guard page.ok else { throw HubClient.Failure(description: "restaurants: \(page.error)") }
            for r in page["restaurants"]?.array ?? [] where r["openNow"]?.bool == true && r["paused"]?.bool != true {
                guard let id = r["id"]?.string, let lat = r["location"]?["lat"]?.double,
                    let lon = r["location"]?["lon"]?.double
                else { continue }
                let menu = try await client.send("GET", "/v1/restaurants/\(id)/menu", authorized: false)
                let items = (menu["sections"]?.array ?? []).flatMap { $0["items"]?.array ?? [] }.filter { item in
                    item["available"]?.bool == true
                        && (item["optionGroups"]?.array ?? []).allSatisfy { ($0["minChoices"]?.int64 ?? 0) == 0 }
                }.compactMap { $0["id"]?.string }
                if !items.isEmpty { menus.append(Menu(restaurant: id, lat: lat, lon: lon, items: items)) }
            }
            cursor = page["next"]?.string
        } while cursor != nil && menus.count < 1000
        return menus
    }

    /// One order's life on the customers' and the kitchen's side; its id, or nil when the hub refused it.
    func order(_ customer: HubClient, _ menu: Menu, _ staff: HubClient) async throws -> String? {
        var placed: HubClient.Answer?
        for _ in 0..<5 {
            let bearing = uniform(0...(2 * .pi))
            let distance = options.radiusMetres * uniform(0.1...1).squareRoot()
            let (lat, lon) = Route.offset(
                (menu.lat, menu.lon), north: cos(bearing) * distance, east: sin(bearing) * distance)
            let method = options.payment == .mixed ? (pick(2) == 0 ? "cod" : "card") : options.payment.rawValue
            let items: [[String: any Sendable]] = [
                ["item": menu.items[pick(menu.items.count)], "quantity": 1 + pick(3)]
            ]
            let answer = try await customer.send(
                "POST", "/v1/orders",
                [
                    "restaurant": menu.restaurant, "items": items, "address": "Simulated door", "lat": lat,
                    "lon": lon, "paymentMethod": method,
                ])
            if answer.status == 201 {
                placed = answer
                break
            }
            let code = answer["error"]?["code"]?.string ?? "HTTP \(answer.status)"
            summary.withLock { $0.refused[code, default: 0] += 1 }
            if code != "not_served" { return nil }  // another point may be in the zone; other refusals stay
        }
        guard let placed, let id = placed["id"]?.string else { return nil }
        summary.withLock { $0.placed += 1 }
        if placed["paymentMethod"]?.string == "card" {
            let paid = try await customer.send(
                "POST", "/v1/orders/\(id)/payments", ["card": "4242424242424242"],
                headers: ["Idempotency-Key": "sim-pay-\(id)"])
            guard paid.ok else {
                _ = try await customer.send("POST", "/v1/orders/\(id)/cancel", ["reason": "payment failed"])
                return id
            }
        }
        try await Task.sleep(for: .seconds(uniform(options.acceptDelay)))
        let prep = uniform(options.prepMinutes)
        let accepted = try await staff.send("POST", "/v1/orders/\(id)/accept", ["prepMinutes": Int(prep.rounded(.up))])
        guard accepted.ok else { return id }
        _ = try await staff.send("POST", "/v1/orders/\(id)/prepare")
        try await Task.sleep(for: .seconds(prep * 60))
        // Ready, unless a rider was quicker (the hub keeps the kitchen's readiness on an assigned order too).
        _ = try await staff.send("POST", "/v1/orders/\(id)/ready")
        return id
    }

    /// Waits (bounded by `settle`) until every order has ended, then reads their trails and dispatch records.
    func report(_ ids: [String], _ staff: HubClient) async throws {
        let ended: Set<String> = ["delivered", "cancelled", "failed", "rejected"]
        let clock = ContinuousClock()
        let deadline = clock.now + options.settle
        var open = Set(ids)
        while !open.isEmpty, clock.now < deadline {
            for id in open {
                let order = try await staff.send("GET", "/v1/orders/\(id)")
                if let status = order["status"]?.string, ended.contains(status) { open.remove(id) }
            }
            if !open.isEmpty {
                progress("day: waiting for \(open.count) of \(ids.count) orders to finish")
                try await Task.sleep(for: .seconds(10))
            }
        }
        for id in ids {
            let order = try await staff.send("GET", "/v1/orders/\(id)")
            let trail = try await staff.send("GET", "/v1/orders/\(id)/events")
            let dispatch = try await staff.send("GET", "/v1/orders/\(id)/dispatch")
            let events = trail["events"]?.array ?? []
            func time(_ status: String) -> Int64? {
                events.first { $0["status"]?.string == status }?["time"]?.string.flatMap(Timestamp.parse)
            }
            let offers = (dispatch["offers"]?.array ?? []).count
            summary.withLock { s in
                switch order["status"]?.string {
                case "delivered":
                    s.delivered += 1
                    if let placed = time("placed"), let door = time("delivered") {
                        s.doorSeconds.append(Double(door - placed) / 1000)
                    }
                    if let agent = order["agent"]?.string
                        ?? events.last(where: { $0["agent"] != nil })?["agent"]?.string
                    {
                        s.earnings[agent, default: 0] += order["deliveryFee"]?.int64 ?? 0
                    }
                case "cancelled": s.cancelled += 1
                case "failed": s.failed += 1
                case "rejected": s.rejected += 1
                default: s.unfinished += 1
                }
                if let confirmed = time("confirmed"), let assigned = time("assigned") {
                    s.waitSeconds.append(Double(assigned - confirmed) / 1000)
                }
                if time("confirmed") != nil { s.offersPerOrder.append(offers) }
            }
        }
    }
}
