import Synchronization

/// Runs `operation` in a task of its own and waits for it at most `limit`: its answer when it came in time, nil when
/// the limit passed first. An operation still running then is not awaited any longer (it is left to finish on its
/// own, its answer dropped): for calls that may hang past any cancellation — a payment provider that does not
/// answer, a database pool holding a query through an outage, a test checking that something does not hang.
package func firstAnswer<T: Sendable>(within limit: Duration, _ operation: @escaping @Sendable () async -> T) async
    -> T?
{
    await withCheckedContinuation { (continuation: CheckedContinuation<T?, Never>) in
        let waiting = Mutex<CheckedContinuation<T?, Never>?>(continuation)
        let answer = { @Sendable (value: T?) in waiting.withLock { $0.take() }?.resume(returning: value) }
        let timer = Task {
            try? await Task.sleep(for: limit)
            answer(nil)  // a no-op when the operation answered first
        }
        Task {
            answer(await operation())
            timer.cancel()  // answered in time: the timer need not sleep out the limit
        }
    }
}
