import DabbaTestSupport
import Foundation

/// Several real `dabba-hub serve` processes in one ingest group (`hubs`) on one database and one broker, each on an
/// HTTP port of its own (loopback); stopped by ``stop()``.
struct HubCluster {
    let hubs: [ManagedProcess]
    let ports: [Int]

    /// Starts `count` hubs with `extra` arguments and waits until each listens.
    static func start(
        count: Int, database: String, mqttPort: Int, directory: TestDirectory, extra: [String] = []
    ) async throws -> HubCluster {
        let ports = (0..<count).map { _ in FreePort.next() }
        let hubs = try ports.enumerated().map { n, port in
            try ManagedProcess(
                name: "hub-\(n)", executable: try BuiltProducts.path(of: "dabba-hub"),
                arguments: [
                    "serve", "--config", "/dev/null", "--database", Self.named(database, "hub-\(n)"), "--mqtt-port",
                    "\(mqttPort)",
                    "--http-port", "\(port)", "--log-level", "info", "--payment-provider", "test",
                    "--ingest-group", "hubs", "--commit-interval-ms", "20",
                ] + extra, logDirectory: directory.url)
        }
        let cluster = HubCluster(hubs: hubs, ports: ports)
        do {
            for port in ports { try await FreePort.waitUntilListening(port) }
        } catch {
            cluster.stop()
            throw error
        }
        return cluster
    }

    /// `database` with the hub's name as its PostgreSQL `application_name` (what `pg_stat_activity` shows).
    static func named(_ database: String, _ name: String) -> String {
        guard database.hasPrefix("postgres") else { return database }
        return database + (database.contains("?") ? "&" : "?") + "application_name=\(name)"
    }

    /// The hubs' latest output, for a failing expectation's message.
    func diagnostics() -> String { hubs.map { "\($0.name):\n\($0.output().suffix(3000))" }.joined() }

    /// The hubs' output without the lines that contain `noise` (a database outage logs a failed connection attempt
    /// many times a second), for a failing expectation's message.
    func diagnostics(without noise: String) -> String {
        hubs.map { hub in
            let lines = hub.output().split(separator: "\n").filter { !$0.contains(noise) }
            return "\(hub.name):\n" + lines.suffix(30).joined(separator: "\n") + "\n"
        }.joined()
    }

    /// `GET /metrics` of hub `n` (curl: a separate client).
    func metrics(_ n: Int) async throws -> String {
        let (status, output) = try await runToCompletion(
            "/usr/bin/curl", ["-s", "http://127.0.0.1:\(ports[n])/metrics"])
        guard status == 0 else { throw TestSupportError("curl /metrics: exit \(status)") }
        return output
    }

    /// The HTTP status of hub `n`'s `GET /health` (curl, 5 s at most; 0 when it did not answer).
    func health(_ n: Int) async -> Int {
        let answer = try? await runToCompletion(
            "/usr/bin/curl",
            ["-s", "-o", "/dev/null", "-m", "5", "-w", "%{http_code}", "http://127.0.0.1:\(ports[n])/health"])
        return answer.flatMap { Int($0.1.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
    }

    /// Every hub's `/health` status, in order.
    func healthOfEach() async -> [Int] {
        var statuses: [Int] = []
        for n in ports.indices { statuses.append(await health(n)) }
        return statuses
    }

    /// Each hub's `broker` in `GET /health` ("connected" or "disconnected"; "" when it did not answer), in order.
    func brokerStates() async -> [String] {
        var states: [String] = []
        for port in ports {
            let answer = try? await runToCompletion(
                "/usr/bin/curl", ["-s", "-m", "5", "http://127.0.0.1:\(port)/health"])
            let object = answer.flatMap { try? JSONSerialization.jsonObject(with: Data($0.1.utf8)) } as? [String: Any]
            states.append(object?["broker"] as? String ?? "")
        }
        return states
    }

    func stop() { for hub in hubs { hub.stop() } }
}
