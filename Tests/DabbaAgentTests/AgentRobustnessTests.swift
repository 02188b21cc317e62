import DabbaAgent
import DabbaMQTT
import DabbaProtocol
import DabbaTestSupport
import Foundation
import Testing

@Suite(.serialized) struct AgentRobustnessTests {
    @Test(arguments: [
        (["--mqtt-port", "seventy"], "mqtt-port"),
        (["--mqtt-port", "70000"], "mqtt-port"),
        (["--agent-id", "no spaces allowed"], "agent-id"),
        (["--outbox-sync", "sometimes"], "outbox-sync"),
        (["--backlog-window", "0"], "backlog-window"),
        (["--mqtt-password-file", "/nonexistent/pw"], "mqtt-password-file"),
    ])
    func badConfigurationExitsTwoNamingTheKeyBeforeTouchingTheOutbox(arguments: [String], key: String) async throws {
        let dir = try TestDirectory()
        defer { dir.remove() }
        let outbox = dir.path("outbox.db")
        let (status, output) = try await AgentProcess.runCLI(
            ["run", "--config", "/dev/null", "--outbox", outbox, "--control-socket", dir.path("c.sock")] + arguments)
        #expect(status == 2, "\(output)")
        #expect(output.contains(key), "\(output)")
        #expect(!FileManager.default.fileExists(atPath: outbox))
    }

    @Test func badConfigFileLineAndEnvironmentValueAreNamed() async throws {
        let dir = try TestDirectory()
        defer { dir.remove() }
        let file = dir.path("agent.default")
        try "DABBA_GPSD_PORT=abc\n".write(toFile: file, atomically: true, encoding: .utf8)
        let (status, output) = try await AgentProcess.runCLI(["run", "--config", file, "--outbox", dir.path("o.db")])
        #expect(status == 2)
        #expect(output.contains("gpsd-port") && output.contains(file), "\(output)")

        var environment = ProcessInfo.processInfo.environment
        environment["DABBA_STATE_INTERVAL"] = "-1"
        let (envStatus, envOutput) = try await AgentProcess.runCLI(
            ["run", "--config", "/dev/null", "--outbox", dir.path("o.db")], environment: environment)
        #expect(envStatus == 2)
        #expect(envOutput.contains("DABBA_STATE_INTERVAL"), "\(envOutput)")
    }

    @Test func statusWithoutDaemonExitsThree() async throws {
        let (status, output) = try await AgentProcess.runCLI(
            ["status", "--config", "/dev/null", "--control-socket", "/tmp/dabba-no-such.sock"])
        #expect(status == 3)
        #expect(output.contains("cannot reach"), "\(output)")
    }

    @Test func malformedAcksAndTasksAreCountedAndIgnored() async throws {
        let h = try await AgentHarness(points: 20, ack: false)
        defer { h.shutdown() }
        try h.agent.start()
        try await h.startGPS()
        #expect(await eventually(timeout: AgentHarness.gpsDeadline) { h.received.count >= 5 }, "\(h.diagnostics())")
        let depth = try #require(try await h.status()).outboxDepth

        let publisher = try await TestSubscriber.start(port: h.broker.port, filter: "unused/#")
        let bad: [String] = [
            "not json", #"{"v":1,"agent":"a-1","seqs":"all"}"#, #"{"v":1,"agent":"a-2","seqs":[[1,5]]}"#,
            #"{"v":1,"agent":"a-1","seqs":[[5,1]]}"#, #"{"v":1,"agent":"a-1","seqs":[[1,2,3]]}"#,
            #"{"v":1,"agent":"a-1""#,
            String(repeating: "x", count: 300_000),
        ]
        for payload in bad {
            try await publisher.client.publishAndWait(
                MQTTMessage(topic: Topics.ack(agent: "a-1"), payload: Array(payload.utf8), qos: .atLeastOnce))
        }
        for payload in ["{}", #"{"v":1,"agent":"a-1","order":"o-1","type":"teleport"}"#] {
            try await publisher.client.publishAndWait(
                MQTTMessage(topic: Topics.tasks(agent: "a-1"), payload: Array(payload.utf8), qos: .atLeastOnce))
        }
        // The tasks went out after the acks: once both counts are reached, every bad message was handled.
        let handled = await eventually {
            let counters = (try? await h.status())??.counters
            return counters?.ackMalformed == Int64(bad.count) && counters?.tasksMalformed == 2
        }
        let status = try #require(try await h.status())
        #expect(handled, "\(status.counters)\n\(h.diagnostics())")
        #expect(status.counters.ackMalformed == Int64(bad.count))
        #expect(status.counters.tasksMalformed == 2)
        #expect(status.outboxDepth >= depth, "a malformed ack deleted rows")
        #expect(h.agent.process!.isRunning)

        // A valid ack still works afterwards.
        let ack = AckMessage(agent: "a-1", ranges: [1...3])
        try await publisher.client.publishAndWait(
            MQTTMessage(topic: Topics.ack(agent: "a-1"), payload: PayloadCoding.encode(ack), qos: .atLeastOnce))
        #expect(await eventually { (try? await h.status())??.counters.rowsAcked == 3 }, "\(h.diagnostics())")
        await publisher.stop()
    }

    @Test func corruptOutboxIsMovedAsideAndTheDaemonRuns() async throws {
        let h = try await AgentHarness(points: 10)
        defer { h.shutdown() }
        try Data((0..<40_000).map { UInt8(($0 * 13) % 256) }).write(to: URL(fileURLWithPath: h.agent.outbox))
        try h.agent.start()
        try await h.startGPS()
        #expect(await eventually(timeout: AgentHarness.gpsDeadline) { h.received.count >= 10 }, "\(h.diagnostics())")
        let aside = try FileManager.default.contentsOfDirectory(atPath: h.directory.url.path)
            .filter { $0.contains("outbox.db.corrupt-") }
        #expect(!aside.isEmpty)
        #expect(h.agent.output().contains("Outbox damaged"))
        #expect(try await h.integrityCheck() == "ok")
    }

    @Test func fullOutboxThinsWhileOffline() async throws {
        let h = try await AgentHarness(points: 160, agentArguments: ["--outbox-max-rows", "100"])
        defer { h.shutdown() }
        h.broker.stop()  // nothing leaves: the outbox fills
        try h.agent.start()
        try await h.startGPS(cycle: 0.02)
        let thinned = await eventually(timeout: AgentHarness.gpsDeadline, interval: .milliseconds(200)) {
            ((try? await h.status())??.lastSeq ?? 0) >= 160
        }
        #expect(thinned, "\(h.diagnostics())")
        let status = try #require(try await h.status())
        #expect(status.thinned > 0)
        #expect(status.outboxDepth <= 100)
        let stored = try await h.outboxSeqs()
        #expect(stored.contains(160), "the newest fix was thinned")
        #expect(Int64(stored.count) + status.thinned == 160)
    }

    @Test func aSecondDaemonOnTheSameOutboxIsRefused() async throws {
        let dir = try TestDirectory()
        defer { dir.remove() }
        let first = AgentProcess(directory: dir, mqttPort: FreePort.next(), gpsdPort: FreePort.next())
        try first.start()
        defer { first.stop() }
        #expect(await eventually { (try? first.status())?.0 == 1 })
        let (status, output) = try await AgentProcess.runCLI(first.arguments)
        #expect(status == 1, "\(output)")
        #expect(output.contains("already running"), "\(output)")
        // The first one still answers on its socket.
        #expect(try await first.status().0 == 1)
    }

    @Test func aTricklingClientDoesNotBlockTheControlSocket() async throws {
        let dir = try TestDirectory()
        defer { dir.remove() }
        let agent = AgentProcess(directory: dir, mqttPort: FreePort.next(), gpsdPort: FreePort.next())
        try agent.start()
        defer { agent.stop() }
        #expect(await eventually { (try? agent.status())?.0 == 1 })
        // A local client that sends one byte every 300 ms and never a newline, for 90 s: a server that waited for
        // its line (rather than giving each request line a short deadline of its own) would be held for 90 s.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in agent.controlSocket.utf8.enumerated() { raw[i] = b }
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        #expect(connected == 0)
        // On a thread of its own, so a busy cooperative pool cannot silence it; `stop` ends it early.
        let stop = DispatchSemaphore(value: 0)
        let stopped = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            for _ in 0..<300 {
                var byte: UInt8 = UInt8(ascii: "{")
                _ = send(fd, &byte, 1, Int32(MSG_NOSIGNAL))
                if stop.wait(timeout: .now() + .milliseconds(300)) == .success { break }
            }
            stopped.signal()
        }
        defer {
            stop.signal()
            stopped.wait()
            close(fd)
        }
        // The trickler connected first, so the server (one client at a time, in order) takes it first: this request
        // waits behind it. It must be answered once the trickler's line deadline (2 s) has passed, long before the
        // trickler stops; the client gives the answer 30 s, so an answer only after the 90 s fails here.
        let started = ContinuousClock.now
        let response = try ControlClient.send(
            ControlRequest(cmd: "status"), path: agent.controlSocket, timeoutSeconds: 30)
        #expect(response.ok && response.status != nil, "\(response)")
        #expect(ContinuousClock.now - started < .seconds(20))
    }
}
