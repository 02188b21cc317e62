import DabbaAgent
import DabbaMQTT
import DabbaProtocol
import DabbaSim
import DabbaTestSupport
import Foundation
import Logging
import Testing

/// Real mosquitto + real gpsd (gpsfake) + the real `dabba-agent` binary + an in-process acker following the
/// ack contract, all on loopback ports chosen here.
final class AgentHarness: @unchecked Sendable {
    let directory: TestDirectory
    let broker: MosquittoBroker
    let acker: Acker
    let ackerTask: Task<Void, Never>
    var gpsfake: GpsFake?
    let gpsdPort: Int
    let agent: AgentProcess
    let route: [RoutePoint]

    /// Route times in whole seconds an hour ago (gpsd is happy with recent times).
    static func routeStart() -> Int64 { (Int64(Date().timeIntervalSince1970) - 3600) * 1000 }

    init(
        points: Int, agentID: String = "a-1", ack: Bool = true, agentArguments: [String] = [],
        environment: [String: String] = [:]
    ) async throws {
        directory = try TestDirectory("agent-it")
        broker = try await MosquittoBroker.started(directory: directory)
        let acker = Acker(
            host: "127.0.0.1", port: broker.port, clientID: "acker-\(UUID().uuidString.prefix(6))", ack: ack,
            logger: Logger(label: "acker", factory: { _ in SwiftLogNoOpLogHandler() }))
        self.acker = acker
        ackerTask = Task { try? await acker.run() }
        route = Route.loop(count: points, start: Self.routeStart())
        gpsdPort = FreePort.next()
        agent = AgentProcess(
            agentID: agentID, directory: directory, mqttPort: broker.port, gpsdPort: gpsdPort,
            extraArguments: agentArguments, environment: environment)
        guard await eventually(timeout: .seconds(10), { acker.isSubscribed }) else {
            throw TestSupportError("acker did not subscribe")
        }
    }

    /// Starts gpsfake replaying `points` (default: the whole route) at `cycle` seconds per sentence.
    func startGPS(_ points: ArraySlice<RoutePoint>? = nil, cycle: Double = 0.1) async throws {
        let fake = try GpsFake(
            route: Array(points ?? route[...]), directory: directory, port: gpsdPort, cycle: cycle, wait: 2,
            name: "gpsfake-\(UUID().uuidString.prefix(4))")
        try await fake.start()
        gpsfake = fake
    }

    /// Distinct seqs the acker has seen from the agent.
    var received: Set<Int64> { acker.seqs(of: agent.agentID) }

    /// The agent's status over its control socket.
    func status() throws -> AgentStatus? {
        let (_, out) = try agent.status()
        guard let line = out.split(separator: "\n").last else { return nil }
        return try? PayloadCoding.decode(ControlResponse.self, from: Array(line.utf8)).status
    }

    /// Waits (bounded) until the agent's outbox is empty.
    func waitForEmptyOutbox(timeout: Duration = .seconds(30)) async -> Bool {
        await eventually(timeout: timeout, interval: .milliseconds(200)) { (try? self.status())??.outboxDepth == 0 }
    }

    /// Seqs still stored in the agent's outbox file.
    func outboxSeqs() throws -> Set<Int64> {
        let (status, out) = try runToCompletion("/usr/bin/sqlite3", [agent.outbox, "SELECT seq FROM outbox"])
        guard status == 0 else { throw TestSupportError("sqlite3 failed: \(out)") }
        return Set(out.split(separator: "\n").compactMap { Int64($0) })
    }

    func integrityCheck() throws -> String {
        try runToCompletion("/usr/bin/sqlite3", [agent.outbox, "PRAGMA integrity_check"]).1.trimmingCharacters(
            in: .whitespacesAndNewlines)
    }

    /// Stops everything the harness started (synchronously, so it can run from `defer`).
    func shutdown() {
        agent.stop()
        gpsfake?.stop()
        acker.shutdown()
        broker.stop()
        directory.remove()
    }

    /// On failure, what the agent said.
    func diagnostics() -> String { "agent log:\n" + agent.output().suffix(4000) }
}
