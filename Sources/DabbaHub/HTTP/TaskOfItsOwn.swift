/// Runs `work` in a task of its own and returns its result, or throws its error; cancelling the caller cancels it.
///
/// A task keeps the memory of its async frames (slabs sized by the deepest call chain it has run) until it ends.
/// A WebSocket feed's connection task lives as long as the feed, so the reads behind its upgrade (the token's
/// revocation check, the order's visibility) and its set-up run in a short task of their own: their frames are
/// freed when it ends instead of staying with every open feed (10,000 feeds: BENCHMARKS.md, customers' feeds). One
/// task more per feed opened, none per frame.
func inTaskOfItsOwn<T: Sendable, E: Error>(_ work: @escaping @Sendable () async throws(E) -> T) async throws(E) -> T {
    let task = Task { () async -> Result<T, E> in
        do throws(E) { return .success(try await work()) } catch { return .failure(error) }
    }
    let result = await withTaskCancellationHandler {
        await task.value
    } onCancel: {
        task.cancel()
    }
    return try result.get()
}
