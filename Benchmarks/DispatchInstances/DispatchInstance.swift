import DabbaCore
import DabbaDispatch

/// A random round in a 12 km × 12 km city (Kharagpur): orders placed in the last 10 minutes, ready within
/// 0–20 minutes; agents anywhere, idle 0–60 minutes (a tenth never delivered), speeds 3–9 m/s or unknown.
///
/// Shared by the dispatch benchmarks (`dabba-bench-dispatch` and the package-benchmark micro-benchmarks in
/// `Benchmarks/Micro`), so both time the same kind of instance.
public struct DispatchInstance: Sendable {
    public var orders: [DispatchOrder]
    public var agents: [DispatchAgent]
    public var now: Int64

    /// `orders` orders and `agents` agents drawn from `random` (a seed gives the same instance every time).
    public static func random(orders: Int, agents: Int, using random: inout SplitMix64) -> DispatchInstance {
        let now: Int64 = 1_795_000_000_000
        func point() -> GeoCoordinate {
            GeoCoordinate(
                lat: 22.3149 + Double.random(in: -0.054...0.054, using: &random),
                lon: 87.3105 + Double.random(in: -0.058...0.058, using: &random))
        }
        let restaurants = (0..<200).map { _ in point() }
        let orderList = (0..<orders).map { i in
            let r = Int.random(in: 0..<restaurants.count, using: &random)
            let placed = now - Int64.random(in: 0...600_000, using: &random)
            return DispatchOrder(
                id: "o-\(i)", restaurantID: "r-\(r)", pickup: restaurants[r], zoneID: nil, placedAt: placed,
                readyAt: now + Int64.random(in: 0...1_200_000, using: &random))
        }
        let agentList = (0..<agents).map { i in
            DispatchAgent(
                id: "a-\(i)", position: point(),
                lastDeliveryAt: Int.random(in: 0..<10, using: &random) == 0
                    ? nil : now - Int64.random(in: 0...3_600_000, using: &random),
                speed: Bool.random(using: &random) ? Double.random(in: 3...9, using: &random) : nil)
        }
        return DispatchInstance(orders: orderList, agents: agentList, now: now)
    }
}
