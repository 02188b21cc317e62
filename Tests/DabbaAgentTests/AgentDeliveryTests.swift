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
        let all = await eventually(timeout: .seconds(40), interval: .milliseconds(200)) { h.received.count >= n }
        #expect(all, "received \(h.received.count) of \(n)\n\(h.diagnostics())")
        try await Task.sleep(for: .seconds(1))  // nothing extra may follow
        #expect(h.received == Set(1...Int64(n)))
        #expect(h.acker.conflicts.load(ordering: .relaxed) == 0)

        // Strictly increasing per lane, every seq exactly once.
        let arrivals = h.acker.arrivals.withLock { $0 }
        for lane in ["fix", "backlog"] {
            let seqs = arrivals.filter { $0.topic.hasSuffix("/\(lane)") }.flatMap(\.seqs)
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
        // The acks emptied the outbox.
        #expect(await h.waitForEmptyOutbox(), "\(h.diagnostics())")
    }

    @Test func brokerOutageMidRouteLosesNothingAndSendsLiveFirst() async throws {
        let n = 60
        let h = try await AgentHarness(points: n, agentArguments: ["--state-interval", "60"])
        defer { h.shutdown() }
        try h.agent.start()
        try await h.startGPS()
        #expect(await eventually(timeout: .seconds(20)) { h.received.count >= 10 }, "\(h.diagnostics())")

        h.broker.stop()
        // ~15 fixes are recorded while the broker is down.
        try await Task.sleep(for: .seconds(3))
        let recordedOffline = try #require(try h.status()).lastSeq
        #expect(recordedOffline > Int64(h.received.count))
        // Hold the agent still while the broker comes back, so the acker is subscribed before the agent
        // reconnects and the very first message after the reconnect is observed.
        kill(h.agent.process!.pid, SIGSTOP)
        try await h.broker.restart()
        #expect(await eventually(timeout: .seconds(15)) { h.acker.isSubscribed })
        let before = h.acker.arrivals.withLock { $0.count }
        kill(h.agent.process!.pid, SIGCONT)

        let all = await eventually(timeout: .seconds(60), interval: .milliseconds(200)) { h.received.count >= n }
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
        #expect(await eventually(timeout: .seconds(20)) { h.received.count >= 15 }, "\(h.diagnostics())")
        h.gpsfake?.kill9()
        try await Task.sleep(for: .seconds(1))
        #expect(try h.status()?.gps == "gpsd_down")
        try await h.startGPS(h.route[20..<n])
        let all = await eventually(timeout: .seconds(40), interval: .milliseconds(200)) {
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
        #expect(h.received == Set(1...(try #require(try h.status()).lastSeq)))
        #expect((try h.status()?.counters.gpsReconnects ?? 0) >= 1)
    }
}
