import DabbaCore

/// Runs blocking work (a big fixture, thousands of fsyncs, a long salvage) on a thread of its own and waits for it
/// without holding one of Swift's cooperative threads. There are only as many of those as cores (two on the CI
/// machine), and the whole suite runs on them in parallel: a test that blocks them for long starves every other
/// test's waits, which then miss their deadlines. An expectation that fails inside `body` fails the run (Swift
/// Testing 6.3.1 reports it under «unknown» test, with its file and line).
public func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        NativeThread.detach(name: "test-blocking") { continuation.resume(with: Result { try body() }) }
    }
}
