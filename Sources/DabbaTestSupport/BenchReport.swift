import Foundation

/// One row of the benchmarks' summary table (BENCHMARKS.md's first table, and what `make bench` prints at its end):
/// a figure, its target, the value measured, the verdict, when, on which commit, the machine's load, and the command
/// that measures it.
public struct BenchRow: Codable, Sendable, Equatable {
    public var figure: String
    public var target: String
    public var value: String
    /// `met`, `NOT MET`, or `measured` (no target to meet).
    public var verdict: String
    /// UTC date, `YYYY-MM-DD`.
    public var date: String
    public var commit: String
    /// The 1-minute load average when the figure was taken.
    public var load: String
    public var command: String
}

/// The benchmarks' verdicts, collected across `dabba-bench-agent`, `dabba-bench-hub` and `dabba-bench-dispatch`:
/// each appends its rows as JSON lines to the file `BENCH_RESULTS` names (`make bench` sets it and prints the table
/// from it at the end; `Benchmarks/report.py`). Without `BENCH_RESULTS` rows are only printed.
public enum BenchReport {
    /// Records one figure: `met` nil means there is no target (the row says `measured`). Prints the row's verdict
    /// line, and appends the row to `BENCH_RESULTS` when set (a failure to write is printed, not fatal: the
    /// figures were printed already).
    public static func record(figure: String, target: String, value: String, met: Bool?, command: String) {
        let environment = ProcessInfo.processInfo.environment
        let row = BenchRow(
            figure: figure, target: target, value: value, verdict: met.map { $0 ? "met" : "NOT MET" } ?? "measured",
            date: String(ISO8601DateFormatter().string(from: Date()).prefix(10)),
            commit: environment["BENCH_COMMIT"] ?? "—", load: loadAverage(), command: command)
        print("  verdict: \(row.verdict) — \(figure): \(value) (target \(target))")
        guard let path = environment["BENCH_RESULTS"], !path.isEmpty else { return }
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            var line = try encoder.encode(row)
            line.append(UInt8(ascii: "\n"))
            if !FileManager.default.fileExists(atPath: path) {
                FileManager.default.createFile(atPath: path, contents: nil)
            }
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: line)
        } catch {
            print("  (could not append the row to \(path): \(error))")
        }
    }
}

/// `/proc/loadavg`'s 1-minute figure: other work on the machine while a benchmark ran (these runs share two cores).
public func loadAverage() -> String {
    guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return "?" }
    return String(text.split(separator: " ").first ?? "?")
}

/// The value of the unlabelled series `name` in a Prometheus text exposition (nil when absent): what the tests and
/// the benchmarks read from a hub's `/metrics`.
public func metricValue(_ text: String, _ name: String) -> Double? {
    for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
        return Double(line.dropFirst(name.count + 1))
    }
    return nil
}
