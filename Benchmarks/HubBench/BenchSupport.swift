import DabbaCore
import DabbaProtocol
import Foundation
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

/// Latency percentiles of a sample, in milliseconds (nearest rank).
struct LatencySummary {
    var count: Int
    var p50: Double
    var p90: Double
    var p99: Double
    var max: Double

    init(milliseconds values: [Double]) {
        let sorted = values.sorted()
        count = sorted.count
        func rank(_ p: Double) -> Double {
            guard !sorted.isEmpty else { return .nan }
            let index = Int((p * Double(sorted.count)).rounded(.up)) - 1
            return sorted[Swift.max(0, Swift.min(sorted.count - 1, index))]
        }
        p50 = rank(0.50)
        p90 = rank(0.90)
        p99 = rank(0.99)
        max = sorted.last ?? .nan
    }

    /// `count n, p50 … p90 … p99 … max … ms`.
    var line: String {
        String(format: "%6d frames, p50 %6.2f ms, p90 %6.2f ms, p99 %6.2f ms, max %7.2f ms", count, p50, p90, p99, max)
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

/// `/proc/loadavg`'s 1-minute figure: other work on the machine while a benchmark ran (these runs share two cores).
func loadAverage() -> String {
    guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return "?" }
    return String(text.split(separator: " ").first ?? "?")
}

/// The value of the unlabelled series `name` in a Prometheus text exposition (nil when absent).
func metricSample(_ text: String, _ name: String) -> Double? {
    for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
        return Double(line.dropFirst(name.count + 1))
    }
    return nil
}
