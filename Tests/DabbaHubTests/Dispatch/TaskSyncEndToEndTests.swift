import DabbaAgent
import DabbaCore
import DabbaProtocol
import DabbaTestSupport
import Foundation
@testable import HubSQLite
import HummingbirdBcrypt
import Logging
import Testing

@testable import DabbaHub

/// Tasks survive a reboot: real mosquitto, the real `dabba-hub serve` and the real `dabba-agent run`. While the
/// device is down (its clean MQTT session drops the task messages meant for it) one of its orders is cancelled and
/// another goes back to dispatch and to another agent; after the restart the device shows both as cancelled, keeps
/// the order it has picked up, and holds no stale assignment.
@Suite(.serialized) struct TaskSyncEndToEndTests {
    @Test func ordersCancelledAndReassignedWhileTheDeviceRebootsAreWithdrawnOnIt() async throws {
        let directory = try TestDirectory("task-sync-e2e")
        defer { directory.remove() }
        let broker = try await MosquittoBroker.started(directory: directory)
        defer { broker.stop() }
        let database = directory.path("hub.db")
        var keepTotal: Int64 = 0
        do {
            var logger = Logger(label: "setup")
            logger.logLevel = .critical
            let store = try SQLiteHubStore(path: database, logger: logger)
            defer { store.close() }
            let customers = try await seedPaymentWorld(store, customers: 1, agents: ["a-1", "a-2"])
            _ = try await store.createUser(
                email: "op@example.com", passwordHash: Bcrypt.hash("password-1", cost: 4), name: "Op",
                role: .operator, agentID: nil)
            // Operators assign only to agents on shift and online: a-1's device says it is online once it runs,
            // a-2 has no device here and is online by its last state.
            for agent in ["a-1", "a-2"] { try await store.setShift(agent: agent, onShift: true) }
            try await store.updateState(AgentState(agent: "a-2", online: true), at: wallClockMilliseconds())
            let world = PaymentWorld(store: store)
            for id in ["o-cancel", "o-move", "o-keep"] {
                keepTotal = try await world.order(id, customer: customers[0], method: .cod).total
                try await world.move(id, [.accept])
            }
        }
        // Rounds every 0.2 s; a device offline for 1 s gives back the orders it has not picked up.
        let httpPort = FreePort.next()
        let hub = try ManagedProcess(
            name: "hub", executable: try BuiltProducts.path(of: "dabba-hub"),
            arguments: [
                "serve", "--config", "/dev/null", "--database", "sqlite:\(database)", "--mqtt-port", "\(broker.port)",
                "--http-port", "\(httpPort)", "--commit-interval-ms", "20", "--dispatch-interval", "0.2",
                "--dispatch-offline-grace", "1", "--agent-capacity", "3", "--log-level", "info",
                "--payment-provider", "test",
            ], logDirectory: directory.url)
        defer { hub.stop() }
        try await FreePort.waitUntilListening(httpPort)
        let agent = AgentProcess(
            agentID: "a-1", directory: directory, mqttPort: broker.port, gpsdPort: FreePort.next())
        defer { agent.stop() }
        func diagnostics() -> String {
            "hub:\n\(hub.output().suffix(3000))\nagent:\n\(agent.output().suffix(3000))"
        }

        func http(_ method: String, _ path: String, token: String? = nil, _ body: String = "") throws
            -> (Int, [String: Any])
        {
            let (status, data) = try LoopbackHTTP.exchange(
                port: httpPort, method: method, path: path, body: Data(body.utf8),
                headers: token.map { ["Authorization: Bearer \($0)"] } ?? [], timeout: 30)
            return (status, (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:])
        }
        let (loggedIn, session) = try http(
            "POST", "/v1/auth/login", #"{"email":"op@example.com","password":"password-1"}"#)
        let op = try #require(session["accessToken"] as? String, "login: \(loggedIn) \(session)")
        func order(_ id: String) -> (status: String?, agent: String?) {
            guard let (_, view) = try? http("GET", "/v1/orders/\(id)", token: op) else { return (nil, nil) }
            return (view["status"] as? String, view["agent"] as? String)
        }
        func act(_ action: String, _ id: String, _ body: String) throws {
            let (status, answer) = try http("POST", "/v1/orders/\(id)/\(action)", token: op, body)
            guard status == 200 else { throw TestSupportError("\(action) \(id): \(status) \(answer)") }
        }
        let cli = ["--config", "/dev/null", "--control-socket", agent.controlSocket]
        /// The device's tasks (`dabba-agent tasks --json`), order → status; empty when the daemon does not answer.
        func deviceTasks() async -> [String: String] {
            guard let (_, out) = try? await AgentProcess.runCLI(["tasks", "--json"] + cli),
                let line = out.split(separator: "\n").last,
                let response = try? PayloadCoding.decode(ControlResponse.self, from: Array(line.utf8))
            else { return [:] }
            return Dictionary((response.tasks ?? []).map { ($0.task.order, $0.status) }) { a, _ in a }
        }

        // Assigned while the device is up: the task messages arrive live. The agent picks one order up.
        func connected() async -> Bool {
            guard let (_, out) = try? await agent.status(), let line = out.split(separator: "\n").last else {
                return false
            }
            return (try? PayloadCoding.decode(ControlResponse.self, from: Array(line.utf8)))?.status?.broker
                == "connected"
        }
        try agent.start()
        #expect(await eventually { await connected() }, "\(diagnostics())")
        for id in ["o-cancel", "o-move", "o-keep"] { try act("assign", id, #"{"agent":"a-1"}"#) }
        let assigned = ["o-cancel": "assigned", "o-move": "assigned", "o-keep": "assigned"]
        let reachedAssigned = await eventually { await deviceTasks() == assigned }
        let listedAssigned = await deviceTasks()
        #expect(reachedAssigned, "\(listedAssigned)\n\(diagnostics())")
        for action in ["accept", "pickup"] {
            let (status, output) = try await AgentProcess.runCLI([action, "o-keep"] + cli)
            #expect(status == 0, "\(action): \(output)")
        }
        #expect(await eventually { order("o-keep").status == "picked_up" }, "\(diagnostics())")

        // The device reboots. Past the offline grace its unpicked orders go back to dispatch; then the operator
        // cancels one and gives the other to a-2. Every task message about it is lost with its clean session.
        agent.stop()
        #expect(
            await eventually { order("o-cancel") == ("confirmed", nil) && order("o-move") == ("confirmed", nil) },
            "\(order("o-cancel")) \(order("o-move"))\n\(diagnostics())")
        try act("cancel", "o-cancel", #"{"reason":"the customer called"}"#)
        try act("assign", "o-move", #"{"agent":"a-2"}"#)
        #expect(order("o-cancel").status == "cancelled" && order("o-move") == ("assigned", "a-2"))
        #expect(order("o-keep") == ("picked_up", "a-1"))
        // Still stale in the device's store while it is down.
        let (_, stored) = try await runToCompletion(
            "/usr/bin/sqlite3", [agent.outbox, "SELECT order_id || '=' || status FROM tasks ORDER BY order_id"])
        #expect(stored.split(separator: "\n") == ["o-cancel=assigned", "o-keep=picked_up", "o-move=assigned"])

        // Back up: the sync on connect withdraws both and keeps the picked-up order.
        try agent.start()
        let synced = ["o-cancel": "cancelled", "o-move": "cancelled", "o-keep": "picked_up"]
        let reachedSynced = await eventually { await deviceTasks() == synced }
        let listedSynced = await deviceTasks()
        #expect(reachedSynced, "\(listedSynced)\n\(diagnostics())")
        let open = await deviceTasks().filter { ["offered", "assigned", "accepted"].contains($0.value) }
        #expect(open.isEmpty, "stale: \(open)")
        #expect(agent.output().contains("Task withdrawn while offline"), "\(diagnostics())")
        // And the picked-up order still completes from the device.
        let (delivered, output) = try await AgentProcess.runCLI(
            ["deliver", "o-keep", "--cash-collected", "\(keepTotal)"] + cli)
        #expect(delivered == 0, "\(output)")
        #expect(await eventually { order("o-keep").status == "delivered" }, "\(diagnostics())")
    }
}
