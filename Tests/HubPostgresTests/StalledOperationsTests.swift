import DabbaTestSupport
@testable import HubPostgres
import Logging
import Testing

/// The store's stall report, on an injected clock: an operation in flight past the threshold is reported once,
/// naming where it is (waiting for a connection, or holding one), and its end is reported when it was.
@Suite struct StalledOperationsTests {
    @Test func anOperationPastTheThresholdIsReportedOnceWithItsStageAndItsEnd() {
        let logs = CapturingLogHandler.Store()
        let stalls = StalledOperations(logger: Logger(label: "store") { _ in CapturingLogHandler(store: logs) })
        let start = ContinuousClock.now
        let waiting = stalls.begin("recordSeen(_:)")
        let holding = stalls.begin("store(positions:events:)")
        let quick = stalls.begin("agents()")
        stalls.leased(holding, connection: 7)
        stalls.leased(quick, connection: 8)
        stalls.end(quick)  // ended before the threshold: never reported

        stalls.report(now: start + StalledOperations.threshold - .seconds(1))
        #expect(logs.count("Database operation stalled") == 0)

        stalls.report(now: start + StalledOperations.threshold + .seconds(1))
        stalls.report(now: start + StalledOperations.threshold + .seconds(10))  // already reported: not again
        let stalled = logs.entries.withLock { $0.filter { $0.message == "Database operation stalled" } }
        #expect(stalled.count == 2)
        #expect(stalled.allSatisfy { $0.level == .warning })
        let stages = Dictionary(
            uniqueKeysWithValues: stalled.map { ("\($0.metadata["db.operation"]!)", "\($0.metadata["db.stage"]!)") })
        #expect(
            stages == [
                "recordSeen(_:)": "waiting for a connection", "store(positions:events:)": "holding connection 7",
            ])

        stalls.end(holding)
        stalls.end(waiting)
        #expect(logs.count("Slow database operation finished") == 2)
        stalls.report(now: start + StalledOperations.threshold * 3)
        #expect(logs.count("Database operation stalled") == 2)
    }
}
