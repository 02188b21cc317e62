import DabbaTestSupport
import Foundation

/// Ingest on PostgreSQL, issue 16's comparison: the same stream into one hub on SQLite, then one, two and three hubs
/// (one ingest group, a pool each) on one PostgreSQL 15 the benchmark starts (`PostgresServer`, a fresh database
/// per run), each run against a raw libmosquitto subscriber on the same stream in the same run.
enum ClusterIngest {
    struct Row {
        var label: String
        var result: IngestBenchmark.Result
        var hubRate: Double { Double(result.fixes) / result.hubSeconds }
        var rawRate: Double { Double(result.fixes) / result.rawSeconds }
    }

    static func run(environment: [String: String], directory: TestDirectory) async throws {
        let fixes = try environmentInt("BENCH_CLUSTER_FIXES", default: 200_000)
        let most = try environmentInt("BENCH_CLUSTER_HUBS", default: 3)
        let agents = try environmentInt("BENCH_HUB_AGENTS", default: 200)
        let connections = try environmentInt("BENCH_HUB_CONNECTIONS", default: 10)
        say(
            "Ingest on PostgreSQL: \(fixes) fixes from \(agents) agents over \(connections) connections → mosquitto → hubs"
        )
        say("  (each row its own run with its own raw subscriber; PostgreSQL 15 on loopback, fresh database per run)")
        var rows: [Row] = []
        func measure(_ label: String, backend: IngestBenchmark.Backend, hubs: Int) async throws {
            let c = IngestBenchmark.Configuration(
                agents: agents, fixes: fixes, connections: connections, window: 100, hubOverrides: [:],
                backend: backend, hubs: hubs)
            let runDirectory = try TestDirectory("bench-cluster")
            defer { runDirectory.remove() }
            let loadBefore = loadAverage()
            let r = try await IngestBenchmark.run(c, directory: runDirectory)
            guard r.rowsStored == r.fixes, r.rejected == 0 else {
                throw BenchError("\(label): the store holds \(r.rowsStored) rows, expected \(r.fixes)")
            }
            guard r.acked == r.fixes, r.agentsNotFullyAcked == 0 else {
                throw BenchError("\(label): \(r.acked) of \(r.fixes) seqs acked to their agents")
            }
            let row = Row(label: label, result: r)
            rows.append(row)
            say(
                String(
                    format:
                        "  %@: hub %.0f fixes/s, raw %.0f fixes/s, ratio %.2f×; %d commits (mean %.0f fixes, %.2f ms); load %@ → %@",
                    label, row.hubRate, row.rawRate, row.hubRate / row.rawRate, r.commits,
                    Double(r.fixes) / Double(max(1, r.commits)),
                    1000 * r.commitSecondsTotal / Double(max(1, r.commits)),
                    loadBefore, loadAverage()))
        }
        try await measure("1 hub on SQLite", backend: .sqlite, hubs: 1)
        let server = try await PostgresServer.start()
        do {
            for hubs in 1...max(1, most) {
                let url = server.url(database: try await server.createDatabase()) + "?sslmode=disable"
                try await measure(
                    "\(hubs) hub\(hubs == 1 ? "" : "s") on PostgreSQL", backend: .postgres(url: url), hubs: hubs)
            }
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
        guard let sqlite = rows.first, rows.count > 1 else { return }
        let onePG = rows[1]
        say(String(format: "  1 hub: PostgreSQL / SQLite = %.2f× (fixes/s committed)", onePG.hubRate / sqlite.hubRate))
        for row in rows.dropFirst(2) {
            say(String(format: "  %@ / 1 hub on PostgreSQL = %.2f×", row.label, row.hubRate / onePG.hubRate))
        }
        BenchReport.record(
            figure: "hub ingest on PostgreSQL (1 hub) vs SQLite; 1…\(rows.count - 1) hubs vs raw", target: "— (ratios)",
            value: String(format: "%.2f× SQLite; ", onePG.hubRate / sqlite.hubRate)
                + rows.dropFirst().map { String(format: "%.2f×", $0.hubRate / $0.rawRate) }.joined(separator: " / ")
                + " raw",
            met: nil, command: "make bench BENCH_ONLY=hub BENCH_HUB_ONLY=cluster")
    }
}
