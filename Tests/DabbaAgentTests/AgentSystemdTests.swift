import ArgumentParser
import DabbaAgent
import DabbaCore
import DabbaTestSupport
import Foundation
import Testing

@Suite(.serialized) struct AgentSystemdTests {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test func notifyProtocolReadyWatchdogStopping() async throws {
        let dir = try TestDirectory()
        defer { dir.remove() }
        let listener = try NotifySocketListener(path: dir.path("notify.sock"))
        // No broker and no gpsd: a device without network must still become READY. The periods a shutdown could
        // wrongly wait for (keepalive, state interval, GPS silence, ack timeout) are set to 120 s or more, so a
        // stop bounded well below that (20 s) is prompt by design, not by luck of the scheduler.
        let agent = AgentProcess(
            directory: dir, mqttPort: FreePort.next(), gpsdPort: FreePort.next(),
            extraArguments: [
                "--mqtt-keepalive", "120", "--state-interval", "120", "--gps-no-fix-timeout", "120",
                "--ack-timeout", "120",
            ],
            environment: ["NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "1000000"])
        try agent.start()
        let startup = listener.waitFor(timeout: TestDeadline.generous) { $0.contains("READY=1") }
        #expect(startup.contains { $0.contains("READY=1") }, "\(startup)\n\(agent.output())")
        let pings = listener.waitFor(timeout: TestDeadline.generous) { $0.contains("WATCHDOG=1") }
        #expect(pings.contains("WATCHDOG=1"))
        // The control socket answers once READY was sent.
        let (code, _) = try await agent.status()
        #expect(code == 1)  // running, but offline and without a fix

        let stopAt = ContinuousClock.now
        kill(agent.process!.pid, SIGTERM)
        let stopping = listener.waitFor(timeout: TestDeadline.generous) { $0.contains("STOPPING=1") }
        #expect(stopping.contains { $0.contains("STOPPING=1") })
        let status = agent.process!.waitForExit(timeout: TestDeadline.generous)
        #expect(status == 0, "\(agent.output())")
        // The stop path is a main-loop tick (at most 1 s) and a 300 ms grace for the offline state; anything
        // waiting for one of the 120 s periods above, or ignoring SIGTERM, takes far longer than 20 s.
        #expect(ContinuousClock.now - stopAt < .seconds(20), "\(agent.output())")
        let log = agent.output()
        #expect(log.contains("dabba-agent started") && log.contains("dabba-agent stopped"))
    }

    @Test func unitPassesSystemdAnalyzeVerify() async throws {
        guard let analyze = findExecutable("systemd-analyze") else {
            Issue.record("systemd-analyze is not installed")
            return
        }
        let dir = try TestDirectory()
        defer { dir.remove() }
        let unit = try String(
            contentsOf: Self.packageRoot.appendingPathComponent("systemd/dabba-agent.service"), encoding: .utf8)
        for required in [
            "Type=notify", "NotifyAccess=main", "WatchdogSec=", "Restart=on-failure", "After=network-online.target",
            "EnvironmentFile=-/etc/default/dabba-agent", "StateDirectory=", "RuntimeDirectory=", "User=dabba-agent",
            "ProtectSystem=strict", "ProtectHome=", "PrivateTmp=yes", "NoNewPrivileges=yes", "CapabilityBoundingSet=\n",
            "RestrictAddressFamilies=", "MemoryMax=",
        ] {
            #expect(unit.contains(required), "unit lacks \(required)")
        }
        // ExecStart must name an existing executable at verify time: point it at the built binary.
        let binary = try BuiltProducts.path(of: "dabba-agent")
        let copy = dir.path("dabba-agent.service")
        try unit.replacingOccurrences(of: "/usr/local/bin/dabba-agent", with: binary)
            .write(toFile: copy, atomically: true, encoding: .utf8)
        let (status, output) = try await runToCompletion(analyze, ["verify", copy])
        let problems = output.split(separator: "\n").filter {
            // The service user only exists on an installed device.
            !$0.contains("dabba-agent") || !$0.lowercased().contains("user")
        }
        #expect(status == 0 && problems.isEmpty, "systemd-analyze verify: \(output)")
    }

    @Test func shippedDefaultFileListsEveryKeyWithItsDefault() throws {
        let shipped = try String(
            contentsOf: Self.packageRoot.appendingPathComponent("systemd/dabba-agent.default"), encoding: .utf8)
        #expect(
            shipped == AgentConfiguration.defaultFile,
            "regenerate with: dabba-agent defaults > systemd/dabba-agent.default")
        for key in AgentConfiguration.keys {
            #expect(shipped.contains("#\(key.environmentName)=\(key.defaultValue)\n"))
        }
    }

    @Test func everyKeyHasAFlag() throws {
        for key in AgentConfiguration.keys {
            let options = try AgentOptions.parse(["--\(key.name)", "x"])
            #expect(try options.flagValues == [key.name: "x"], "no flag for \(key.name)")
        }
    }

    @Test func defaultsResolveToAValidConfiguration() throws {
        let c = try AgentOptions.parse([]).resolve(environment: ["DABBA_CONFIG": "/dev/null", "DABBA_AGENT_ID": "a-9"])
        #expect(c.agentID == "a-9")
        #expect(c.mqttPort == 1883 && c.gpsdPort == 2947)
        #expect(c.outboxMaxRows >= 7 * 86400)
        #expect(c.outboxPath == "/var/lib/dabba-agent/outbox.db")
    }
}
