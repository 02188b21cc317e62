import DabbaAgent
import DabbaProtocol
import DabbaTestSupport
import Foundation
import Testing

/// kill -9 at random moments, with broker restarts: nothing acknowledged is lost, no seq is reused.
@Suite(.serialized) struct AgentCrashTests {
    @Test func sigkillTwentyTimesWhileGpsPlaysAndBrokerRestarts() async throws {
        let n = 400
        let h = try await AgentHarness(points: n, agentArguments: ["--ack-timeout", "2"])
        defer { h.shutdown() }
        try h.agent.start()
        try await h.startGPS(cycle: 0.05)  // 10 fixes per second
        var generator = SystemRandomNumberGenerator()
        for round in 1...20 {
            try await Task.sleep(for: .milliseconds(Int.random(in: 150...900, using: &generator)))
            h.agent.kill9()
            if round % 5 == 0 {
                h.broker.kill9()
                try await Task.sleep(for: .milliseconds(200))
                try await h.broker.start()
            }
            try h.agent.start()
        }
        // Let the route finish and the outbox drain.
        let drained = await eventually(timeout: .seconds(90), interval: .milliseconds(500)) {
            h.gpsfake?.isRunning == false && (try? h.status())??.outboxDepth == 0
        }
        #expect(drained, "\(h.diagnostics())")
        h.agent.stop()

        let received = h.received
        let stored = try h.outboxSeqs()
        let highest = max(received.max() ?? 0, stored.max() ?? 0)
        #expect(highest > 50, "too few fixes recorded: \(highest)")
        // Every seq the outbox ever assigned (seqs are contiguous) was received or is still stored.
        let missing = Set(1...highest).subtracting(received).subtracting(stored)
        #expect(missing.isEmpty, "lost seqs: \(missing.sorted().prefix(20))")
        // No seq was ever used for two different fixes.
        #expect(h.acker.conflicts.load(ordering: .relaxed) == 0)
        #expect(try h.integrityCheck() == "ok")
    }
}
