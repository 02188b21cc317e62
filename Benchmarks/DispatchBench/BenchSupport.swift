import DabbaCore
import DabbaDispatch
import Foundation
import Histogram

func say(_ line: String) {
    print(line)
    fflush(nil)
}

/// Runs `body` once, appending its wall time in milliseconds.
func measure<T>(_ times: inout [Double], _ body: () -> T) -> T {
    let clock = ContinuousClock()
    let start = clock.now
    let result = body()
    let elapsed = clock.now - start
    times.append(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
    return result
}

/// The `p`th percentile (0–100) of `values` (milliseconds): the value an HDR histogram gives for it.
func percentile(_ values: [Double], _ p: Double) -> Double {
    guard !values.isEmpty else { return 0 }
    // hdrhistogram-swift, in nanoseconds, 3 significant digits, up to 10 minutes.
    let ceiling: UInt64 = 600_000_000_000
    var histogram = Histogram<UInt64>(highestTrackableValue: ceiling, numberOfSignificantValueDigits: .three)
    for value in values {
        let nanoseconds = Swift.min(Swift.max(0, (value * 1_000_000).rounded()), Double(ceiling))
        histogram.record(UInt64(nanoseconds))
    }
    return Double(histogram.valueAtPercentile(p)) / 1_000_000
}

/// The obvious baseline: rows in order, each takes its cheapest free feasible column.
func greedyAssignment(costs: [Double], rows: Int, cols: Int) -> [Int?] {
    var taken = [Bool](repeating: false, count: cols)
    return (0..<rows).map { row in
        var best = -1
        var bestCost = Double.infinity
        for column in 0..<cols where !taken[column] && costs[row * cols + column] < bestCost {
            best = column
            bestCost = costs[row * cols + column]
        }
        guard best >= 0 else { return nil }
        taken[best] = true
        return best
    }
}

/// A random round in a 12 km × 12 km city (Kharagpur): orders placed in the last 10 minutes, ready within
/// 0–20 minutes; agents anywhere, idle 0–60 minutes (a tenth never delivered), speeds 3–9 m/s or unknown.
struct BenchInstance {
    var orders: [DispatchOrder]
    var agents: [DispatchAgent]
    var now: Int64

    static func random(orders: Int, agents: Int, using random: inout SplitMix64) -> BenchInstance {
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
        return BenchInstance(orders: orderList, agents: agentList, now: now)
    }
}
