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

    /// Deadline for fixes replayed by gpsfake to reach the acker: gpsfake's no-fix lead-in (10 s, see
    /// ``GpsFake``) comes before the route, so this is the lead-in plus the generous deadline.
    static let gpsDeadline = TestDeadline.generous + .seconds(10)

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
        guard await eventually({ acker.isSubscribed }) else {
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
    func status() async throws -> AgentStatus? {
        let (_, out) = try await agent.status()
        guard let line = out.split(separator: "\n").last else { return nil }
        return try? PayloadCoding.decode(ControlResponse.self, from: Array(line.utf8)).status
    }

    /// Waits (bounded) until the agent's outbox is empty.
    func waitForEmptyOutbox(timeout: Duration = TestDeadline.generous) async -> Bool {
        await eventually(timeout: timeout, interval: .milliseconds(200)) {
            (try? await self.status())??.outboxDepth == 0
        }
    }

    /// Stops the agent (SIGTERM) and waits until everything it ever published has reached the acker, so that a check
    /// of what the acker received afterwards sees all there will ever be: "nothing more arrives" without a sleep.
    ///
    /// The agent's last message is its offline state (published on SIGTERM before the clean disconnect, or the
    /// broker's Will if it had to be killed). Once a subscriber has it, the broker has handled everything the agent
    /// sent before it and queued it for the acker; a sentinel fix published afterwards is queued for the acker behind
    /// all of it, so once the acker has the sentinel it has everything the agent sent.
    func stopAgentAndFlush() async throws {
        let agentID = agent.agentID
        let state = try await TestSubscriber.start(port: broker.port, filter: Topics.state(agent: agentID))
        func online(_ message: MQTTMessage) -> Bool? {
            try? PayloadCoding.decode(AgentState.self, from: message.payload).online
        }
        // The running agent's retained state says online; an offline one after it can only come from this stop.
        guard await eventually({ state.messages.contains { online($0) == true } }) else {
            await state.stop()
            throw TestSupportError("the agent's online state never arrived")
        }
        let seen = state.messages.count
        agent.stop()
        guard await eventually({ state.messages[seen...].contains { online($0) == false } }) else {
            await state.stop()
            throw TestSupportError("the agent's offline state never arrived after SIGTERM")
        }
        let sentinel = "flush-sentinel"
        let fix = Fix(agent: sentinel, seq: 1, time: Timestamp.format(milliseconds: Self.routeStart()), lat: 0, lon: 0)
        try await state.client.publishAndWait(
            MQTTMessage(topic: Topics.fix(agent: sentinel), payload: fix.jsonBytes(), qos: .atLeastOnce))
        let flushed = await eventually { acker.seqs(of: sentinel).contains(1) }
        await state.stop()
        guard flushed else { throw TestSupportError("the acker never got the sentinel published after the agent") }
    }

    /// Seqs still stored in the agent's outbox file.
    func outboxSeqs() async throws -> Set<Int64> {
        let (status, out) = try await runToCompletion("/usr/bin/sqlite3", [agent.outbox, "SELECT seq FROM outbox"])
        guard status == 0 else { throw TestSupportError("sqlite3 failed: \(out)") }
        return Set(out.split(separator: "\n").compactMap { Int64($0) })
    }

    func integrityCheck() async throws -> String {
        try await runToCompletion("/usr/bin/sqlite3", [agent.outbox, "PRAGMA integrity_check"]).1.trimmingCharacters(
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

    /// On failure, what the agent and gpsfake said.
    func diagnostics() -> String {
        "agent log:\n" + agent.output().suffix(4000) + "\ngpsfake:\n"
            + (gpsfake?.output().suffix(1500) ?? "not started")
    }
}
