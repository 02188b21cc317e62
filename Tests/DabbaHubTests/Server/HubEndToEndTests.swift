import DabbaAgent
import DabbaCore
import DabbaProtocol
import DabbaSim
import DabbaTestSupport
import Foundation
@testable import HubSQLite
import Logging
import Testing

@testable import DabbaHub

/// gpsfake → the real `dabba-agent` → mosquitto → the real `dabba-hub serve`, on loopback ports chosen here.
final class HubEndToEnd: @unchecked Sendable {
    let directory: TestDirectory
    let broker: MosquittoBroker
    let database: String
    let httpPort = FreePort.next()
    let gpsdPort = FreePort.next()
    let agent: AgentProcess
    var hub: ManagedProcess?
    var gps: GpsFake?
    let route: [RoutePoint]

    init(points: Int, agentArguments: [String] = []) async throws {
        directory = try TestDirectory("hub-e2e")
        broker = try await MosquittoBroker.started(directory: directory)
        database = directory.path("hub.db")
        let store = try SQLiteHubStore(path: database, logger: Logger(label: "setup"))
        _ = try await store.createAgent(id: "a-1", name: "Test agent")
        store.close()
        route = Route.loop(count: points, start: (Int64(Date().timeIntervalSince1970) - 3600) * 1000)
        agent = AgentProcess(
            directory: directory, mqttPort: broker.port, gpsdPort: gpsdPort, extraArguments: agentArguments)
    }

    func startHub() throws {
        hub = try ManagedProcess(
            name: "hub", executable: try BuiltProducts.path(of: "dabba-hub"),
            arguments: [
                "serve", "--config", "/dev/null", "--database", "sqlite:\(database)", "--mqtt-port", "\(broker.port)",
                "--http-port", "\(httpPort)", "--commit-interval-ms", "20", "--log-level", "info", "--payment-provider",
                "test",
            ], logDirectory: directory.url)
    }

    func startGPS(cycle: Double = 0.1) async throws {
        let fake = try GpsFake(route: route, directory: directory, port: gpsdPort, cycle: cycle, wait: 2)
        try await fake.start()
        gps = fake
    }

    /// Seqs stored by the hub (read with the sqlite3 tool: a separate reader, as an operator would).
    func storedSeqs() async throws -> [Int64] {
        let (status, out) = try await runToCompletion(
            "/usr/bin/sqlite3", [database, "SELECT seq FROM positions WHERE agent = 'a-1' ORDER BY seq"])
        guard status == 0 else { throw TestSupportError("sqlite3: \(out)") }
        return out.split(separator: "\n").compactMap { Int64($0) }
    }

    func agentStatus() async -> AgentStatus? {
        guard let (_, out) = try? await agent.status(), let line = out.split(separator: "\n").last else { return nil }
        return try? PayloadCoding.decode(ControlResponse.self, from: Array(line.utf8)).status
    }

    func diagnostics() -> String {
        "hub:\n\(hub?.output().suffix(3000) ?? "")\nagent:\n\(agent.output().suffix(3000))"
    }

    func shutdown() {
        agent.stop()
        gps?.stop()
        hub?.stop()
        broker.stop()
        directory.remove()
    }
}

@Suite(.serialized) struct HubEndToEndTests {
    @Test func everyFixIsStoredOnceAndTheAgentsOutboxEmpties() async throws {
        let n = 30
        let e = try await HubEndToEnd(points: n)
        defer { e.shutdown() }
        try e.startHub()
        try await FreePort.waitUntilListening(e.httpPort)
        try e.agent.start()
        try await e.startGPS()
        // gpsfake's pace: a 10 s lead-in, then 30 fixes at 5 per second; the deadline adds the generous slack.
        let stored = await eventually(timeout: .seconds(16) + TestDeadline.generous, interval: .milliseconds(250)) {
            (try? await e.storedSeqs().count) == n
        }
        #expect(stored, "\(e.diagnostics())")
        #expect(try await e.storedSeqs() == Array(1...Int64(n)))
        #expect(await eventually { await e.agentStatus()?.outboxDepth == 0 }, "\(e.diagnostics())")
        // The REST view agrees: the latest position is the last fix of the route.
        let (_, health) = try await runToCompletion("/usr/bin/curl", ["-s", "http://127.0.0.1:\(e.httpPort)/health"])
        #expect(health.contains("\"database\""))
        // The WAL is copied into the database file in the background (one checkpoint a second), and counted.
        let checkpointed = await eventually {
            guard
                let (_, metrics) = try? await runToCompletion(
                    "/usr/bin/curl", ["-s", "http://127.0.0.1:\(e.httpPort)/metrics"])
            else { return false }
            return metrics.split(separator: "\n").contains {
                $0.hasPrefix(#"dabba_sqlite_checkpoints_total{result="copied"}"#)
                    && Int($0.split(separator: " ").last ?? "") ?? 0 >= 1
            }
        }
        #expect(checkpointed, "\(e.diagnostics())")
    }

    @Test func hubKilledRepeatedlyDuringIngestLosesAndDuplicatesNothing() async throws {
        let n = 300
        let e = try await HubEndToEnd(points: n, agentArguments: ["--ack-timeout", "2"])
        defer { e.shutdown() }
        try e.startHub()
        try await FreePort.waitUntilListening(e.httpPort)
        try e.agent.start()
        try await e.startGPS(cycle: 0.05)  // 10 fixes per second, after a 10 s lead-in
        // Each kill lands while the hub is ingesting: once this run of the hub has stored more rows (an observable
        // event, not a guess at how long starting takes), at a random row count. A loaded machine only slows the
        // rounds down; once the route is over and everything is stored, the remaining rounds end at once.
        var midway = 0
        for _ in 1...10 {
            let before = (try? await e.storedSeqs().count) ?? 0
            let more = Int.random(in: 1...15)
            let progressed = await eventually(
                timeout: .seconds(10) + TestDeadline.generous, interval: .milliseconds(100)
            ) {
                (try? await e.storedSeqs().count) ?? 0 >= min(before + more, n)
            }
            guard progressed else { break }  // the checks below report what is missing
            if (try? await e.storedSeqs().count) ?? 0 >= n { break }
            e.hub?.kill9()
            midway += 1
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...300)))  // down for a while (not a wait)
            try e.startHub()
        }
        #expect(midway > 0, "no kill landed while the hub was ingesting")
        // Let the route end and every row be acked.
        let drained = await eventually(timeout: .seconds(120), interval: .milliseconds(500)) {
            guard e.gps?.isRunning == false else { return false }
            return await e.agentStatus()?.outboxDepth == 0
        }
        #expect(drained, "\(e.diagnostics())")
        let last = try #require(await e.agentStatus()).lastSeq
        #expect(last > 100)
        // Stored exactly once each (the primary key would refuse a second row; the count proves none is missing).
        #expect(try await e.storedSeqs() == Array(1...last))
    }
}
