import DabbaTestSupport
import Foundation

/// Customers' feeds with the cluster relay in the path (issue 16): the same customers, agents and schedule against
/// one hub on PostgreSQL, then against two or more hubs in one ingest group on it, every customer connected to the
/// first hub — which ingests only its share of the fixes and hears the rest from the other hubs over the relay. Each
/// run has its own raw libmosquitto subscriber on the same stream as its baseline, and a fresh database.
enum RelayFeeds {
    static func run(environment: [String: String], directory: TestDirectory) async throws {
        let customers = try environmentInt("BENCH_RELAY_CUSTOMERS", default: 2_000)
        let agents = try environmentInt("BENCH_RELAY_AGENTS", default: 200)
        let seconds = try environmentInt("BENCH_RELAY_SECONDS", default: 30)
        let most = try environmentInt("BENCH_RELAY_HUBS", default: 2)
        let connections = try environmentInt("BENCH_HUB_CONNECTIONS", default: 10)
        say(
            "Customers' feeds through the cluster relay: \(customers) WebSockets on hub A's /v1/orders/{id}/live, "
                + "\(agents) agents × 1 Hz for \(seconds) s; 1 hub, then 1…\(most) hubs in one ingest group, on PostgreSQL"
        )
        say(
            "  (publish instant → each customer's position frame, one clock; raw MQTT subscriber per run as the baseline)"
        )
        let server = try await PostgresServer.start()
        var rows: [(hubs: Int, result: CustomersBenchmark.Result)] = []
        do {
            for hubs in 1...max(1, most) {
                let url = server.url(database: try await server.createDatabase()) + "?sslmode=disable"
                let c = CustomersBenchmark.Configuration(
                    customers: customers, agents: agents, seconds: seconds, connections: connections,
                    connectConcurrency: 100, backend: .postgres(url: url), hubs: hubs)
                let runDirectory = try TestDirectory("bench-relay")
                defer { runDirectory.remove() }
                let loadBefore = loadAverage()
                let r = try await CustomersBenchmark.run(c, directory: runDirectory)
                rows.append((hubs, r))
                let total = max(1, r.committedByHub.reduce(0, +))
                let relayedShare = 100 * Double(total - (r.committedByHub.first ?? 0)) / Double(total)
                say(
                    "  \(hubs) hub\(hubs == 1 ? "" : "s"): customers' frames \(r.hub.line); raw \(r.raw.line)")
                say(
                    String(
                        format:
                            "    p99 − raw p99 = %.2f ms; committed per hub %@ (%.0f %% reached hub A by the relay); "
                            + "frames %d of %d, merged %d, lost %d, repeats %d; hub A CPU %.1f s; load %@ → %@",
                        r.hub.p99 - r.raw.p99, "\(r.committedByHub)", relayedShare, r.received, r.expectedFrames,
                        r.coalesced, r.lost, r.repeats, r.hubCPUSeconds, loadBefore, loadAverage()))
                guard r.failedConnections == 0, r.lost == 0 else {
                    throw BenchError(
                        "\(hubs) hubs: \(r.failedConnections) failed connections, \(r.lost) frames lost")
                }
            }
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
        guard let one = rows.first else { return }
        if let last = rows.last, last.hubs > 1 {
            BenchReport.record(
                figure: "customers' feeds through the cluster relay (\(customers) on hub A, \(last.hubs) hubs), p99",
                target: "≤ 100 ms",
                value: String(format: "%.2f ms (one hub: %.2f ms, same run)", last.result.hub.p99, one.result.hub.p99),
                met: last.result.hub.p99 <= 100, command: "make bench BENCH_ONLY=hub BENCH_HUB_ONLY=relay")
        }
        for row in rows.dropFirst() {
            say(
                String(
                    format: "  %d hubs / 1 hub: p50 %.2f×, p99 %.2f× (customers' frames, same customers and schedule)",
                    row.hubs, row.result.hub.p50 / one.result.hub.p50, row.result.hub.p99 / one.result.hub.p99))
        }
    }
}
