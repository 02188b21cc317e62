import DabbaCore
import DabbaProtocol
import Foundation
import Histogram
import Logging
import Synchronization

/// A benchmark failure with a message that says what did not happen in time.
struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Prints a line at once (stdout to a file is block-buffered; progress should show as it happens).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// A positive integer from the environment, or `fallback` (a bad value is an error, not silently ignored).
func environmentInt(_ name: String, default fallback: Int) throws -> Int {
    guard let text = ProcessInfo.processInfo.environment[name], !text.isEmpty else { return fallback }
    guard let value = Int(text), value > 0 else { throw BenchError("\(name)=\(text): expected a positive integer") }
    return value
}

/// Hub and client logs to stderr: warnings and worse, so a misbehaving run explains itself without flooding stdout
/// (`BENCH_HUB_LOG_LEVEL=debug` for more).
func benchLogger(_ label: String) -> Logger {
    var logger = Logger(label: label, factory: { StreamLogHandler.standardError(label: $0) })
    let level = ProcessInfo.processInfo.environment["BENCH_HUB_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:))
    logger.logLevel = level ?? .warning
    return logger
}

extension Duration {
    /// The duration in seconds.
    var seconds: Double { timeInterval }
    /// The duration in milliseconds.
    var inMilliseconds: Double { seconds * 1000 }
}

/// Polls `condition` every `interval` until it holds; throws `BenchError(what)` after `timeout`. Every wait in the
/// benchmark goes through here or has its own deadline, so a broken run fails with a reason instead of hanging.
func waitUntil(
    _ what: String, timeout: Duration, interval: Duration = .milliseconds(20), _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try await condition() { return }
        guard ContinuousClock.now < deadline else { throw BenchError("\(what): not within \(timeout)") }
        try await Task.sleep(for: interval)
    }
}

/// Runs `operation` with a deadline; throws `BenchError(what)` when it does not finish in time (the operation is
/// cancelled).
func withDeadline<T: Sendable>(
    _ what: String, _ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw BenchError("\(what): not within \(timeout)")
        }
        return value
    }
}

/// Latency percentiles of a sample, in milliseconds, from an HDR histogram (hdrhistogram-swift; microsecond
/// resolution, 3 significant digits). Frames that never arrived (`missed`) count as misses: recorded beyond every
/// latency (at ``ceiling``), so a percentile that falls among them reads as infinite ("miss") instead of leaving them
/// out of the sample. Frames merged by coalescing are not misses (a newer fix of the same agent reached the reader).
struct LatencySummary {
    /// Frames measured (received).
    var count: Int
    /// Frames expected but never received.
    var missed: Int
    var p50: Double
    var p90: Double
    var p99: Double
    var max: Double

    /// 60 s in µs: no frame in these runs is later; misses are recorded here.
    static let ceiling: UInt64 = 60_000_000

    init(milliseconds values: [Double], missed: Int = 0) {
        var histogram = Histogram<UInt64>(highestTrackableValue: Self.ceiling, numberOfSignificantValueDigits: .three)
        for value in values {
            let microseconds = value.isFinite ? Swift.max(0, (value * 1000).rounded()) : Double(Self.ceiling)
            histogram.record(UInt64(Swift.min(microseconds, Double(Self.ceiling - 1))))
        }
        if missed > 0 { histogram.record(Self.ceiling, count: UInt64(missed)) }
        count = values.count
        self.missed = missed
        func at(_ percentile: Double) -> Double {
            guard histogram.totalCount > 0 else { return .nan }
            let value = histogram.valueAtPercentile(percentile)
            return histogram.valuesAreEquivalent(value, Self.ceiling) && missed > 0 ? .infinity : Double(value) / 1000
        }
        p50 = at(50)
        p90 = at(90)
        p99 = at(99)
        max = missed > 0 ? .infinity : (values.isEmpty ? .nan : Double(histogram.max) / 1000)
    }

    /// `count n, p50 … p90 … p99 … max … ms` (a percentile among the misses reads "miss").
    var line: String {
        func ms(_ value: Double, width: Int) -> String {
            value.isInfinite
                ? String(repeating: " ", count: Swift.max(0, width - 4)) + "miss"
                : String(format: "%\(width).2f", value)
        }
        return "\(String(format: "%6d", count)) frames"
            + (missed > 0 ? " + \(missed) missed" : "")
            + ", p50 \(ms(p50, width: 6)) ms, p90 \(ms(p90, width: 6)) ms, p99 \(ms(p99, width: 6)) ms, max \(ms(max, width: 7)) ms"
    }
}

/// The agent id of simulated agent `index` (`bench-0001`…), and back.
enum BenchAgent {
    static func id(_ index: Int) -> String { "bench-" + String(format: "%04d", index) }
    static func index(_ id: Substring) -> Int? {
        guard id.hasPrefix("bench-") else { return nil }
        return Int(id.dropFirst(6))
    }
    /// The agent index from a `dabba/v1/agents/{agent}/…` topic.
    static func index(topic: String) -> Int? {
        Topics.parseAgentTopic(topic).flatMap { index(Substring($0.agent)) }
    }
}

/// How a group of publisher threads ended: how many finished, and the first failure.
final class ThreadOutcome: Sendable {
    let finished = Atomic<Int>(0)
    private let failures = Mutex<[String]>([])

    func fail(_ error: any Error) { failures.withLock { $0.append("\(error)") } }
    var firstFailure: String? { failures.withLock { $0.first } }
}

/// A value shared between a thread and the task that waits for it.
final class Cell<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>
    init(_ value: Value) { storage = Mutex(value) }
    var value: Value {
        get { storage.withLock { $0 } }
        set { storage.withLock { $0 = newValue } }
    }
    /// Changes the value in place, under the lock.
    func update(_ body: (inout Value) -> Void) { storage.withLock { body(&$0) } }
}

/// Kilobytes as `/proc` reports them (KiB, 1,024 bytes) in decimal megabytes (MB = 10^6 bytes), the unit
/// BENCHMARKS.md and the targets use.
func megabytes(kB: Int) -> Double { Double(kB) * 1024 / 1_000_000 }

/// Another product of this build (`dabba-hub`, `dabba-sim`) next to the bench binary; throws saying how to build it.
func siblingBinary(_ name: String) throws -> String {
    let own = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    let sibling = own.deletingLastPathComponent().appendingPathComponent(name).path
    guard FileManager.default.isExecutableFile(atPath: sibling) else {
        throw BenchError("no \(name) next to \(own.path): `swift build -c release --product \(name)` first")
    }
    return sibling
}
