import DabbaTestSupport
import HubModel
import Logging
import Testing

@testable import DabbaHub

/// What a dispatch round logs at the shipped level (info): one line for a round that offered (or was refused)
/// something, with its counts; each offer only at debug (a busy round offers thousands of orders, and a line each
/// cost the round benchmark 15 ms).
@Suite struct DispatchRoundLogTests {
    @Test func aRoundLogsOneInfoLineWithItsCountsAndEachOfferAtDebug() async throws {
        let captured = CapturingLogHandler.Store()
        var logger = Logger(label: "dispatch-round-log") { _ in CapturingLogHandler(store: captured) }
        logger.logLevel = .debug
        // The batch policy, capacity 1; two agents on shift and online (a-1, a-3).
        let run = try await DispatchPropertyTests.Run(DispatchPropertyTests.Op(roll: 0, a: 0, b: 0), logger: logger)
        defer { run.store.close() }
        for _ in 0..<3 { try await run.apply(DispatchPropertyTests.Op(roll: 0, a: 0, b: 0), expectations: false) }
        await run.dispatcher.round()

        let pending = try await run.store.pendingOffers()
        #expect(pending.count == 2)  // three orders, two agents of capacity 1
        let entries = captured.entries.withLock { $0 }
        let offered = entries.filter { $0.message == "Order offered" }
        #expect(offered.count == 2 && offered.allSatisfy { $0.level == .debug })
        let rounds = entries.filter { $0.message == "Dispatch round" }
        #expect(rounds.count == 1)
        let round = try #require(rounds.first)
        #expect(round.level == .info)
        #expect(round.metadata["dispatch.policy"] == "batch")
        #expect(round.metadata["dispatch.orders"] == "3")
        #expect(round.metadata["dispatch.agents"] == "2")
        #expect(round.metadata["dispatch.offered"] == "2")
        #expect(round.metadata["dispatch.refused"] == "0")
        #expect(round.metadata["dispatch.queued"] == "1")
        #expect(entries.filter { $0.level >= .info }.allSatisfy { $0.message != "Order offered" })

        // A round that finds only the order no agent can take logs its line at debug: a queue that cannot move does
        // not log every round.
        await run.dispatcher.round()
        let later = captured.entries.withLock { $0 }.filter { $0.message == "Dispatch round" }
        #expect(later.count == 2 && later[1].level == .debug && later[1].metadata["dispatch.queued"] == "1")
    }
}
