import DabbaTestSupport
import Foundation
import Testing

/// Runs each test of the suite it is attached to (and of its nested suites) on a dedicated thread (`offPool(async:)`)
/// instead of Swift's cooperative pool. The dispatch algorithm tests are long, CPU-bound and synchronous (up to a
/// minute each on a loaded machine); on the pool they would hold one of its two threads for that long, and every
/// other suite's waits — servers starting, processes listening — would then miss their deadlines.
struct OffPoolTrait: SuiteTrait, TestTrait, TestScoping {
    var isRecursive: Bool { true }

    func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        // A suite's own scope just passes through: each test case gets its thread.
        guard testCase != nil else { return try await function() }
        try await DabbaTestSupport.offPool(async: function)
    }
}

extension Trait where Self == OffPoolTrait {
    /// Each test runs on a thread of its own, off the cooperative pool (``OffPoolTrait``).
    static var offPool: Self { OffPoolTrait() }
}

extension DispatchAlgorithmTests {
    @Suite struct OffPoolTraitTests {
        /// The trait's promise, checked where it matters: a test of this suite (nested two levels down the
        /// `.offPool` suite) runs on the dedicated thread, not on one of the cooperative pool's.
        @Test func aTestOfTheSuiteRunsOnItsOwnThread() {
            #expect(Thread.current.name == "test-async")
        }
    }
}
