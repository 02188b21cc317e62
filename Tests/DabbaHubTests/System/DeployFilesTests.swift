import DabbaTestSupport
import Foundation
import Testing

/// `hub/deploy/`: the Prometheus alert rules and the Grafana dashboard ship loadable as they are. The rules are
/// checked and unit-tested by Prometheus's own `promtool` (from Debian's `prometheus` package, unpacked by
/// `make deps` into `.build/tools/`), and every metric either file names is one the hub exports.
@Suite struct DeployFilesTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let deploy = root.appendingPathComponent("hub/deploy")

    /// promtool: `.build/tools/promtool` (what `make deps` unpacks) or on the PATH.
    static func promtool() throws -> String {
        let unpacked = root.appendingPathComponent(".build/tools/promtool").path
        if FileManager.default.isExecutableFile(atPath: unpacked) { return unpacked }
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let path = "\(directory)/promtool"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        throw TestSupportError("promtool not found: `make deps` unpacks it into .build/tools/")
    }

    /// The metric names the hub registers (every `label: "dabba_…"` in its metrics files).
    static func exportedMetrics() throws -> Set<String> {
        let directory = root.appendingPathComponent("Sources/DabbaHub/App")
        var names = Set<String>()
        for file in try FileManager.default.contentsOfDirectory(atPath: directory.path)
        where file.hasPrefix("HubMetrics") {
            let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            names.formUnion(matches(of: #"label: "(dabba_[a-z_]+)""#, in: text))
        }
        return names
    }

    /// The first capture group of every match of `pattern` in `text`.
    static func matches(of pattern: String, in text: String) -> [String] {
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return [] }
        let range = NSRange(text.startIndex..., in: text)
        return regex.matches(in: text, range: range).compactMap { match in
            Range(match.range(at: 1), in: text).map { String(text[$0]) }
        }
    }

    /// Every `dabba_…` series `text` names, with a histogram's `_bucket`/`_sum`/`_count` taken back to its name.
    static func referencedMetrics(_ text: String) -> Set<String> {
        Set(
            matches(of: #"\b(dabba_[a-z_]+)"#, in: text).map { name in
                for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
                    return String(name.dropLast(suffix.count))
                }
                return name
            })
    }

    @Test func theAlertRulesAreValidAndTheirUnitTestsPass() async throws {
        let promtool = try Self.promtool()
        let rules = Self.deploy.appendingPathComponent("prometheus-rules.yml").path
        let checked = try await runToCompletion(promtool, ["check", "rules", rules])
        #expect(checked.0 == 0 && checked.1.contains("SUCCESS"), "\(checked.1)")
        // Run from hub/deploy, where the test file names the rules file.
        let tested = try await runToCompletion(
            "/bin/sh", ["-c", "cd '\(Self.deploy.path)' && '\(promtool)' test rules prometheus-rules.test.yml 2>&1"])
        #expect(tested.0 == 0 && tested.1.contains("SUCCESS"), "\(tested.1)")
    }

    @Test func theRulesAndTheDashboardNameOnlyMetricsTheHubExports() throws {
        let exported = try Self.exportedMetrics()
        #expect(exported.contains("dabba_ingest_committed_total") && exported.contains("dabba_webhook_backlog"))
        for file in ["prometheus-rules.yml", "prometheus-rules.test.yml", "grafana-dashboard.json"] {
            let text = try String(contentsOf: Self.deploy.appendingPathComponent(file), encoding: .utf8)
            let referenced = Self.referencedMetrics(text)
            #expect(referenced.count >= 8, "\(file): \(referenced.sorted())")
            let unknown = referenced.subtracting(exported)
            #expect(unknown.isEmpty, "\(file) names metrics the hub does not export: \(unknown.sorted())")
        }
    }

    @Test func theDashboardIsGrafanaJSONWithAQueryOnEveryPanel() throws {
        let data = try Data(contentsOf: Self.deploy.appendingPathComponent("grafana-dashboard.json"))
        let dashboard = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(dashboard["uid"] as? String == "dabba-hub" && dashboard["title"] as? String == "Dabba hub")
        // The data source is chosen on import (a variable), not a uid from someone else's Grafana.
        let variables = ((dashboard["templating"] as? [String: Any])?["list"] as? [[String: Any]]) ?? []
        #expect(variables.contains { $0["name"] as? String == "datasource" && $0["query"] as? String == "prometheus" })
        let panels = try #require(dashboard["panels"] as? [[String: Any]])
        #expect(panels.count >= 12)
        var ids = Set<Int>()
        for panel in panels {
            let title = panel["title"] as? String ?? "?"
            #expect(ids.insert(panel["id"] as? Int ?? -1).inserted, "duplicate id: \(title)")
            #expect(panel["gridPos"] is [String: Any], "\(title)")
            let targets = panel["targets"] as? [[String: Any]] ?? []
            #expect(!targets.isEmpty && targets.allSatisfy { ($0["expr"] as? String)?.contains("dabba_") == true })
            let datasource = panel["datasource"] as? [String: Any]
            #expect(datasource?["uid"] as? String == "${datasource}", "\(title)")
        }
        // The health panel's figures (issue 17): ingest, agents online, sockets, dispatch, webhooks, payments.
        let text = String(decoding: data, as: UTF8.self)
        for figure in [
            "dabba_ingest_committed_total", "dabba_ingest_rejected_total", "dabba_agents_online",
            "dabba_ws_connections",
            "dabba_dispatch_queue_orders", "dabba_dispatch_queue_oldest_seconds", "dabba_webhook_backlog",
            "dabba_payment_reactor_lag_seconds",
        ] {
            #expect(text.contains(figure), "\(figure) missing from the dashboard")
        }
    }
}
