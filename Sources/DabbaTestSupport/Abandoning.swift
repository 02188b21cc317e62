import Synchronization

/// Runs `operation` in a task of its own and waits for it at most `limit`: its result (or its error) when it
/// finished in time, nil when it did not — then it is left running, abandoned. For checking that something does not
/// hang, where waiting for it would hang the test (a cancellation the operation ignores cannot stop it).
public func abandoningAfter<T: Sendable>(
    _ limit: Duration = TestDeadline.generous, _ operation: @escaping @Sendable () async throws -> T
) async throws -> T? {
    let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, any Error>?, Never>) in
        let waiting = Mutex<CheckedContinuation<Result<T, any Error>?, Never>?>(continuation)
        let finish = { @Sendable (result: Result<T, any Error>?) in
            waiting.withLock { $0.take() }?.resume(returning: result)
        }
        let timer = Task {
            try? await Task.sleep(for: limit)
            finish(nil)
        }
        Task {
            do { finish(.success(try await operation())) } catch { finish(.failure(error)) }
            timer.cancel()
        }
    }
    return try result?.get()
}
