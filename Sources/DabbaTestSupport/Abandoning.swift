import DabbaCore

/// Runs `operation` in a task of its own and waits for it at most `limit`: its result (or its error) when it
/// finished in time, nil when it did not — then it is left running, abandoned. For checking that something does not
/// hang, where waiting for it would hang the test (a cancellation the operation ignores cannot stop it).
public func abandoningAfter<T: Sendable>(
    _ limit: Duration = TestDeadline.generous, _ operation: @escaping @Sendable () async throws -> T
) async throws -> T? {
    let result = await firstAnswer(within: limit) { () -> Result<T, any Error> in
        do { return .success(try await operation()) } catch { return .failure(error) }
    }
    return try result?.get()
}
