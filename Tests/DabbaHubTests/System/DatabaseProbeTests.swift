import DabbaTestSupport
import Synchronization
import Testing

@testable import DabbaHub

/// `/health`'s database probe: it answers within its limit whatever the database does, and never has more than one
/// query waiting.
struct DatabaseProbeTests {
    /// A query the test answers: it waits until released, counting how often it was asked.
    final class HeldQuery: Sendable {
        let asked = Mutex(0)
        let waiting = Mutex<[CheckedContinuation<Bool, Never>]>([])

        func run() async -> Bool {
            asked.withLock { $0 += 1 }
            return await withCheckedContinuation { continuation in waiting.withLock { $0.append(continuation) } }
        }

        func release(_ answer: Bool) {
            for continuation in waiting.withLock({ $0 }) { continuation.resume(returning: answer) }
        }
        var held: Int { waiting.withLock { $0.count } }
    }

    @Test func aDatabaseThatAnswersIsOK() async {
        let probe = DatabaseProbe { true }
        #expect(await probe.answers())
        let failing = DatabaseProbe { false }
        #expect(await failing.answers() == false)
    }

    @Test func aQueryThatHangsIsNotOKOnceTheLimitPassesAndIsNotAskedAgainMeanwhile() async {
        let query = HeldQuery()
        let probe = DatabaseProbe(limit: .milliseconds(50)) { await query.run() }
        // The database does not answer (PostgreSQL down: the pool holds the query): not ok, after the limit.
        #expect(await probe.answers() == false)
        #expect(await probe.answers() == false)
        #expect(query.asked.withLock { $0 } == 1, "a second probe started a second query while the first waits")
        // The database is back: the held query answers, and the next probe is ok.
        #expect(await eventually { query.held == 1 })
        query.release(true)
        #expect(await eventually { await probe.answers() })
    }
}
