import DabbaCore
import Foundation

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

/// Runs async `body` with its own code — and that of the child tasks it starts (task groups, `async let`) — on a
/// dedicated thread (a task executor preference), not on the cooperative pool: for long async loops such as
/// property tests, which would otherwise hold one of the two shared threads for their whole run. Actors keep their
/// own executors (the SQLite store still runs on its thread).
public func offPool<T: Sendable>(async body: () async throws -> T) async throws -> T {
    let executor = DedicatedTaskExecutor(name: "test-async")
    defer { executor.shutdown() }
    return try await withTaskExecutorPreference(executor) { try await body() }
}

/// A task executor backed by one OS thread (jobs run in order).
final class DedicatedTaskExecutor: TaskExecutor, @unchecked Sendable {
    /// Guarded by `lock`.
    private var queue: [UnownedJob] = []
    private var stopped = false
    /// Guarded by `lock`: whether a thread serves the queue (a job enqueued after the shutdown starts one again).
    private var running = true
    private let lock = NSCondition()
    private let name: String

    init(name: String) {
        self.name = name
        NativeThread.detach(name: name) { [self] in self.runLoop() }
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        lock.lock()
        queue.append(job)
        let restart = !running
        running = true
        lock.signal()
        lock.unlock()
        if restart { NativeThread.detach(name: name) { [self] in self.runLoop() } }
    }

    /// Ends the thread once the queue is empty.
    func shutdown() {
        lock.lock()
        stopped = true
        lock.signal()
        lock.unlock()
    }

    private func runLoop() {
        Thread.current.name = name  // diagnostics, and how a test can tell it runs here
        while true {
            lock.lock()
            while queue.isEmpty && !stopped { lock.wait() }
            if queue.isEmpty {
                running = false
                lock.unlock()
                return
            }
            let jobs = queue
            queue.removeAll()
            lock.unlock()
            for job in jobs { job.runSynchronously(on: asUnownedTaskExecutor()) }
        }
    }
}
