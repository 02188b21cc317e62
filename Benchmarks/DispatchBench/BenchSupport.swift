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
