import DabbaAgent
import DabbaProtocol
import DabbaSim
import DabbaTestSupport
import Foundation
import Testing

/// The agent against real gpsd (gpsfake) and real mosquitto.
@Suite(.serialized) struct AgentDeliveryTests {
    @Test func routeArrivesAsExactlyNDistinctSeqsMatchingTheRoute() async throws {
        let n = 30
        let h = try await AgentHarness(points: n)
        defer { h.shutdown() }
        try h.agent.start()
        try await h.startGPS()
        let all = await eventually(timeout: AgentHarness.gpsDeadline, interval: .milliseconds(200)) {
            h.received.count >= n
        }
        #expect(all, "received \(h.received.count) of \(n)\n\(h.diagnostics())")
        // Nothing extra may follow. The route is over once gpsfake has exited and the agent has seen gpsd go (its
        // reader handles gpsd's output in order), and the acks emptied the outbox, so nothing is left to resend;
        // then the agent stops and everything it ever sent is flushed through to the acker before the checks.
        #expect(await eventually { h.gpsfake?.isRunning == false }, "gpsfake did not finish the route")
        #expect(await eventually { (try? await h.status())??.gps == "gpsd_down" }, "\(h.diagnostics())")
        #expect(try await h.status()?.lastSeq == Int64(n), "\(h.diagnostics())")
        #expect(await h.waitForEmptyOutbox(), "\(h.diagnostics())")
        try await h.stopAgentAndFlush()
        #expect(h.received == Set(1...Int64(n)))
        #expect(h.acker.conflicts.load(ordering: .relaxed) == 0)

        // Strictly increasing per lane, every seq exactly once.
        let arrivals = h.acker.arrivals.withLock { $0 }
        for lane in [Topics.fix(agent: "a-1"), Topics.backlog(agent: "a-1")] {
            let seqs = arrivals.filter { $0.topic == lane }.flatMap(\.seqs)
            #expect(seqs == seqs.sorted() && Set(seqs).count == seqs.count, "\(lane): \(seqs)")
        }
        #expect(h.acker.received.withLock { $0["a-1"]?.values.allSatisfy { $0 == 1 } ?? false })

        // Coordinates and times match the route.
        let fixes = h.acker.fixes.withLock { $0["a-1"] ?? [:] }
        for (i, point) in h.route.enumerated() {
            let fix = try #require(fixes[Int64(i + 1)])
            #expect(Timestamp.parse(fix.time) == point.timeMilliseconds)
            #expect(abs(fix.lat - point.latitude) < 1e-6 && abs(fix.lon - point.longitude) < 1e-6)
            #expect(fix.agent == "a-1")
        }
        // The acks emptied the outbox file (checked on disk, now that the agent has stopped).
        #expect(try await h.outboxSeqs().isEmpty)
    }

    @Test func brokerOutageMidRouteLosesNothingAndSendsLiveFirst() async throws {
        let n = 60
        let firstPart = 20
        let h = try await AgentHarness(points: n, agentArguments: ["--state-interval", "60"])
        defer { h.shutdown() }
        try h.agent.start()
        // The route in two replays, so that the outage is mid-route whatever the timing: the first part is
        // delivered while the broker is up, the rest is recorded while it is down.
        try await h.startGPS(h.route[0..<firstPart])
        let online = await eventually(timeout: AgentHarness.gpsDeadline) { h.received.count >= firstPart }
        #expect(online, "received \(h.received.count) of \(firstPart)\n\(h.diagnostics())")
        h.gpsfake?.kill9()
        h.broker.stop()
        try await h.startGPS(h.route[firstPart..<n])
        // The rest of the route is recorded while the broker is down.
        let recorded = await eventually(timeout: AgentHarness.gpsDeadline, interval: .milliseconds(200)) {
            ((try? await h.status())??.lastSeq ?? 0) >= Int64(n)
        }
        #expect(recorded, "\(h.diagnostics())")
        let recordedOffline = try #require(try await h.status()).lastSeq
        #expect(recordedOffline > Int64(h.received.count))
        // Hold the agent still while the broker comes back, so the acker is subscribed before the agent
        // reconnects and the very first message after the reconnect is observed.
        kill(h.agent.process!.pid, SIGSTOP)
        try await h.broker.restart()
        #expect(await eventually { h.acker.isSubscribed })
        let before = h.acker.arrivals.withLock { $0.count }
        kill(h.agent.process!.pid, SIGCONT)

        // The agent may be in a reconnect backoff of up to 30 s (MQTTConfiguration.maxBackoff) when it resumes.
        let all = await eventually(timeout: TestDeadline.generous + .seconds(30), interval: .milliseconds(200)) {
            h.received.count >= n
        }
        #expect(all, "received \(h.received.count) of \(n)\n\(h.diagnostics())")
        #expect(h.received == Set(1...Int64(n)))
        #expect(h.acker.conflicts.load(ordering: .relaxed) == 0)

        let after = Array(h.acker.arrivals.withLock { $0 }[before...])
        let first = try #require(after.first)
        #expect(first.topic.hasSuffix("/fix"), "first after reconnect: \(first)")
        // The live fix is the newest one recorded at that moment: newer than everything in the backlog that follows.
        let backlog = after.filter { $0.topic.hasSuffix("/backlog") }.flatMap(\.seqs)
        #expect(!backlog.isEmpty)
        #expect(first.seqs[0] >= recordedOffline)
        #expect(backlog.first! < first.seqs[0])
        #expect(backlog == backlog.sorted(), "backlog not oldest first: \(backlog)")
        #expect(await h.waitForEmptyOutbox(), "\(h.diagnostics())")
    }

    @Test func gpsdRestartMidRouteIsSurvivedWithoutRestartingTheAgent() async throws {
        let n = 40
        let h = try await AgentHarness(points: n)
        defer { h.shutdown() }
        try h.agent.start()
        let pid = h.agent.process!.pid
        try await h.startGPS(h.route[0..<20])
        let firstPart = await eventually(timeout: AgentHarness.gpsDeadline) { h.received.count >= 15 }
        #expect(firstPart, "\(h.diagnostics())")
        h.gpsfake?.kill9()
        // The agent notices that gpsd is gone (the reader sees the connection close).
        #expect(await eventually { (try? await h.status())??.gps == "gpsd_down" }, "\(h.diagnostics())")
        try await h.startGPS(h.route[20..<n])
        let all = await eventually(timeout: AgentHarness.gpsDeadline, interval: .milliseconds(200)) {
            (h.acker.fixes.withLock { $0["a-1"]?.values.map(\.time) } ?? []).contains(
                Timestamp.format(milliseconds: h.route[n - 1].timeMilliseconds))
        }
        #expect(all, "\(h.diagnostics())")
        #expect(h.agent.process!.isRunning && h.agent.process!.pid == pid)
        // Everything the agent recorded arrived once, and the second half of the route is there.
        let times = Set(h.acker.fixes.withLock { $0["a-1"]?.values.map(\.time) ?? [] })
        for point in h.route[20..<n] {
            #expect(times.contains(Timestamp.format(milliseconds: point.timeMilliseconds)))
        }
        #expect(h.received == Set(1...(try #require(try await h.status()).lastSeq)))
        #expect((try await h.status()?.counters.gpsReconnects ?? 0) >= 1)
    }
}
