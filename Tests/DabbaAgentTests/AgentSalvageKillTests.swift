import DabbaAgent
import DabbaTestSupport
import Foundation
import Testing

/// kill -9 of the real `dabba-agent run` while it salvages a damaged outbox before READY, twice, then a restart:
/// the outbox ends with every row an uninterrupted salvage keeps, the tasks, and `last_seq` not below the old one.
@Suite(.serialized) struct AgentSalvageKillTests {
    /// Size of the temp file (bytes), 0 while there is none. Rows reach it 50,000 per commit (about 10 MB here).
    static func tempBytes(in directory: String) -> Int {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        guard let temp = files.first(where: { $0.contains(".salvage-") && !$0.hasSuffix("-journal") }) else {
            return 0
        }
        let attributes = try? FileManager.default.attributesOfItem(atPath: directory + "/" + temp)
        return (attributes?[.size] as? NSNumber)?.intValue ?? 0
    }

    @Test func sigkillMidSalvageTwiceThenRestartLosesNothingReadable() async throws {
        let dir = try TestDirectory("agent-salvage")
        defer { dir.remove() }
        let agent = AgentProcess(directory: dir, mqttPort: FreePort.next(), gpsdPort: FreePort.next())
        let name = URL(fileURLWithPath: agent.outbox).lastPathComponent
        let damaged = try await offPool { try DamagedOutbox.make(in: dir, name: name, rows: 150_000, at: 0.4) }
        let reference = try await offPool { try OutboxFile.referenceSalvage(of: damaged) }
        let directory = dir.url.path

        // Kill 1 after the first 50,000-row commit; kill 2 (in the resumed salvage) after the second.
        for (round, bytes) in [(1, 12_000_000), (2, 23_000_000)] {
            try agent.start()
            let process = try #require(agent.process)
            let held = await process.kill9(
                when: { Self.tempBytes(in: directory) >= bytes }, timeout: .seconds(180))
            #expect(held, "round \(round): the temp file never reached \(bytes) bytes\n\(agent.output().suffix(3000))")
            // The kill landed mid-salvage: nothing is at the outbox path yet.
            #expect(!FileManager.default.fileExists(atPath: agent.outbox), "round \(round): salvage already finished")
            #expect(try OutboxFile.named(".salvage-", in: dir).contains { !$0.hasSuffix("-journal") })
        }

        try agent.start()
        // READY (and this line) come after the outbox is open; no earlier start got that far.
        let started = await eventually(timeout: .seconds(180), interval: .milliseconds(200)) {
            agent.output().contains("dabba-agent started")
        }
        #expect(started, "the agent never came up after the salvage\n\(agent.output().suffix(3000))")
        #expect(try await agent.status().0 != 3, "the control socket does not answer")
        agent.stop()
        #expect(agent.output().contains("Resuming an interrupted outbox salvage"))

        let rows = try await offPool { try OutboxFile.rows(agent.outbox) }
        #expect(rows.count == reference.count && rows == reference, "\(rows.count) rows, reference \(reference.count)")
        #expect(reference.count > 140_000)
        #expect(try OutboxFile.tasks(agent.outbox).count == damaged.contents.tasks)
        #expect(try OutboxFile.meta(agent.outbox, "last_seq") ?? 0 >= damaged.contents.lastSeq)
        #expect(try OutboxFile.meta(agent.outbox, "thinned") == damaged.contents.thinned)
        #expect(try OutboxFile.named(".salvage-", in: dir).isEmpty)
    }

    /// Before READY, a salvage keeps systemd's start timeout and watchdog extended, and says so in STATUS=.
    @Test func salvageBeforeReadyExtendsTheStartTimeout() async throws {
        let dir = try TestDirectory("agent-salvage")
        defer { dir.remove() }
        let listener = try NotifySocketListener(path: dir.path("notify.sock"))
        let agent = AgentProcess(
            directory: dir, mqttPort: FreePort.next(), gpsdPort: FreePort.next(),
            environment: ["NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "30000000"])
        let name = URL(fileURLWithPath: agent.outbox).lastPathComponent
        _ = try await offPool { try DamagedOutbox.make(in: dir, name: name, rows: 30_000) }
        try agent.start()
        defer { agent.stop() }
        let messages = listener.waitFor(timeout: .seconds(120)) { $0.hasPrefix("READY=1") }
        let ready = try #require(messages.firstIndex { $0.hasPrefix("READY=1") }, "\(messages)")
        let extensions = messages[..<ready].filter {
            $0.contains("EXTEND_TIMEOUT_USEC=30000000") && $0.contains("WATCHDOG=1")
        }
        #expect(extensions.count >= 2, "\(messages)")
        #expect(extensions.last?.contains("STATUS=outbox salvaged: ") == true, "\(messages)")
    }
}
