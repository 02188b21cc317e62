@testable import DabbaAgent
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
            guard h.gpsfake?.isRunning == false else { return false }
            return (try? await h.status())??.outboxDepth == 0
        }
        #expect(drained, "\(h.diagnostics())")
        h.agent.stop()

        let seen = h.received.union(try await h.outboxSeqs())
        #expect(seen.count > 50, "too few fixes recorded: \(seen.count)")
        // Every seq the outbox ever assigned was received or is still stored. After each kill the next start goes
        // on above the seq sidecar's reservation (the first seq of a run plus SeqGuard.block), so run k issues a
        // contiguous stretch starting at 1 + k × (block + 1) (a run killed before its first commit issues none).
        let stride = SeqGuard.block + 1
        let runs = Dictionary(grouping: seen) { ($0 - 1) / stride }
        #expect(runs.count > 1, "no restart moved the seqs on: \(runs.keys.sorted())")
        for (run, seqs) in runs {
            let first = 1 + run * stride
            let missing = Set(first...seqs.max()!).subtracting(seqs)
            #expect(missing.isEmpty, "run \(run): lost seqs \(missing.sorted().prefix(20))")
        }
        // No seq was ever used for two different fixes.
        #expect(h.acker.conflicts.load(ordering: .relaxed) == 0)
        #expect(try await h.integrityCheck() == "ok")
    }
}
